"""Tensor image operations shared by image, mask and latent nodes.

Layout conventions: `common_upscale` and friends take channel-first tensors [B,C,H,W] (or [B,C,T,H,W]
for video latents); IMAGE values are [B,H,W,C] and callers move the channel axis.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp", "lanczos")


def center_crop_to_aspect(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Trim equal margins from the longer side so the aspect ratio matches width/height."""
    old_h, old_w = samples.shape[-2], samples.shape[-1]
    old_aspect = old_w / old_h
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_h - y * 2).narrow(-1, x, old_w - x * 2)


def _slerp_rows(a: torch.Tensor, b: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b ([N,C]) by ratios r ([N,1]); the magnitude is
    interpolated linearly. Near-identical directions keep `a`; opposite ones fall back to a lerp."""
    c = a.shape[-1]
    a_norm = torch.norm(a, dim=-1, keepdim=True)
    b_norm = torch.norm(b, dim=-1, keepdim=True)
    a_unit = a / a_norm
    b_unit = b / b_norm
    a_unit[a_norm.expand(-1, c) == 0.0] = 0.0
    b_unit[b_norm.expand(-1, c) == 0.0] = 0.0
    dot = (a_unit * b_unit).sum(1)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    rr = r.squeeze(1)
    out = (torch.sin((1.0 - rr) * omega) / sin_omega).unsqueeze(1) * a_unit
    out = out + (torch.sin(rr * omega) / sin_omega).unsqueeze(1) * b_unit
    out *= (a_norm * (1.0 - r) + b_norm * r).expand(-1, c)
    same = dot > 1 - 1e-5
    opposite = dot < 1e-5 - 1
    out[same] = a[same]
    out[opposite] = (a * (1.0 - r) + b * r)[opposite]
    return out


def _linear_sample_points(length_old: int, length_new: int, device: torch.device):
    """For each output position: (fraction, left index, right index) of a bilinear resize along one axis.

    The positions come from resizing an index ramp with F.interpolate, so they match torch's bilinear
    sampling (half-pixel centres, clamped at the edges).
    """
    ramp = torch.arange(length_old, dtype=torch.float32, device=device).reshape(1, 1, 1, -1)
    left_f = F.interpolate(ramp, size=(1, length_new), mode="bilinear")
    ratios = left_f - left_f.floor()
    left = left_f.to(torch.int64)
    ramp_next = ramp + 1
    ramp_next[..., -1] -= 1
    right = F.interpolate(ramp_next, size=(1, length_new), mode="bilinear").to(torch.int64)
    return ratios, left, right


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize [N,C,H,W] by slerping channel vectors between neighbours, first along W then along H."""
    orig_dtype = samples.dtype
    samples = samples.float()
    n, c, h, w = samples.shape

    ratios, left, right = _linear_sample_points(w, width, samples.device)
    left = left.expand(n, c, h, -1)
    right = right.expand(n, c, h, -1)
    ratios = ratios.expand(n, 1, h, -1)
    a = samples.gather(-1, left).movedim(1, -1).reshape(-1, c)
    b = samples.gather(-1, right).movedim(1, -1).reshape(-1, c)
    out = _slerp_rows(a, b, ratios.movedim(1, -1).reshape(-1, 1))
    out = out.reshape(n, h, width, c).movedim(-1, 1)

    ratios, left, right = _linear_sample_points(h, height, samples.device)
    left = left.reshape(1, 1, -1, 1).expand(n, c, -1, width)
    right = right.reshape(1, 1, -1, 1).expand(n, c, -1, width)
    ratios = ratios.reshape(1, 1, -1, 1).expand(n, 1, -1, width)
    a = out.gather(-2, left).movedim(1, -1).reshape(-1, c)
    b = out.gather(-2, right).movedim(1, -1).reshape(-1, c)
    out = _slerp_rows(a, b, ratios.movedim(1, -1).reshape(-1, 1))
    out = out.reshape(n, height, width, c).movedim(-1, 1)
    return out.to(orig_dtype)


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """PIL Lanczos resize of each [C,H,W] image through 8-bit (as ComfyUI does; values quantise to /255)."""
    results = []
    for image in samples:
        array = np.clip(255.0 * image.movedim(0, -1).detach().cpu().float().numpy(), 0, 255).astype(np.uint8)
        if array.shape[-1] == 1:
            array = array[..., 0]
        pil = Image.fromarray(array).resize((width, height), resample=Image.Resampling.LANCZOS)
        out = torch.from_numpy(np.array(pil).astype(np.float32) / 255.0)
        if out.ndim == 2:
            out = out.unsqueeze(-1)
        results.append(out.movedim(-1, 0))
    return torch.stack(results).to(samples.device, samples.dtype)


def common_upscale(
    samples: torch.Tensor, width: int, height: int, upscale_method: str, crop: str
) -> torch.Tensor:
    """Resize [B,C,H,W] (or [B,C,T,H,W], frames resized independently) to height x width.

    crop="center" first trims to the target aspect ratio. Methods: nearest-exact, bilinear, area,
    bicubic (torch interpolate), bislerp, lanczos.
    """
    orig_shape = tuple(samples.shape)
    if len(orig_shape) > 4:
        samples = samples.reshape(orig_shape[0], orig_shape[1], -1, orig_shape[-2], orig_shape[-1])
        samples = samples.movedim(2, 1).reshape(-1, orig_shape[1], orig_shape[-2], orig_shape[-1])
    s = center_crop_to_aspect(samples, width, height) if crop == "center" else samples
    if upscale_method == "bislerp":
        out = bislerp(s, width, height)
    elif upscale_method == "lanczos":
        out = lanczos(s, width, height)
    else:
        out = F.interpolate(s, size=(height, width), mode=upscale_method)
    if len(orig_shape) == 4:
        return out
    out = out.reshape((orig_shape[0], -1, orig_shape[1], height, width))
    return out.movedim(2, 1).reshape(orig_shape[:-2] + (height, width))


def scale_image(image: torch.Tensor, width: int, height: int, upscale_method: str, crop: str) -> torch.Tensor:
    """common_upscale for an IMAGE [B,H,W,C]."""
    return common_upscale(image.movedim(-1, 1), width, height, upscale_method, crop).movedim(1, -1)


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
    """Cut or tile `tensor` along `dim` to exactly batch_size entries."""
    size = tensor.shape[dim]
    if size > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if size < batch_size:
        reps = [1] * tensor.ndim
        reps[dim] = math.ceil(batch_size / size)
        return tensor.repeat(reps).narrow(dim, 0, batch_size)
    return tensor


def image_alpha_fix(destination: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Make channel counts agree before blending [..., C] images: drop the source's extra alpha, or give
    an RGB source an opaque alpha channel when the destination has one."""
    if destination.shape[-1] < source.shape[-1]:
        source = source[..., : destination.shape[-1]]
    elif destination.shape[-1] > source.shape[-1]:
        source = F.pad(source, (0, 1))
        source[..., -1] = 1.0
    return destination, source


def composite(
    destination: torch.Tensor,
    source: torch.Tensor,
    x: int,
    y: int,
    mask: torch.Tensor | None = None,
    multiplier: int = 8,
    resize_source: bool = False,
) -> torch.Tensor:
    """Paste channel-first `source` into `destination` (modified in place and returned) at pixel (x, y).

    `multiplier` is the pixel size of one element (8 for SD latents, 1 for images). The mask (any
    [..,H,W]) is resized bilinearly to the source; the source is tiled/cut to the destination batch.
    """
    source = source.to(destination.device)
    if resize_source:
        source = F.interpolate(source, size=(destination.shape[-2], destination.shape[-1]), mode="bilinear")
    source = repeat_to_batch_size(source, destination.shape[0])

    x = max(-source.shape[-1] * multiplier, min(x, destination.shape[-1] * multiplier))
    y = max(-source.shape[-2] * multiplier, min(y, destination.shape[-2] * multiplier))
    left, top = x // multiplier, y // multiplier
    right, bottom = left + source.shape[-1], top + source.shape[-2]

    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = mask.to(destination.device, copy=True)
        mask = F.interpolate(
            mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]),
            size=(source.shape[-2], source.shape[-1]),
            mode="bilinear",
        )
        mask = repeat_to_batch_size(mask, source.shape[0])

    # only the part of the source that lands on the destination is pasted
    visible_w = destination.shape[-1] - left + min(0, x)
    visible_h = destination.shape[-2] - top + min(0, y)
    mask = mask[:, :, :visible_h, :visible_w]
    if mask.ndim < source.ndim:
        mask = mask.unsqueeze(1)
    inverse = torch.ones_like(mask) - mask
    pasted = mask * source[..., :visible_h, :visible_w]
    kept = inverse * destination[..., top:bottom, left:right]
    destination[..., top:bottom, left:right] = pasted + kept
    return destination
