"""ComfyUI's `comfy.lora`: LoRA key maps of loaded models and parsing a LoRA state dict into patches
(`model.add_patches(load_lora(sd, key_map), strength)`), over `comfy_core.patching`."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch

from comfy_core.patching import parse as _parse
from comfy_core.patching.keymaps import clip_key_map
from comfy_core.patching.models import model_key_map

__all__ = ["load_lora", "model_lora_keys_clip", "model_lora_keys_unet"]


def load_lora(
    lora: Mapping[str, torch.Tensor], to_load: Mapping[str, str], log_missing: bool = True
) -> dict[str, Any]:
    """{model key: weight adapter} for the file's modules that `to_load` (a key map) knows."""
    patches, _unmatched = _parse.load_lora(lora, to_load, log_unmatched=log_missing)
    return patches


def model_lora_keys_unet(model: Any, key_map: dict[str, str] | None = None) -> dict[str, str]:
    """LoRA module name -> weight key for a diffusion model (ComfyUI passes `model.model`; a MODEL works too)."""
    key_map = {} if key_map is None else key_map
    patcher = model if hasattr(model, "patched") else SimpleNamespace(model=model)
    key_map.update(model_key_map(patcher))
    return key_map


def model_lora_keys_clip(model: Any, key_map: dict[str, str] | None = None) -> dict[str, str]:
    """LoRA module name -> weight key for text encoders (`clip.cond_stage_model`, or the CLIP object)."""
    key_map = {} if key_map is None else key_map
    stack = getattr(model, "cond_stage_model", model)
    kind = getattr(model, "kind", None) or getattr(stack, "kind", None)
    key_map.update(clip_key_map(stack.state_dict().keys(), kind.name))
    return key_map
