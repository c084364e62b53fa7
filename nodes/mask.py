"""Mask nodes (ComfyUI's comfy_extras/nodes_mask.py): conversions, solid/crop/composite/grow/feather."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from comfy_core.imageops import composite, image_alpha_fix
from nodes._image_common import MAX_RESOLUTION, paths, temp_prefix
from nodes.image_io import save_png_batch

MODULE = "comfy_extras.nodes_mask"
HIDDEN_V3 = {"prompt": ("PROMPT",), "extra_pnginfo": ("EXTRA_PNGINFO",)}


def _int(default: int, lo: int, hi: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": default, "min": lo, "max": hi, "step": 1, **extra})


def _combo(options: list[str]) -> tuple[str, dict[str, Any]]:
    return ("COMBO", {"multiselect": False, "options": list(options)})


def as_batch(mask: torch.Tensor) -> torch.Tensor:
    """[H,W] or [B,H,W] (or [B,1,H,W]) -> [B,H,W]."""
    return mask.reshape((-1, mask.shape[-2], mask.shape[-1]))


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    return mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)


class _MaskNode:
    RELATIVE_PYTHON_MODULE = MODULE
    RETURN_TYPES = ("MASK",)
    CATEGORY = "mask"


class ImageCompositeMasked:
    RELATIVE_PYTHON_MODULE = MODULE
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "composite"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "destination": ("IMAGE", {}),
                "source": ("IMAGE", {}),
                "x": _int(0, 0, MAX_RESOLUTION),
                "y": _int(0, 0, MAX_RESOLUTION),
                "resize_source": ("BOOLEAN", {"default": False}),
            },
            "optional": {"mask": ("MASK", {})},
        }

    def composite(self, destination, source, x, y, resize_source, mask=None):  # noqa: ANN001
        destination, source = image_alpha_fix(destination, source)
        dest = destination.clone().movedim(-1, 1)
        out = composite(dest, source.movedim(-1, 1), x, y, mask, 1, resize_source)
        return (out.movedim(1, -1),)


class MaskToImage:
    RELATIVE_PYTHON_MODULE = MODULE
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mask_to_image"
    CATEGORY = "mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {})}}

    def mask_to_image(self, mask: torch.Tensor):
        return (mask_to_image(mask),)


class ImageToMask(_MaskNode):
    FUNCTION = "image_to_mask"
    channels = ["red", "green", "blue", "alpha"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE", {}), "channel": _combo(cls.channels)}}

    def image_to_mask(self, image: torch.Tensor, channel: str):
        return (image[:, :, :, self.channels.index(channel)],)


class ImageColorToMask(_MaskNode):
    FUNCTION = "image_to_mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE", {}), "color": _int(0, 0, 0xFFFFFF, display="number")}}

    def image_to_mask(self, image: torch.Tensor, color: int):
        rgb = (torch.clamp(image, 0, 1.0) * 255.0).round().to(torch.int)
        packed = (rgb[:, :, :, 0] << 16) + (rgb[:, :, :, 1] << 8) + rgb[:, :, :, 2]
        return (torch.where(packed == color, 1.0, 0).float(),)


class SolidMask(_MaskNode):
    FUNCTION = "solid"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
                "width": _int(512, 1, MAX_RESOLUTION),
                "height": _int(512, 1, MAX_RESOLUTION),
            }
        }

    def solid(self, value: float, width: int, height: int):
        return (torch.full((1, height, width), value, dtype=torch.float32),)


class InvertMask(_MaskNode):
    FUNCTION = "invert"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {})}}

    def invert(self, mask: torch.Tensor):
        return (1.0 - mask,)


class CropMask(_MaskNode):
    FUNCTION = "crop"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mask": ("MASK", {}),
                "x": _int(0, 0, MAX_RESOLUTION),
                "y": _int(0, 0, MAX_RESOLUTION),
                "width": _int(512, 1, MAX_RESOLUTION),
                "height": _int(512, 1, MAX_RESOLUTION),
            }
        }

    def crop(self, mask: torch.Tensor, x: int, y: int, width: int, height: int):
        return (as_batch(mask)[:, y : y + height, x : x + width],)


class MaskComposite(_MaskNode):
    FUNCTION = "combine"
    operations = ["multiply", "add", "subtract", "and", "or", "xor"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "destination": ("MASK", {}),
                "source": ("MASK", {}),
                "x": _int(0, 0, MAX_RESOLUTION),
                "y": _int(0, 0, MAX_RESOLUTION),
                "operation": _combo(cls.operations),
            }
        }

    def combine(self, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str):
        output = as_batch(destination).clone()
        source = as_batch(source)
        right = min(x + source.shape[-1], output.shape[-1])
        bottom = min(y + source.shape[-2], output.shape[-2])
        src = source[:, : bottom - y, : right - x]
        dst = output[:, y:bottom, x:right]
        if operation == "multiply":
            result = dst * src
        elif operation == "add":
            result = dst + src
        elif operation == "subtract":
            result = dst - src
        elif operation in ("and", "or", "xor"):
            op = {"and": torch.bitwise_and, "or": torch.bitwise_or, "xor": torch.bitwise_xor}[operation]
            result = op(dst.round().bool(), src.round().bool()).float()
        else:
            raise ValueError(f"unknown mask operation {operation!r}")
        output[:, y:bottom, x:right] = result
        return (torch.clamp(output, 0.0, 1.0),)


class FeatherMask(_MaskNode):
    FUNCTION = "feather"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mask": ("MASK", {}),
                "left": _int(0, 0, MAX_RESOLUTION),
                "top": _int(0, 0, MAX_RESOLUTION),
                "right": _int(0, 0, MAX_RESOLUTION),
                "bottom": _int(0, 0, MAX_RESOLUTION),
            }
        }

    def feather(self, mask: torch.Tensor, left: int, top: int, right: int, bottom: int):
        out = as_batch(mask).clone()
        h, w = out.shape[-2], out.shape[-1]
        left, right, top, bottom = min(left, w), min(right, w), min(top, h), min(bottom, h)
        # ComfyUI's ramps: column/row k from the edge gets (k+1)/n. The right/bottom ramps index from
        # -0 (i.e. the first column/row) upward, a quirk kept for identical output.
        for k in range(left):
            out[:, :, k] *= (k + 1.0) / left
        for k in range(right):
            out[:, :, -k] *= (k + 1) / right
        for k in range(top):
            out[:, k, :] *= (k + 1) / top
        for k in range(bottom):
            out[:, -k, :] *= (k + 1) / bottom
        return (out,)


def _morph_step(m: torch.Tensor, grow: bool, tapered: bool) -> torch.Tensor:
    """One 3x3 grey dilation (grow) or erosion of [B,H,W]; tapered uses the cross footprint.

    Out-of-image neighbours are ignored, which equals scipy.ndimage's reflect border for a 3x3 window.
    """
    fill = float("-inf") if grow else float("inf")
    padded = F.pad(m.unsqueeze(1), (1, 1, 1, 1), mode="constant", value=fill).squeeze(1)
    h, w = m.shape[-2], m.shape[-1]
    offsets = [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)]
    if not tapered:
        offsets += [(0, 0), (0, 2), (2, 0), (2, 2)]
    stack = torch.stack([padded[:, dy : dy + h, dx : dx + w] for dy, dx in offsets])
    return stack.amax(0) if grow else stack.amin(0)


class GrowMask(_MaskNode):
    FUNCTION = "expand_mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mask": ("MASK", {}),
                "expand": _int(0, -MAX_RESOLUTION, MAX_RESOLUTION),
                "tapered_corners": ("BOOLEAN", {"default": True}),
            }
        }

    def expand_mask(self, mask: torch.Tensor, expand: int, tapered_corners: bool):
        out = as_batch(mask).clone()
        for _ in range(abs(expand)):
            out = _morph_step(out, expand > 0, tapered_corners)
        return (out,)


class ThresholdMask(_MaskNode):
    FUNCTION = "image_to_mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mask": ("MASK", {}),
                "value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
            }
        }

    def image_to_mask(self, mask: torch.Tensor, value: float):
        return ((mask > value).float(),)


class MaskPreview:
    RELATIVE_PYTHON_MODULE = MODULE
    RETURN_TYPES = ()
    FUNCTION = "execute"
    OUTPUT_NODE = True
    CATEGORY = "mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {})}, "hidden": dict(HIDDEN_V3)}

    def execute(self, mask: torch.Tensor, prompt: Any = None, extra_pnginfo: Any = None):
        p = paths()
        images = save_png_batch(
            mask_to_image(mask),
            temp_prefix(),
            p.get_temp_directory(),
            "temp",
            prompt=prompt,
            extra_pnginfo=extra_pnginfo,
            compress_level=1,
        )
        return {"ui": {"images": images, "animated": (False,)}}


NODE_CLASS_MAPPINGS = {
    "ImageCompositeMasked": ImageCompositeMasked,
    "MaskToImage": MaskToImage,
    "ImageToMask": ImageToMask,
    "ImageColorToMask": ImageColorToMask,
    "SolidMask": SolidMask,
    "InvertMask": InvertMask,
    "CropMask": CropMask,
    "MaskComposite": MaskComposite,
    "FeatherMask": FeatherMask,
    "GrowMask": GrowMask,
    "ThresholdMask": ThresholdMask,
    "MaskPreview": MaskPreview,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "MaskToImage": "Convert Mask to Image",
    "ImageToMask": "Convert Image to Mask",
    "GrowMask": "Grow Mask",
    "MaskPreview": "Preview Mask",
}
