"""Tiled VAE encode/decode with ComfyUI's tiling and blending, so tiled results match it pixel for pixel.

A tile grid steps by (tile - overlap); every tile's output is weighted by a linear feather ramp of width
overlap*scale on each side and the weighted sum is normalised. Decoding (and encoding) averages three passes
with tile shapes (x/2, 2y), (2x, y/2), (x, y) so seams of one pass are covered by the others.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch

Fn = Callable[[torch.Tensor], torch.Tensor]
Progress = Callable[[int], None]


def tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int, overlap: int) -> int:
    rows = 1 if height <= tile_y else math.ceil((height - overlap) / (tile_y - overlap))
    cols = 1 if width <= tile_x else math.ceil((width - overlap) / (tile_x - overlap))
    return rows * cols


@torch.inference_mode()
def tiled_scale_multidim(
    samples: torch.Tensor,
    function: Fn,
    tile: Sequence[int],
    overlap: int | Sequence[int],
    scale: float,
    out_channels: int,
    output_device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> torch.Tensor:
    """Apply `function` (which scales spatial dims by `scale`) tile by tile over samples [B, C, *spatial]."""
    dims = len(tile)
    ov = list(overlap) if isinstance(overlap, Sequence) else [overlap] * dims

    def scaled(n: float) -> int:
        return round(n * scale)

    out_shape = [samples.shape[0], out_channels] + [scaled(s) for s in samples.shape[2:]]
    output = torch.empty(out_shape, device=output_device)
    for b in range(samples.shape[0]):
        s = samples[b : b + 1]
        if all(s.shape[d + 2] <= tile[d] for d in range(dims)):
            output[b : b + 1] = function(s).to(output_device)
            if progress:
                progress(1)
            continue
        acc = torch.zeros([1] + out_shape[1:], device=output_device)
        weight = torch.zeros_like(acc)
        positions = [
            range(0, s.shape[d + 2] - ov[d], tile[d] - ov[d]) if s.shape[d + 2] > tile[d] else [0]
            for d in range(dims)
        ]
        for corner in itertools.product(*positions):
            piece = s
            starts = []
            for d in range(dims):
                pos = max(0, min(s.shape[d + 2] - ov[d], corner[d]))
                length = min(tile[d], s.shape[d + 2] - pos)
                piece = piece.narrow(d + 2, pos, length)
                starts.append(scaled(pos))
            ps = function(piece).to(output_device)
            mask = torch.ones_like(ps)
            for d in range(2, dims + 2):
                feather = scaled(ov[d - 2])
                if feather >= mask.shape[d]:
                    continue
                for t in range(feather):
                    a = (t + 1) / feather
                    mask.narrow(d, t, 1).mul_(a)
                    mask.narrow(d, mask.shape[d] - 1 - t, 1).mul_(a)
            o, w = acc, weight
            for d in range(dims):
                o = o.narrow(d + 2, starts[d], mask.shape[d + 2])
                w = w.narrow(d + 2, starts[d], mask.shape[d + 2])
            o.add_(ps * mask)
            w.add_(mask)
            if progress:
                progress(1)
        output[b : b + 1] = acc / weight
    return output


def _tiled(samples, fn, tile_x, tile_y, overlap, scale, out_channels, output_device, progress):
    return tiled_scale_multidim(
        samples, fn, (tile_y, tile_x), overlap, scale, out_channels, output_device, progress
    )


def decode_tiled(
    decode: Fn,
    latent: torch.Tensor,
    tile_x: int = 64,
    tile_y: int = 64,
    overlap: int = 16,
    upscale: int = 8,
    output_device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> torch.Tensor:
    """latent [B, C, h, w] -> pixels [B, 3, 8h, 8w] in [0, 1]. Tile sizes are in latent units.

    `decode` maps a latent tile to pixels in [-1, 1] (fp32); ComfyUI's VAEDecodeTiled passes
    tile_size // 8 and overlap // 8 here.
    """
    passes = ((tile_x // 2, tile_y * 2), (tile_x * 2, tile_y // 2), (tile_x, tile_y))
    total = sum(
        _tiled(latent, decode, tx, ty, overlap, upscale, 3, output_device, progress) for tx, ty in passes
    )
    return ((total / 3.0) + 1.0).div(2.0).clamp(0.0, 1.0)


def encode_tiled(
    encode: Fn,
    pixels: torch.Tensor,
    tile_x: int = 512,
    tile_y: int = 512,
    overlap: int = 64,
    downscale: int = 8,
    latent_channels: int = 4,
    output_device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> torch.Tensor:
    """pixels [B, 3, H, W] in [0, 1] -> latent [B, C, H/8, W/8]. Tile sizes are in pixels.

    `encode` maps a pixel tile in [-1, 1] to a latent (fp32)."""

    def fn(a: torch.Tensor) -> torch.Tensor:
        return encode(a * 2.0 - 1.0)

    passes = ((tile_x, tile_y), (tile_x * 2, tile_y // 2), (tile_x // 2, tile_y * 2))
    total = sum(
        _tiled(pixels, fn, tx, ty, overlap, 1.0 / downscale, latent_channels, output_device, progress)
        for tx, ty in passes
    )
    return total / 3.0


def decode_tiled_steps(latent_shape: Sequence[int], tile_x: int, tile_y: int, overlap: int) -> int:
    b, _, h, w = latent_shape
    passes = ((tile_x // 2, tile_y * 2), (tile_x * 2, tile_y // 2), (tile_x, tile_y))
    return b * sum(tiled_scale_steps(w, h, tx, ty, overlap) for tx, ty in passes)


def crop_pixels_to_multiple(pixels: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Centre-crop IMAGE [B, H, W, C] so H and W are multiples of the VAE ratio (ComfyUI's VAEEncode rule)."""
    for d, size in enumerate(pixels.shape[1:-1]):
        keep = (size // multiple) * multiple
        if keep != size:
            pixels = pixels.narrow(d + 1, (size % multiple) // 2, keep)
    return pixels
