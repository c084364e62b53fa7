"""Construct runnable models for a detected family: the UNet in its wrapper, the VAE, TAESD."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from comfy_core.families.base import Family
from comfy_core.models.base_model import DiffusionWrapper, WrapperTraits
from comfy_core.models.taesd import TAESD
from comfy_core.models.unet import UNetModel, UNetParams
from comfy_core.models.vae import AutoencoderKL, vae_params_from_state_dict
from comfy_core.ops import Operations, pick_operations
from comfy_core.ops.ops import FP8_DTYPES


def build_model_sampling(family: Family) -> torch.nn.Module:
    """The 1000-step discrete schedule of SD1/SD2/SDXL with the family's prediction type."""
    from comfy_core.sampling.model_sampling import ModelSamplingDiscrete, make_model_sampling

    return make_model_sampling(family.prediction, ModelSamplingDiscrete, zsnr=family.zsnr)


def _load(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], what: str) -> None:
    missing, unexpected = module.load_state_dict(dict(sd), strict=False)
    if missing or unexpected:
        raise ValueError(f"{what} weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")


def build_diffusion_model(
    family: Family,
    params: UNetParams,
    unet_state_dict: Mapping[str, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    compute_dtype: torch.dtype | None = None,
    operations: Operations | None = None,
) -> DiffusionWrapper:
    """UNet (weights stored in `dtype`, run in `compute_dtype`) + model sampling, as one DiffusionWrapper.

    fp8-stored weights need a compute dtype; fp32 is assumed when none is given."""
    if compute_dtype is None and dtype in FP8_DTYPES:
        compute_dtype = torch.float32
    ops = operations or pick_operations(dtype, compute_dtype)
    unet = UNetModel(params, dtype=dtype, device=device, operations=ops)
    if unet_state_dict is not None:
        _load(unet, unet_state_dict, "UNet")
    unet.requires_grad_(False).eval()
    traits = WrapperTraits(
        adm=family.adm,
        inpaint=family.inpaint,
        memory_usage_factor=family.memory_usage_factor,
        latent_channels=family.latent_format.latent_channels,
    )
    return DiffusionWrapper(
        unet, build_model_sampling(family), family.latent_format, traits, compute_dtype or dtype
    )


def build_vae(
    vae_state_dict: Mapping[str, torch.Tensor],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    operations: Operations | None = None,
) -> AutoencoderKL:
    params = vae_params_from_state_dict(vae_state_dict)
    vae = AutoencoderKL(
        params, dtype=dtype, device=device, operations=operations or pick_operations(dtype, None)
    )
    _load(vae, vae_state_dict, "VAE")
    return vae.requires_grad_(False).eval()


def build_taesd(
    encoder_sd: Mapping[str, torch.Tensor] | None,
    decoder_sd: Mapping[str, torch.Tensor] | None,
    vae_scale: float = 1.0,
    vae_shift: float = 0.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> TAESD:
    """TAESD from bare encoder/decoder files (either may be None for a preview-only decoder)."""
    from comfy_core.models.taesd import taesd_latent_channels

    present = decoder_sd if decoder_sd is not None else encoder_sd
    if present is None:
        raise ValueError("TAESD needs an encoder or a decoder state dict")
    model = TAESD(taesd_latent_channels(dict(present)), vae_scale, vae_shift, dtype=dtype, device=device)
    if encoder_sd is not None:
        _load(model.taesd_encoder, encoder_sd, "TAESD encoder")
    if decoder_sd is not None:
        _load(model.taesd_decoder, decoder_sd, "TAESD decoder")
    return model.requires_grad_(False).eval()
