"""Small tensor helpers with ComfyUI's exact semantics (batch resizing, centre-cropping upscale)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def resize_to_batch_size(t: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Repeat or subsample along dim 0 to `batch_size`, spreading indices evenly (ComfyUI's rule)."""
    n = t.shape[0]
    if n == batch_size:
        return t
    if batch_size <= 1:
        return t[:batch_size]
    if batch_size < n:
        scale = (n - 1) / (batch_size - 1)
        idx = [min(round(i * scale), n - 1) for i in range(batch_size)]
    else:
        scale = n / batch_size
        idx = [min(math.floor((i + 0.5) * scale), n - 1) for i in range(batch_size)]
    return t[torch.tensor(idx, device=t.device)]


def common_upscale(
    samples: torch.Tensor, width: int, height: int, mode: str = "bilinear", crop: str = "center"
) -> torch.Tensor:
    """Resize the last two dims to (height, width); with crop="center" first crop to the target aspect."""
    s = samples
    if crop == "center":
        old_w, old_h = samples.shape[-1], samples.shape[-2]
        old_aspect, new_aspect = old_w / old_h, width / height
        x = y = 0
        if old_aspect > new_aspect:
            x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
        elif old_aspect < new_aspect:
            y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
        s = samples.narrow(-2, y, old_h - y * 2).narrow(-1, x, old_w - x * 2)
    if s.ndim != 4:
        raise ValueError("common_upscale expects [B, C, H, W]")
    return F.interpolate(s, size=(height, width), mode=mode)
