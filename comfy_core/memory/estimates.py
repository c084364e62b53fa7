"""Memory estimates: weight bytes of a model and activation bytes of one inference (contract §12)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

GiB = 1024**3
MiB = 1024**2


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of every parameter and buffer (a model's size is its state dict's tensor bytes)."""
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def sampling_memory(
    model: Any, latent_shape: Sequence[int], cond_shapes: Sequence[Sequence[int]] = ()
) -> tuple[int, int]:
    """(memory_required, minimum_memory_required) for sampling `latent_shape` with `model` (a
    DiffusionWrapper or anything with `memory_required(shape)`): cond and uncond run as one batch, so the
    estimate is for batch x 2, the minimum for batch x 1 (ComfyUI's sampler estimates).

    Conditioning shapes (control images, concat latents) add their area to the latent's."""
    estimate = getattr(model, "memory_required", None)
    if estimate is None or not latent_shape:
        return 0, 0
    batch = int(latent_shape[0])
    extra = sum(int(s[0]) * math.prod(s[2:]) for s in cond_shapes if len(s) > 2)
    spatial = math.prod(latent_shape[2:]) if len(latent_shape) > 2 else 1
    if extra:  # fold the conditioning area into the spatial size of the estimate
        spatial += extra // max(1, batch)
    shape = (batch * 2, int(latent_shape[1]) if len(latent_shape) > 1 else 1, spatial)
    required = int(estimate(shape))
    minimum = int(estimate((batch, shape[1], spatial)))
    return required, minimum


def vae_decode_memory(latent_shape: Sequence[int], dtype: torch.dtype, upscale: int = 8) -> int:
    """KL-VAE decode working memory: about 2178 x 64 bytes-per-element per latent pixel (ComfyUI's SD VAE
    figure, which is for 8x upscaling; scaled for other ratios)."""
    pixels = math.prod(latent_shape[2:]) if len(latent_shape) > 2 else 1
    size = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    return int(2178 * 64 * pixels * int(latent_shape[0]) * size * (upscale / 8) ** 2)


def vae_encode_memory(pixel_shape: Sequence[int], dtype: torch.dtype) -> int:
    """KL-VAE encode working memory: about 1767 bytes-per-element per image pixel (ComfyUI's figure).
    `pixel_shape` is `[B, H, W, C]`."""
    size = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    return int(1767 * int(pixel_shape[0]) * int(pixel_shape[1]) * int(pixel_shape[2]) * size)


def minimum_inference_memory(reserved: int, virtual: bool = False) -> int:
    """Headroom kept free for activations beyond the estimates: 0.8 GiB + the reserve on real devices;
    only the reserve on a virtual budget (its activations are not on it)."""
    return reserved if virtual else int(0.8 * GiB) + reserved
