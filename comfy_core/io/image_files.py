"""Image files <-> IMAGE/MASK tensors (float32 [B,H,W,C] in 0..1, masks [B,H,W])."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence

# Multi-picture formats whose extra frames are not an animation (MPO: stereo/preview JPEG pairs).
_SINGLE_FRAME_FORMATS = ("MPO",)


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """One [H,W,C] image -> 8-bit PIL image; 255*x clipped then truncated, exactly as ComfyUI saves."""
    array = 255.0 * image.detach().cpu().float().numpy()
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _open(path: str | os.PathLike[str]) -> Image.Image:
    return Image.open(path)


def _scale_32bit(frame: Image.Image) -> Image.Image:
    # 32-bit integer frames (16-bit PNG greyscale opens as mode I) are scaled to 8-bit range
    if frame.mode == "I":
        return frame.point(lambda v: v * (1 / 255))
    return frame


def _alpha_mask(frame: Image.Image) -> torch.Tensor | None:
    if "A" in frame.getbands():
        alpha = frame.getchannel("A")
    elif frame.mode == "P" and "transparency" in frame.info:
        alpha = frame.convert("RGBA").getchannel("A")
    else:
        return None
    return 1.0 - torch.from_numpy(np.array(alpha).astype(np.float32) / 255.0)


def load_image_file(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(image [B,H,W,3], mask [B,H,W]) as LoadImage returns them.

    EXIF orientation is applied; every frame of the first frame's size becomes a batch entry (others
    are skipped); mask = 1 - alpha, or 64x64 zeros when the image has no alpha.
    """
    img = _open(path)
    images: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    size: tuple[int, int] | None = None
    for raw in ImageSequence.Iterator(img):
        frame = _scale_32bit(ImageOps.exif_transpose(raw))
        rgb = frame.convert("RGB")
        if size is None:
            size = rgb.size
        if rgb.size != size:
            continue
        images.append(torch.from_numpy(np.array(rgb).astype(np.float32) / 255.0)[None])
        mask = _alpha_mask(frame)
        if mask is None:
            mask = torch.zeros((64, 64), dtype=torch.float32)
        masks.append(mask[None])
    if len(images) > 1 and img.format not in _SINGLE_FRAME_FORMATS:
        return torch.cat(images, dim=0), _cat_masks(masks, images[0].shape[1:3])
    return images[0], masks[0]


def _cat_masks(masks: list[torch.Tensor], hw: torch.Size) -> torch.Tensor:
    # frames without alpha give 64x64 placeholders; widen them to the frame size when others have alpha
    shapes = {tuple(m.shape) for m in masks}
    if len(shapes) > 1:
        masks = [m if m.shape[1:] == hw else torch.zeros((1, *hw), dtype=torch.float32) for m in masks]
    return torch.cat(masks, dim=0)


def load_mask_channel(path: str | os.PathLike[str], channel: str) -> torch.Tensor:
    """One channel ('alpha', 'red', 'green', 'blue') as a [1,H,W] mask; alpha is inverted (1 - alpha)."""
    img = ImageOps.exif_transpose(_open(path))
    if img.getbands() != ("R", "G", "B", "A"):
        img = _scale_32bit(img).convert("RGBA")
    band = channel[0].upper()
    if band not in img.getbands():
        return torch.zeros((1, 64, 64), dtype=torch.float32)
    mask = torch.from_numpy(np.array(img.getchannel(band)).astype(np.float32) / 255.0)
    if band == "A":
        mask = 1.0 - mask
    return mask.unsqueeze(0)
