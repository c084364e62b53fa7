"""Model families as data: detection from keys/shapes, latent formats, prediction types, text encoders,
checkpoint splitting/merging, and builders for runnable models."""

from __future__ import annotations

from comfy_core.families.base import Family, TextEncoderSpec
from comfy_core.families.build import build_diffusion_model, build_model_sampling, build_taesd, build_vae
from comfy_core.families.checkpoint import UnexplainedKeysError, merge_checkpoint, split_checkpoint
from comfy_core.families.detect import UnknownModelError, detect, get_family
from comfy_core.families.latent_formats import SD15, SDXL, LatentFormat
from comfy_core.families.sd import FAMILIES

__all__ = [
    "FAMILIES",
    "SD15",
    "SDXL",
    "Family",
    "LatentFormat",
    "TextEncoderSpec",
    "UnexplainedKeysError",
    "UnknownModelError",
    "build_diffusion_model",
    "build_model_sampling",
    "build_taesd",
    "build_vae",
    "detect",
    "get_family",
    "merge_checkpoint",
    "split_checkpoint",
]
