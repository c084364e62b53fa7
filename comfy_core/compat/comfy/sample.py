"""ComfyUI's `comfy.sample`: seeded noise and the sampling entry points the KSampler nodes use.

`sample` / `sample_custom` take a MODEL (ModelPatcher) and load it for the call, as ComfyUI does; the
result is a float32 CPU latent. `noise_inds` is the LATENT's `batch_index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from comfy_core.compat.comfy._models import latent_format_of, loaded
from comfy_core.sampling import ksampler as _ks
from comfy_core.sampling import noise as _noise
from comfy_core.sampling.guiders import reshape_mask

__all__ = ["fix_empty_latent_channels", "prepare_mask", "prepare_noise", "sample", "sample_custom"]


def prepare_noise(
    latent_image: torch.Tensor, seed: int, noise_inds: Sequence[int] | None = None
) -> torch.Tensor:
    return _noise.prepare_noise(latent_image, seed, noise_inds)


def fix_empty_latent_channels(
    model: Any, latent_image: torch.Tensor, downscale_ratio_spacial: int | None = None
) -> torch.Tensor:
    """An all-zero latent with another channel count than the model's is widened (4 -> 16 channels).

    `downscale_ratio_spacial` is accepted for the signature; comfy-core's families share one ratio."""
    fmt = latent_format_of(model)
    channels = getattr(fmt, "latent_channels", None) if fmt is not None else None
    return _noise.fix_empty_latent_channels(latent_image, channels)


def prepare_mask(noise_mask: torch.Tensor, shape: Sequence[int], device: Any) -> torch.Tensor:
    """A noise mask resized to the latent's spatial size and repeated over channels and batch."""
    return reshape_mask(noise_mask, torch.Size(shape)).to(device)


def sample(
    model,
    noise,
    steps,
    cfg,
    sampler_name,
    scheduler,
    positive,
    negative,
    latent_image,
    denoise=1.0,
    disable_noise=False,
    start_step=None,
    last_step=None,
    force_full_denoise=False,
    noise_mask=None,
    sigmas=None,
    callback=None,
    disable_pbar=False,
    seed=None,
):  # noqa: ANN001, ANN201
    # compat KSampler: finds samplers packs registered through comfy.samplers and loads the model.
    from comfy_core.compat.comfy import samplers

    return _ks.sample(
        model,
        noise,
        steps,
        cfg,
        sampler_name,
        scheduler,
        positive,
        negative,
        latent_image,
        denoise=denoise,
        disable_noise=disable_noise,
        start_step=start_step,
        last_step=last_step,
        force_full_denoise=force_full_denoise,
        noise_mask=noise_mask,
        sigmas=sigmas,
        callback=callback,
        disable_pbar=disable_pbar,
        seed=seed,
        sampler_class=samplers.KSampler,
    )


def sample_custom(
    model,
    noise,
    cfg,
    sampler,
    sigmas,
    positive,
    negative,
    latent_image,
    noise_mask=None,
    callback=None,
    disable_pbar=False,
    seed=None,
):  # noqa: ANN001, ANN201
    with loaded(model) as inference:
        return _ks.sample_custom(
            inference,
            noise,
            cfg,
            sampler,
            sigmas,
            positive,
            negative,
            latent_image,
            noise_mask=noise_mask,
            callback=callback,
            disable_pbar=disable_pbar,
            seed=seed,
        )
