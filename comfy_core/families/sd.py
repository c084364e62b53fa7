"""Stable Diffusion 1.x, 2.x and SDXL family descriptors."""

from __future__ import annotations

from dataclasses import replace

import torch

from comfy_core.families.base import Family, TextEncoderSpec
from comfy_core.families.latent_formats import SD15, SDXL

SD1_TE = (TextEncoderSpec("clip_l", "hf_clip", "cond_stage_model."),)
SD2_TE = (TextEncoderSpec("clip_h", "open_clip", "cond_stage_model."),)
SDXL_TE = (
    TextEncoderSpec("clip_l", "hf_clip", "conditioner.embedders.0."),
    TextEncoderSpec("clip_g", "open_clip", "conditioner.embedders.1."),
)
SDXL_REFINER_TE = (TextEncoderSpec("clip_g", "open_clip", "conditioner.embedders.0."),)

SD15_FAMILY = Family(
    name="sd15",
    display_name="SD1.x",
    latent_format=SD15,
    prediction="eps",
    text_encoders=SD1_TE,
    text_kind="sd1",
    memory_usage_factor=1.0,
    levels=4,
    linear_proj=False,
    adm="none",
    release={"model_channels": 320, "context_dim": 768},
    num_heads=8,
    num_head_channels=-1,
    inference_dtypes=(torch.float16, torch.float32),
)
SD15_INPAINT = replace(SD15_FAMILY, name="sd15_inpaint", display_name="SD1.x inpainting", in_channels=9)

SD20_FAMILY = Family(
    name="sd20",
    display_name="SD2.x",
    latent_format=SD15,
    prediction="eps",  # 768-v files are resolved to v_prediction by the weight rule in base.py
    text_encoders=SD2_TE,
    text_kind="sd2",
    memory_usage_factor=1.0,
    levels=4,
    linear_proj=True,
    adm="none",
    release={"model_channels": 320, "context_dim": 1024},
    attn_upcast=True,
)
SD20_INPAINT = replace(SD20_FAMILY, name="sd20_inpaint", display_name="SD2.x inpainting", in_channels=9)

SDXL_FAMILY = Family(
    name="sdxl",
    display_name="SDXL",
    latent_format=SDXL,
    prediction="eps",
    text_encoders=SDXL_TE,
    text_kind="sdxl",
    memory_usage_factor=0.8,
    levels=3,
    linear_proj=True,
    adm="sdxl",
    release={"model_channels": 320, "context_dim": 2048, "adm_in_channels": 2816},
)
SDXL_INPAINT = replace(SDXL_FAMILY, name="sdxl_inpaint", display_name="SDXL inpainting", in_channels=9)

SDXL_REFINER = Family(
    name="sdxl_refiner",
    display_name="SDXL refiner",
    latent_format=SDXL,
    prediction="eps",
    text_encoders=SDXL_REFINER_TE,
    text_kind="sdxl_refiner",
    memory_usage_factor=1.0,
    levels=4,
    linear_proj=True,
    adm="sdxl_refiner",
    release={"model_channels": 384, "context_dim": 1280, "adm_in_channels": 2560},
)

FAMILIES: tuple[Family, ...] = (
    SD15_FAMILY,
    SD15_INPAINT,
    SD20_FAMILY,
    SD20_INPAINT,
    SDXL_FAMILY,
    SDXL_INPAINT,
    SDXL_REFINER,
)
