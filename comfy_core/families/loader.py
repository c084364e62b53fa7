"""Whole-file loading and saving for the loader nodes (ComfyUI's `comfy.sd` entry points).

* `load_checkpoint(path)` -> (MODEL, CLIP, VAE): detect the family, split the file by prefix, build the
  UNet inside a `ModelPatcher`, the text encoders as a CLIP object and the VAE object.
* `load_diffusion_model(path, weight_dtype)` -> MODEL (UNETLoader; bare or prefixed UNet files).
* `load_vae_file(path)` / `load_taesd(...)` / `pixel_space_vae()` -> VAE (VAELoader).
* `checkpoint_state_dict(model, clip, vae)` -> the single-file layout CheckpointSave writes.

Dtype policy until the device layer exists: fp32 on the CPU (no fp16 arithmetic there); on CUDA the
family's preferred inference dtype for UNet and text encoders, fp32 for the VAE. Each model remembers the
dtypes its weights had in the file, so saving writes them back unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from comfy_core.families.base import Family
from comfy_core.families.build import build_diffusion_model, build_taesd, build_vae
from comfy_core.families.checkpoint import merge_checkpoint, split_checkpoint
from comfy_core.families.detect import detect
from comfy_core.families.vae_object import VAE, PixelSpace
from comfy_core.io.checkpoint import load_state_dict_file
from comfy_core.memory.loading import compute_device, load_for_inference
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.models.taesd import taesd_latent_channels
from comfy_core.ops import pick_operations

# family name -> text-encoder kind (comfy_core.text.kinds)
TEXT_KINDS = {
    "sd15": "sd1",
    "sd15_inpaint": "sd1",
    "sd20": "sd2",
    "sd20_inpaint": "sd2",
    "sdxl": "sdxl",
    "sdxl_inpaint": "sdxl",
    "sdxl_refiner": "sdxl_refiner",
}

# UNETLoader weight_dtype -> storage dtype (computation happens in the compute dtype via manual cast)
WEIGHT_DTYPES = {
    "default": None,
    "fp8_e4m3fn": getattr(torch, "float8_e4m3fn", None),
    "fp8_e4m3fn_fast": getattr(torch, "float8_e4m3fn", None),
    "fp8_e5m2": getattr(torch, "float8_e5m2", None),
}

# synthetic VAELoader entries: name -> (scale, shift) of the latent space the TAESD pair replaces
TAESD_LATENTS = {
    "taesd": (0.18215, 0.0),
    "taesdxl": (0.13025, 0.0),
    "taesd3": (1.5305, 0.0609),
    "taef1": (0.3611, 0.1159),
}


@dataclass(frozen=True)
class ModelInfo:
    """What saving needs to know about a loaded diffusion model (kept on the shared module)."""

    family: Family
    source_dtypes: Mapping[str, torch.dtype]


def _policy() -> Any:
    """The DevicePolicy main.py built (None in unit tests: then the rules below apply)."""
    from comfy_core import runtime

    return getattr(runtime.maybe_current(), "device", None)


def compute_dtype(family: Family | None, device: torch.device) -> torch.dtype:
    policy = _policy()
    if policy is not None and family is not None:
        return policy.unet_dtype(device, supported_dtypes=family.inference_dtypes)
    if device.type == "cpu" or family is None:
        return torch.float32
    return family.inference_dtypes[0]


def _compute_for_storage(family: Family, storage: torch.dtype, device: torch.device) -> torch.dtype:
    """What weights stored in `storage` compute in (the policy's manual-cast rule; fp32 on the CPU)."""
    policy = _policy()
    if policy is not None:
        return policy.unet_manual_cast(storage, device, family.inference_dtypes) or storage
    return compute_dtype(family, device)


def _text_dtype(family: Family, device: torch.device) -> torch.dtype:
    policy = _policy()
    return policy.text_encoder_dtype(device) if policy is not None else compute_dtype(family, device)


def _vae_dtype(device: torch.device) -> torch.dtype:
    policy = _policy()
    if policy is None:
        return torch.float32
    choice = policy.vae_dtype(device)
    return torch.float32 if choice.nan_fallback else choice.dtype


def _take_converted(sd: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Pop every tensor of `sd` cast to `dtype`, one at a time, so the file and the model copy never
    both sit in memory whole."""
    out = {}
    for key in list(sd):
        out[key] = sd.pop(key).to(dtype)
    return out


def build_model_patcher(
    family: Family,
    params: Any,
    unet_sd: dict[str, torch.Tensor],
    weight_dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> ModelPatcher:
    """UNet + model sampling in a ModelPatcher; `unet_sd` (prefix-free) is consumed."""
    device = device or compute_device()
    storage = weight_dtype or compute_dtype(family, device)
    compute = _compute_for_storage(family, storage, device)
    source_dtypes = {k: v.dtype for k, v in unet_sd.items()}
    wrapper = build_diffusion_model(
        family,
        params,
        None,
        dtype=storage,
        device="meta",
        compute_dtype=compute,
        operations=pick_operations(storage, compute),
    )
    weights = _take_converted(unet_sd, storage)
    wrapper.diffusion_model.load_state_dict(weights, strict=True, assign=True)
    wrapper.diffusion_model.requires_grad_(False)
    wrapper.model_info = ModelInfo(family, source_dtypes)
    return ModelPatcher(wrapper, load_device=device, offload_device="cpu")


def build_vae_object(vae_sd: Mapping[str, torch.Tensor], device: torch.device | None = None) -> VAE:
    device = device or compute_device()
    source_dtypes = {k: v.dtype for k, v in vae_sd.items()}
    dtype = _vae_dtype(device)
    model = build_vae(vae_sd, dtype=dtype)
    return VAE(
        model,
        dtype=dtype,
        latent_channels=model.params.embed_dim,
        downscale_ratio=model.params.downscale,
        device=device,
        source_dtypes=source_dtypes,
    )


def _text_slots(parts: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, Mapping[str, torch.Tensor]]:
    return {name.removeprefix("clip_"): sd for name, sd in parts.items()}


def load_checkpoint(
    path: str | os.PathLike[str],
    embedding_dirs: Sequence[str] | None = None,
    *,
    output_clip: bool = True,
    output_vae: bool = True,
    device: torch.device | None = None,
) -> tuple[ModelPatcher, Any, VAE | None]:
    """(MODEL, CLIP or None, VAE or None) from a single-file checkpoint."""
    from comfy_core.text import loader as text_loader

    device = device or compute_device()
    sd, _ = load_state_dict_file(path)
    family, params = detect(sd)
    parts = split_checkpoint(sd, family, strict=False)
    del sd
    clip = None
    if output_clip and parts["text_encoders"]:
        clip = text_loader.load_text_encoders(
            TEXT_KINDS[family.name],
            _text_slots(parts["text_encoders"]),
            embedding_dirs,
            dtype=_text_dtype(family, device),
            device=device,
        )
    parts["text_encoders"] = {}
    vae = build_vae_object(parts["vae"], device) if output_vae and parts["vae"] else None
    parts["vae"] = {}
    model = build_model_patcher(family, params, parts["unet"], device=device)
    return model, clip, vae


def load_diffusion_model(
    path: str | os.PathLike[str], weight_dtype: str = "default", device: torch.device | None = None
) -> ModelPatcher:
    """MODEL from a UNet-only file (UNETLoader); `weight_dtype` as in the node's combo."""
    if weight_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"unknown weight_dtype {weight_dtype!r}")
    storage = WEIGHT_DTYPES[weight_dtype]
    if weight_dtype != "default" and storage is None:
        raise RuntimeError(f"this torch build has no {weight_dtype} dtype")
    sd, _ = load_state_dict_file(path)
    family, params = detect(sd)
    unet = split_checkpoint(sd, family, strict=False)["unet"]
    del sd
    return build_model_patcher(family, params, unet, weight_dtype=storage, device=device)


def load_vae_file(path: str | os.PathLike[str], device: torch.device | None = None) -> VAE:
    """VAE from a standalone KL-autoencoder file (bare keys, or under `first_stage_model.`/`vae.`)."""
    sd, _ = load_state_dict_file(path)
    for prefix in ("first_stage_model.", "vae."):
        if any(k.startswith(prefix + "encoder.") for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
            break
    if "encoder.conv_in.weight" not in sd:
        raise ValueError(f"{os.path.basename(str(path))}: not a KL autoencoder file this loader supports")
    sd = {
        k: v
        for k, v in sd.items()
        if k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv."))
    }
    return build_vae_object(sd, device)


def load_taesd(
    name: str,
    encoder_path: str | os.PathLike[str],
    decoder_path: str | os.PathLike[str],
    device: torch.device | None = None,
) -> VAE:
    """A TAESD encoder/decoder pair used as the VAE (`taesd`, `taesdxl`, `taesd3`, `taef1`)."""
    scale, shift = TAESD_LATENTS[name]
    enc, _ = load_state_dict_file(encoder_path)
    dec, _ = load_state_dict_file(decoder_path)
    model = build_taesd(enc, dec, vae_scale=scale, vae_shift=shift)
    return VAE(model, latent_channels=taesd_latent_channels(dec), device=device or compute_device())


def pixel_space_vae(device: torch.device | None = None) -> VAE:
    return VAE(PixelSpace(), latent_channels=3, downscale_ratio=1, device=device or compute_device())


def model_info(model: ModelPatcher) -> ModelInfo | None:
    return getattr(model.model, "model_info", None)


def checkpoint_state_dict(
    model: ModelPatcher, clip: Any = None, vae: VAE | None = None
) -> dict[str, torch.Tensor]:
    """The single-file checkpoint of MODEL (+ CLIP, VAE) with patches applied, in the file dtypes."""
    info = model_info(model)
    if info is None:
        raise ValueError("this MODEL was not loaded from a supported checkpoint; it cannot be saved")
    with load_for_inference([model], device="cpu") as (loaded,):
        unet = {
            k: v.detach().to(info.source_dtypes.get(k, v.dtype)).clone()
            for k, v in loaded.module.diffusion_model.state_dict().items()
        }
    parts: dict[str, Any] = {"unet": unet}
    if vae is not None:
        parts["vae"] = vae.checkpoint_state_dict()
    out = merge_checkpoint(parts, info.family)
    if clip is not None:
        out.update(clip.checkpoint_state_dict())
    return out
