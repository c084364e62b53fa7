"""Mask nodes (ComfyUI's comfy_extras/nodes_mask.py, V3 schema nodes): conversions, solid/crop/composite/
grow/feather, threshold and the mask preview.

Each node keeps its former V1 method name (`solid`, `invert`, ...) as an alias of `execute`, as ComfyUI
does, for packs that call these classes directly; the alias returns an `io.NodeOutput` (indexable).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from comfy_core.imageops import composite, image_alpha_fix
from comfy_core.registry.v3 import io, ui
from nodes._image_common import MAX_RESOLUTION

MODULE = "comfy_extras.nodes_mask"


def _int(id: str, default: int, lo: int = 0, hi: int = MAX_RESOLUTION, **extra) -> io.Int.Input:  # noqa: A002
    return io.Int.Input(id, default=default, min=lo, max=hi, step=1, **extra)


def as_batch(mask: torch.Tensor) -> torch.Tensor:
    """[H,W] or [B,H,W] (or [B,1,H,W]) -> [B,H,W]."""
    return mask.reshape((-1, mask.shape[-2], mask.shape[-1]))


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    return mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)


class _MaskNode(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE


class ImageCompositeMasked(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageCompositeMasked",
            category="image",
            inputs=[
                io.Image.Input("destination"),
                io.Image.Input("source"),
                _int("x", 0),
                _int("y", 0),
                io.Boolean.Input("resize_source", default=False),
                io.Mask.Input("mask", optional=True),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(
        cls,
        destination: torch.Tensor,
        source: torch.Tensor,
        x: int,
        y: int,
        resize_source: bool,
        mask: torch.Tensor | None = None,
    ) -> io.NodeOutput:
        destination, source = image_alpha_fix(destination, source)
        dest = destination.clone().movedim(-1, 1)
        out = composite(dest, source.movedim(-1, 1), x, y, mask, 1, resize_source)
        return io.NodeOutput(out.movedim(1, -1))

    composite = execute


class MaskToImage(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MaskToImage",
            display_name="Convert Mask to Image",
            category="mask",
            inputs=[io.Mask.Input("mask")],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, mask: torch.Tensor) -> io.NodeOutput:
        return io.NodeOutput(mask_to_image(mask))

    mask_to_image = execute


class ImageToMask(_MaskNode):
    channels = ["red", "green", "blue", "alpha"]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageToMask",
            display_name="Convert Image to Mask",
            category="mask",
            inputs=[io.Image.Input("image"), io.Combo.Input("channel", options=list(cls.channels))],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, channel: str) -> io.NodeOutput:
        return io.NodeOutput(image[:, :, :, cls.channels.index(channel)])

    image_to_mask = execute


class ImageColorToMask(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ImageColorToMask",
            category="mask",
            inputs=[
                io.Image.Input("image"),
                _int("color", 0, hi=0xFFFFFF, display_mode=io.NumberDisplay.number),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, color: int) -> io.NodeOutput:
        rgb = (torch.clamp(image, 0, 1.0) * 255.0).round().to(torch.int)
        packed = (rgb[:, :, :, 0] << 16) + (rgb[:, :, :, 1] << 8) + rgb[:, :, :, 2]
        return io.NodeOutput(torch.where(packed == color, 1.0, 0).float())

    image_to_mask = execute


class SolidMask(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SolidMask",
            category="mask",
            inputs=[
                io.Float.Input("value", default=1.0, min=0.0, max=1.0, step=0.01),
                _int("width", 512, lo=1),
                _int("height", 512, lo=1),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, value: float, width: int, height: int) -> io.NodeOutput:
        return io.NodeOutput(torch.full((1, height, width), value, dtype=torch.float32))

    solid = execute


class InvertMask(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="InvertMask",
            category="mask",
            inputs=[io.Mask.Input("mask")],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, mask: torch.Tensor) -> io.NodeOutput:
        return io.NodeOutput(1.0 - mask)

    invert = execute


class CropMask(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="CropMask",
            category="mask",
            inputs=[
                io.Mask.Input("mask"),
                _int("x", 0),
                _int("y", 0),
                _int("width", 512, lo=1),
                _int("height", 512, lo=1),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, mask: torch.Tensor, x: int, y: int, width: int, height: int) -> io.NodeOutput:
        return io.NodeOutput(as_batch(mask)[:, y : y + height, x : x + width])

    crop = execute


class MaskComposite(_MaskNode):
    operations = ["multiply", "add", "subtract", "and", "or", "xor"]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MaskComposite",
            category="mask",
            inputs=[
                io.Mask.Input("destination"),
                io.Mask.Input("source"),
                _int("x", 0),
                _int("y", 0),
                io.Combo.Input("operation", options=list(cls.operations)),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(
        cls, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str
    ) -> io.NodeOutput:
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
        return io.NodeOutput(torch.clamp(output, 0.0, 1.0))

    combine = execute


class FeatherMask(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FeatherMask",
            category="mask",
            inputs=[
                io.Mask.Input("mask"),
                _int("left", 0),
                _int("top", 0),
                _int("right", 0),
                _int("bottom", 0),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> io.NodeOutput:
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
        return io.NodeOutput(out)

    feather = execute


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
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GrowMask",
            display_name="Grow Mask",
            category="mask",
            inputs=[
                io.Mask.Input("mask"),
                _int("expand", 0, lo=-MAX_RESOLUTION),
                io.Boolean.Input("tapered_corners", default=True),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, mask: torch.Tensor, expand: int, tapered_corners: bool) -> io.NodeOutput:
        out = as_batch(mask).clone()
        for _ in range(abs(expand)):
            out = _morph_step(out, expand > 0, tapered_corners)
        return io.NodeOutput(out)

    expand_mask = execute


class ThresholdMask(_MaskNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ThresholdMask",
            category="mask",
            inputs=[
                io.Mask.Input("mask"),
                io.Float.Input("value", default=0.5, min=0.0, max=1.0, step=0.01),
            ],
            outputs=[io.Mask.Output()],
        )

    @classmethod
    def execute(cls, mask: torch.Tensor, value: float) -> io.NodeOutput:
        return io.NodeOutput((mask > value).float())

    image_to_mask = execute


class MaskPreview(_MaskNode):
    """Saves the mask as a grey PNG in temp/ (`ComfyUI_temp_<5 letters>_00001_.png`, compress level 1).

    Like ComfyUI's V3 node, the preview carries no workflow metadata (the UI helper gets no class).
    """

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MaskPreview",
            display_name="Preview Mask",
            category="mask",
            description="Saves the input images to your ComfyUI output directory.",
            inputs=[io.Mask.Input("mask")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, mask: torch.Tensor, filename_prefix: str = "ComfyUI") -> io.NodeOutput:
        return io.NodeOutput(ui=ui.PreviewMask(mask))


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

# The schemas' display names, as ComfyUI's loader records them for V3 nodes that set one.
NODE_DISPLAY_NAME_MAPPINGS = {
    "MaskToImage": "Convert Mask to Image",
    "ImageToMask": "Convert Image to Mask",
    "GrowMask": "Grow Mask",
    "MaskPreview": "Preview Mask",
}
