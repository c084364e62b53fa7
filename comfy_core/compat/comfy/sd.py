"""ComfyUI's `comfy.sd`: checkpoint / UNet / text-encoder / VAE loading, LoRA application and saving,
with ComfyUI's function names, keyword names and return shapes, over `comfy_core.families.loader`."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from comfy_core.families.loader import build_vae_object, checkpoint_state_dict
from comfy_core.families.loader import load_checkpoint as _load_checkpoint
from comfy_core.families.loader import load_diffusion_model as _load_diffusion_model
from comfy_core.families.vae_object import VAE as _VAE
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.text.clip import CLIP

__all__ = [
    "CLIP",
    "CLIPType",
    "ModelPatcher",
    "VAE",
    "load_checkpoint",
    "load_checkpoint_guess_config",
    "load_clip",
    "load_diffusion_model",
    "load_lora_for_models",
    "load_unet",
    "save_checkpoint",
]


class CLIPType(enum.IntEnum):
    STABLE_DIFFUSION = 1
    STABLE_CASCADE = 2
    SD3 = 3
    STABLE_AUDIO = 4
    HUNYUAN_DIT = 5
    FLUX = 6


class _VAEMeta(type):
    """`comfy.sd.VAE(sd=...)` builds comfy-core's VAE object from a state dict; isinstance checks answer
    for comfy-core's VAE class."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, _VAE)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _VAE)

    def __call__(
        cls,
        sd: Mapping[str, torch.Tensor] | None = None,
        device: Any = None,
        config: Any = None,
        dtype: Any = None,
        metadata: Any = None,
    ) -> _VAE:
        if sd is None:
            raise ValueError("comfy.sd.VAE needs the VAE's state dict (sd=...)")
        return build_vae_object(dict(sd), torch.device(device) if device is not None else None)


class VAE(metaclass=_VAEMeta):
    """ComfyUI's VAE name (see `_VAEMeta`)."""


def load_checkpoint_guess_config(
    ckpt_path: str | os.PathLike[str],
    output_vae: bool = True,
    output_clip: bool = True,
    output_clipvision: bool = False,
    embedding_directory: Sequence[str] | str | None = None,
    output_model: bool = True,
    model_options: Mapping[str, Any] | None = None,
    te_model_options: Mapping[str, Any] | None = None,
) -> tuple[ModelPatcher | None, CLIP | None, _VAE | None, None]:
    """(MODEL, CLIP, VAE, CLIP_VISION): the last is always None (no CLIP-vision towers in supported files)."""
    if isinstance(embedding_directory, (str, os.PathLike)):
        embedding_directory = [str(embedding_directory)]
    model, clip, vae = _load_checkpoint(
        ckpt_path, embedding_directory, output_clip=output_clip, output_vae=output_vae
    )
    return (model if output_model else None), clip, vae, None


def load_checkpoint(
    config_path: Any = None,
    ckpt_path: Any = None,
    output_vae: bool = True,
    output_clip: bool = True,
    embedding_directory: Any = None,
    state_dict: Any = None,
    config: Any = None,
) -> tuple[Any, Any, Any]:
    """The deprecated config-file loader: the configuration is detected from the weights instead."""
    if ckpt_path is None:
        raise ValueError("comfy.sd.load_checkpoint needs ckpt_path")
    return load_checkpoint_guess_config(ckpt_path, output_vae, output_clip, False, embedding_directory)[:3]


_WEIGHT_DTYPE_NAMES = {"float8_e4m3fn": "fp8_e4m3fn", "float8_e5m2": "fp8_e5m2"}


def load_diffusion_model(
    unet_path: str | os.PathLike[str], model_options: Mapping[str, Any] | None = None
) -> ModelPatcher:
    """MODEL from a UNet file; `model_options["dtype"]` (a float8 torch dtype) stores weights in fp8."""
    dtype = (model_options or {}).get("dtype")
    weight_dtype = (
        _WEIGHT_DTYPE_NAMES.get(str(dtype).removeprefix("torch."), "default") if dtype else "default"
    )
    return _load_diffusion_model(unet_path, weight_dtype)


def load_unet(unet_path: str | os.PathLike[str], dtype: Any = None) -> ModelPatcher:
    return load_diffusion_model(unet_path, {"dtype": dtype} if dtype is not None else None)


def load_clip(
    ckpt_paths: Sequence[str | os.PathLike[str]],
    embedding_directory: Any = None,
    clip_type: CLIPType = CLIPType.STABLE_DIFFUSION,
    model_options: Mapping[str, Any] | None = None,
) -> CLIP:
    """CLIP from text-encoder files: one SD1/SD2/refiner encoder, or CLIP-L + CLIP-G (SDXL)."""
    from comfy_core.io.checkpoint import load_state_dict_file
    from comfy_core.memory.loading import compute_device
    from comfy_core.text.loader import load_clip_files

    if CLIPType(clip_type) != CLIPType.STABLE_DIFFUSION:
        raise ValueError(f"text-encoder type {CLIPType(clip_type).name} is not supported")
    if isinstance(embedding_directory, (str, os.PathLike)):
        embedding_directory = [str(embedding_directory)]
    state_dicts = [load_state_dict_file(p)[0] for p in ckpt_paths]
    device = compute_device()
    dtype = torch.float32 if device.type == "cpu" else torch.float16
    kind = "sdxl" if len(state_dicts) == 2 else "stable_diffusion"
    return load_clip_files(state_dicts, kind, embedding_directory, device=device, dtype=dtype)


def load_lora_for_models(
    model: Any, clip: Any, lora: Mapping[str, torch.Tensor], strength_model: float, strength_clip: float
) -> tuple[Any, Any]:
    """(patched MODEL clone, patched CLIP clone); a side with strength 0 (or None) comes back unchanged."""
    from comfy_core.patching.models import load_lora_for_models as apply

    new_model, new_clip, _unmatched = apply(model, clip, lora, strength_model, strength_clip)
    return new_model, new_clip


def save_checkpoint(
    output_path: str | os.PathLike[str],
    model: ModelPatcher,
    clip: Any = None,
    vae: Any = None,
    clip_vision: Any = None,
    metadata: Mapping[str, str] | None = None,
    extra_keys: Mapping[str, torch.Tensor] | None = None,
) -> None:
    from comfy_core.io.checkpoint import save_safetensors

    sd = checkpoint_state_dict(model, clip, vae)
    sd.update(extra_keys or {})
    save_safetensors(sd, output_path, metadata)
