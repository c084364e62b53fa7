"""Applying a LoRA file to loaded models (ComfyUI's `comfy.sd.load_lora_for_models`).

The key map of each model comes from what it is: the UNet's params (for the diffusers name map) and
the CLIP object's text kind. Patches go onto clones; the inputs are never changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from comfy_core.patching.keymaps import clip_key_map, unet_key_map
from comfy_core.patching.parse import load_lora

log = logging.getLogger(__name__)


def model_key_map(model: Any) -> dict[str, str]:
    """Key map of a MODEL (ModelPatcher over a DiffusionWrapper with a UNet `diffusion_model`)."""
    module = model.model
    unet = getattr(module, "diffusion_model", None)
    params = getattr(unet, "params", None)
    keys = module.state_dict().keys()
    if params is None:  # not a UNet: only the generic and `lora_unet_` forms of its own keys
        from comfy_core.patching.keymaps import UNET_KOHYA_PREFIXES, UNET_PREFIX

        out = {}
        for k in keys:
            if k.startswith(UNET_PREFIX) and k.endswith(".weight"):
                path = k[len(UNET_PREFIX) : -len(".weight")]
                out.update({p + path.replace(".", "_"): k for p in UNET_KOHYA_PREFIXES})
                out[k[: -len(".weight")]] = k
        return out
    return unet_key_map(keys, params)


def clip_key_map_of(clip: Any) -> dict[str, str]:
    return clip_key_map(clip.get_sd().keys(), clip.kind.name)


def load_lora_for_models(
    model: Any,
    clip: Any,
    lora_sd: Mapping[str, torch.Tensor],
    strength_model: float,
    strength_clip: float,
) -> tuple[Any, Any, list[str]]:
    """(patched MODEL clone or the input, patched CLIP clone or the input, unmatched file keys).

    A side whose strength is 0 (or that is None) is returned unchanged. Tensors that match no module
    of either model are returned and logged by name."""
    use_model = model is not None and strength_model != 0
    use_clip = clip is not None and strength_clip != 0
    key_map: dict[str, str] = {}
    if model is not None:
        key_map.update(model_key_map(model))
    if clip is not None:
        key_map.update(clip_key_map_of(clip))
    patches, unmatched = load_lora(lora_sd, key_map)
    taken: set[str] = set()
    if use_model:
        model = model.clone()
        taken |= set(model.add_patches(patches, strength_model))
    elif model is not None:
        taken |= set(model.model.state_dict().keys()) & set(patches)
    if use_clip:
        clip = clip.clone()
        taken |= set(clip.add_patches(patches, strength_clip))
    elif clip is not None:
        taken |= set(clip.get_sd().keys()) & set(patches)
    for key in sorted(set(patches) - taken):
        log.warning("NOT LOADED %s", key)
        unmatched.append(key)
    return model, clip, unmatched
