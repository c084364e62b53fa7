"""IMAGE <-> LATENT with a VAE module, in ComfyUI's conventions (what VAEEncode/VAEDecode and their tiled
variants do once the model is loaded).

IMAGE is [B, H, W, C] float in [0, 1]; LATENT samples are the VAE's raw (unscaled) latents, fp32. Works with
any module exposing encode(pixels in [-1, 1]) / decode(latent) -> pixels in [-1, 1] (AutoencoderKL, TAESD).
"""

from __future__ import annotations

import torch
from torch import nn

from comfy_core.models.vae_tiled import Progress, crop_pixels_to_multiple, decode_tiled, encode_tiled

SPATIAL_RATIO = 8


def _dtype_device(vae: nn.Module) -> tuple[torch.dtype, torch.device]:
    p = next(vae.parameters())
    dtype = p.dtype if p.dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32
    return dtype, p.device


@torch.no_grad()
def encode_image(vae: nn.Module, pixels: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """IMAGE -> latent [B, C, H/8, W/8]. Pixels are centre-cropped to a multiple of 8; alpha is dropped."""
    dtype, device = _dtype_device(vae)
    pixels = crop_pixels_to_multiple(pixels[..., :3], SPATIAL_RATIO).movedim(-1, 1)
    step = batch_size or pixels.shape[0]
    out = [
        vae.encode((pixels[i : i + step] * 2.0 - 1.0).to(device=device, dtype=dtype)).float().cpu()
        for i in range(0, pixels.shape[0], step)
    ]
    return torch.cat(out)


@torch.no_grad()
def decode_latent(vae: nn.Module, latent: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Latent -> IMAGE [B, H, W, 3] in [0, 1]."""
    dtype, device = _dtype_device(vae)
    step = batch_size or latent.shape[0]
    out = [
        vae.decode(latent[i : i + step].to(device=device, dtype=dtype)).float().cpu()
        for i in range(0, latent.shape[0], step)
    ]
    return ((torch.cat(out) + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1)


@torch.no_grad()
def decode_latent_tiled(
    vae: nn.Module,
    latent: torch.Tensor,
    tile_size: int = 512,
    overlap: int = 64,
    progress: Progress | None = None,
) -> torch.Tensor:
    """VAEDecodeTiled: tile_size/overlap in pixels; overlap is capped at tile_size // 4 (the node's rule).
    The temporal arguments of the node only apply to video VAEs and are not taken here."""
    if tile_size < overlap * 4:
        overlap = tile_size // 4
    dtype, device = _dtype_device(vae)
    t = tile_size // SPATIAL_RATIO

    def fn(a: torch.Tensor) -> torch.Tensor:
        return vae.decode(a.to(device=device, dtype=dtype)).float().cpu()

    image = decode_tiled(fn, latent, t, t, overlap // SPATIAL_RATIO, SPATIAL_RATIO, progress=progress)
    return image.movedim(1, -1)


@torch.no_grad()
def encode_image_tiled(
    vae: nn.Module,
    pixels: torch.Tensor,
    tile_size: int = 512,
    overlap: int = 64,
    progress: Progress | None = None,
) -> torch.Tensor:
    """VAEEncodeTiled: tile_size/overlap in pixels."""
    dtype, device = _dtype_device(vae)
    pixels = crop_pixels_to_multiple(pixels[..., :3], SPATIAL_RATIO).movedim(-1, 1)

    def fn(a: torch.Tensor) -> torch.Tensor:
        return vae.encode(a.to(device=device, dtype=dtype)).float().cpu()

    channels = int(vae.encode(torch.zeros(1, 3, 8, 8, device=device, dtype=dtype)).shape[1])
    return encode_tiled(fn, pixels, tile_size, tile_size, overlap, SPATIAL_RATIO, channels, progress=progress)
