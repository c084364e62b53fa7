"""Image transform nodes: scaling, batching, padding, cropping, blending.

Classes from ComfyUI's nodes.py are V1 classes; those from comfy_extras (nodes_images, nodes_post_processing,
nodes_rebatch) are V3 schema nodes as in ComfyUI, each keeping its former V1 method name as an alias of
`execute` (ComfyUI does the same) for packs that call them directly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from comfy_core.imageops import common_upscale, image_alpha_fix, scale_image
from comfy_core.registry.v3 import io
from nodes._image_common import MAX_RESOLUTION
from nodes.animation import NODE_CLASS_MAPPINGS as _ANIMATION_NODES
from nodes.animation import NODE_DISPLAY_NAME_MAPPINGS as _ANIMATION_TITLES
from nodes.image_io import NODE_CLASS_MAPPINGS as _IO_NODES
from nodes.image_io import NODE_DISPLAY_NAME_MAPPINGS as _IO_TITLES

SCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]


def _int(default: int, lo: int, hi: int, step: int | None = 1, **extra: Any) -> tuple[str, dict[str, Any]]:
    opts: dict[str, Any] = {"default": default, "min": lo, "max": hi}
    if step is not None:
        opts["step"] = step
    opts.update(extra)
    return ("INT", opts)


class ImageScale:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    CATEGORY = "image/upscaling"
    upscale_methods = SCALE_METHODS
    crop_methods = ["disabled", "center"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE",),
                "upscale_method": (list(cls.upscale_methods),),
                "width": _int(512, 0, MAX_RESOLUTION),
                "height": _int(512, 0, MAX_RESOLUTION),
                "crop": (list(cls.crop_methods),),
            }
        }

    def upscale(self, image: torch.Tensor, upscale_method: str, width: int, height: int, crop: str):
        if width == 0 and height == 0:
            return (image,)
        h, w = image.shape[1], image.shape[2]
        if width == 0:  # keep the aspect ratio from the given side
            width = max(1, round(w * height / h))
        elif height == 0:
            height = max(1, round(h * width / w))
        return (scale_image(image, width, height, upscale_method, crop),)


class ImageScaleBy:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    CATEGORY = "image/upscaling"
    upscale_methods = SCALE_METHODS

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE",),
                "upscale_method": (list(cls.upscale_methods),),
                "scale_by": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01}),
            }
        }

    def upscale(self, image: torch.Tensor, upscale_method: str, scale_by: float):
        width = round(image.shape[2] * scale_by)
        height = round(image.shape[1] * scale_by)
        return (scale_image(image, width, height, upscale_method, "disabled"),)


class ImageScaleToTotalPixels(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_post_processing"
    upscale_methods = SCALE_METHODS

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageScaleToTotalPixels",
            category="image/upscaling",
            inputs=[
                io.Image.Input("image"),
                io.Combo.Input("upscale_method", options=list(cls.upscale_methods)),
                io.Float.Input("megapixels", default=1.0, min=0.01, max=16.0, step=0.01),
                io.Int.Input("resolution_steps", default=1, min=1, max=256),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(
        cls, image: torch.Tensor, upscale_method: str, megapixels: float, resolution_steps: int = 1
    ) -> io.NodeOutput:
        h, w = image.shape[1], image.shape[2]
        scale_by = math.sqrt(megapixels * 1024 * 1024 / (w * h))
        width = round(w * scale_by / resolution_steps) * resolution_steps
        height = round(h * scale_by / resolution_steps) * resolution_steps
        return io.NodeOutput(scale_image(image, int(width), int(height), upscale_method, "disabled"))

    upscale = execute


class ImageInvert:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "invert"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",)}}

    def invert(self, image: torch.Tensor):
        return (1.0 - image,)


class ImageBatch:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "batch"
    CATEGORY = "image"
    DEPRECATED = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",)}}

    def batch(self, image1: torch.Tensor, image2: torch.Tensor):
        if image1.shape[-1] != image2.shape[-1]:  # RGB next to RGBA: give the RGB one an opaque alpha
            if image1.shape[-1] > image2.shape[-1]:
                image2 = F.pad(image2, (0, 1), mode="constant", value=1.0)
            else:
                image1 = F.pad(image1, (0, 1), mode="constant", value=1.0)
        if image1.shape[1:] != image2.shape[1:]:
            image2 = scale_image(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
        return (torch.cat((image1, image2), dim=0),)


class EmptyImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "width": _int(512, 1, MAX_RESOLUTION),
                "height": _int(512, 1, MAX_RESOLUTION),
                "batch_size": _int(1, 1, 4096, step=None),
                "color": _int(0, 0, 0xFFFFFF, display="color"),
            }
        }

    def generate(self, width: int, height: int, batch_size: int = 1, color: int = 0):
        channels = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
        planes = [torch.full([batch_size, height, width, 1], v) for v in channels]
        return (torch.cat(planes, dim=-1),)


def outpaint_feather(
    h: int, w: int, feathering: int, top: bool, bottom: bool, left: bool, right: bool
) -> torch.Tensor:
    """[h,w] weights ((f - d) / f)^2 within `feathering` pixels of each padded side, 0 elsewhere.

    d is the distance to the nearest padded edge; sides without padding do not count. Computed in
    float64 and stored as float32, like the per-pixel Python loop it replaces.
    """
    t = torch.zeros((h, w), dtype=torch.float32)
    if not (feathering > 0 and feathering * 2 < h and feathering * 2 < w):
        return t
    i = torch.arange(h, dtype=torch.float64)[:, None].expand(h, w)
    j = torch.arange(w, dtype=torch.float64)[None, :].expand(h, w)
    dt = i if top else torch.full_like(i, h)
    db = h - i if bottom else torch.full_like(i, h)
    dl = j if left else torch.full_like(j, w)
    dr = w - j if right else torch.full_like(j, w)
    d = torch.minimum(torch.minimum(dt, db), torch.minimum(dl, dr))
    v = (feathering - d) / feathering
    return torch.where(d < feathering, v * v, torch.zeros_like(v)).to(torch.float32)


class ImagePadForOutpaint:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "expand_image"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE",),
                "left": _int(0, 0, MAX_RESOLUTION, step=8),
                "top": _int(0, 0, MAX_RESOLUTION, step=8),
                "right": _int(0, 0, MAX_RESOLUTION, step=8),
                "bottom": _int(0, 0, MAX_RESOLUTION, step=8),
                "feathering": _int(40, 0, MAX_RESOLUTION),
            }
        }

    def expand_image(
        self, image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int
    ):
        b, h, w, c = image.shape
        new_image = torch.full((b, h + top + bottom, w + left + right, c), 0.5, dtype=torch.float32)
        new_image[:, top : top + h, left : left + w, :] = image
        mask = torch.ones((h + top + bottom, w + left + right), dtype=torch.float32)
        mask[top : top + h, left : left + w] = outpaint_feather(
            h, w, feathering, top != 0, bottom != 0, left != 0, right != 0
        )
        return (new_image, mask.unsqueeze(0))


class _ImagesNode(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_images"


class ImageCrop(_ImagesNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageCrop",
            display_name="Image Crop",
            category="image/transform",
            inputs=[
                io.Image.Input("image"),
                io.Int.Input("width", default=512, min=1, max=MAX_RESOLUTION, step=1),
                io.Int.Input("height", default=512, min=1, max=MAX_RESOLUTION, step=1),
                io.Int.Input("x", default=0, min=0, max=MAX_RESOLUTION, step=1),
                io.Int.Input("y", default=0, min=0, max=MAX_RESOLUTION, step=1),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, width: int, height: int, x: int, y: int) -> io.NodeOutput:
        x = min(x, image.shape[2] - 1)
        y = min(y, image.shape[1] - 1)
        return io.NodeOutput(image[:, y : y + height, x : x + width, :])

    crop = execute


class RepeatImageBatch(_ImagesNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RepeatImageBatch",
            category="image/batch",
            inputs=[io.Image.Input("image"), io.Int.Input("amount", default=1, min=1, max=4096)],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, amount: int) -> io.NodeOutput:
        return io.NodeOutput(image.repeat((amount, 1, 1, 1)))

    repeat = execute


class ImageFromBatch(_ImagesNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageFromBatch",
            category="image/batch",
            inputs=[
                io.Image.Input("image"),
                io.Int.Input("batch_index", default=0, min=0, max=4095),
                io.Int.Input("length", default=1, min=1, max=4096),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, batch_index: int, length: int) -> io.NodeOutput:
        batch_index = min(image.shape[0] - 1, batch_index)
        length = min(image.shape[0] - batch_index, length)
        return io.NodeOutput(image[batch_index : batch_index + length].clone())

    frombatch = execute


class ImageFlip(_ImagesNode):
    methods = ["x-axis: vertically", "y-axis: horizontally"]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageFlip",
            category="image/transform",
            inputs=[io.Image.Input("image"), io.Combo.Input("flip_method", options=list(cls.methods))],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, flip_method: str) -> io.NodeOutput:
        dim = 1 if flip_method.startswith("x") else 2
        return io.NodeOutput(torch.flip(image, dims=[dim]))

    flip = execute


class ImageRotate(_ImagesNode):
    rotations = ["none", "90 degrees", "180 degrees", "270 degrees"]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageRotate",
            category="image/transform",
            inputs=[io.Image.Input("image"), io.Combo.Input("rotation", options=list(cls.rotations))],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, rotation: str) -> io.NodeOutput:
        turns = cls.rotations.index(rotation)  # clockwise quarter turns
        if turns == 0:
            return io.NodeOutput(image)
        return io.NodeOutput(torch.rot90(image, k=turns, dims=[2, 1]))

    rotate = execute


def _soft_light_g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def blend_pixels(img1: torch.Tensor, img2: torch.Tensor, mode: str) -> torch.Tensor:
    """The blend of img2 over img1 before mixing (W3C compositing formulas; soft light per the spec)."""
    if mode == "normal":
        return img2
    if mode == "multiply":
        return img1 * img2
    if mode == "screen":
        return 1 - (1 - img1) * (1 - img2)
    if mode == "overlay":
        return torch.where(img1 <= 0.5, 2 * img1 * img2, 1 - 2 * (1 - img1) * (1 - img2))
    if mode == "soft_light":
        dark = img1 - (1 - 2 * img2) * img1 * (1 - img1)
        light = img1 + (2 * img2 - 1) * (_soft_light_g(img1) - img1)
        return torch.where(img2 <= 0.5, dark, light)
    if mode == "difference":
        return img1 - img2
    raise ValueError(f"Unsupported blend mode: {mode}")


class ImageBlend(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_post_processing"
    modes = ["normal", "multiply", "screen", "overlay", "soft_light", "difference"]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageBlend",
            category="image/postprocessing",
            inputs=[
                io.Image.Input("image1"),
                io.Image.Input("image2"),
                io.Float.Input("blend_factor", default=0.5, min=0.0, max=1.0, step=0.01),
                io.Combo.Input("blend_mode", options=list(cls.modes)),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(
        cls, image1: torch.Tensor, image2: torch.Tensor, blend_factor: float, blend_mode: str
    ) -> io.NodeOutput:
        image1, image2 = image_alpha_fix(image1, image2)
        image2 = image2.to(image1.device)
        if image1.shape != image2.shape:
            image2 = common_upscale(
                image2.permute(0, 3, 1, 2), image1.shape[2], image1.shape[1], "bicubic", "center"
            ).permute(0, 2, 3, 1)
        blended = blend_pixels(image1, image2, blend_mode)
        blended = image1 * (1 - blend_factor) + blended * blend_factor
        return io.NodeOutput(torch.clamp(blended, 0, 1))

    blend_images = execute


class RebatchImages(io.ComfyNode):
    """Input lists in, output list out: every incoming image is split into singles, then regrouped."""

    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_rebatch"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RebatchImages",
            display_name="Rebatch Images",
            category="image/batch",
            is_input_list=True,
            inputs=[io.Image.Input("images"), io.Int.Input("batch_size", default=1, min=1, max=4096)],
            outputs=[io.Image.Output(is_output_list=True)],
        )

    @classmethod
    def execute(cls, images: list[torch.Tensor], batch_size: list[int]) -> io.NodeOutput:
        size = batch_size[0]
        singles = [img[i : i + 1] for img in images for i in range(img.shape[0])]
        return io.NodeOutput([torch.cat(singles[i : i + size], dim=0) for i in range(0, len(singles), size)])

    rebatch = execute


# The `image` domain also carries the file nodes (image_io) and animated savers (animation), which live in
# their own modules to keep files small.
NODE_CLASS_MAPPINGS = {
    **_IO_NODES,
    "ImageScale": ImageScale,
    "ImageScaleBy": ImageScaleBy,
    "ImageScaleToTotalPixels": ImageScaleToTotalPixels,
    "ImageInvert": ImageInvert,
    "ImageBatch": ImageBatch,
    "EmptyImage": EmptyImage,
    "ImagePadForOutpaint": ImagePadForOutpaint,
    "ImageCrop": ImageCrop,
    "RepeatImageBatch": RepeatImageBatch,
    "ImageFromBatch": ImageFromBatch,
    "ImageFlip": ImageFlip,
    "ImageRotate": ImageRotate,
    "ImageBlend": ImageBlend,
    "RebatchImages": RebatchImages,
    **_ANIMATION_NODES,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    **_IO_TITLES,
    "ImageScale": "Upscale Image",
    "ImageScaleBy": "Upscale Image By",
    "ImageInvert": "Invert Image",
    "ImageBatch": "Batch Images",
    "ImagePadForOutpaint": "Pad Image for Outpainting",
    "ImageCrop": "Image Crop",
    "RebatchImages": "Rebatch Images",
    **_ANIMATION_TITLES,
}
