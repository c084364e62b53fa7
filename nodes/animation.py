"""Animated image savers (ComfyUI's comfy_extras/nodes_images.py, V3 schema nodes): SaveAnimatedWEBP,
SaveAnimatedPNG.

The workflow metadata comes from the hidden values (`cls.hidden.prompt` / `extra_pnginfo`) that the executor
binds to a per-call class clone. `save_images` stays as an alias of `execute`, as in ComfyUI.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from comfy_core.io.image_files import tensor_to_pil
from comfy_core.io.png import save_animated_png
from comfy_core.io.webp import save_animated_webp
from comfy_core.registry.v3 import io
from nodes._image_common import metadata_enabled, paths, saved_result

MODULE = "comfy_extras.nodes_images"


def _prepare(images: torch.Tensor, filename_prefix: str, extension: str) -> tuple[str, str, str]:
    """(full path of the new file, file name, subfolder) in output/."""
    p = paths()
    folder, filename, counter, subfolder, _ = p.get_save_image_path(
        filename_prefix, p.get_output_directory(), images[0].shape[1], images[0].shape[0]
    )
    name = f"{filename}_{counter:05}_.{extension}"
    return os.path.join(folder, name), name, subfolder


def _ui(name: str, subfolder: str, frames: int) -> dict[str, Any]:
    ui: dict[str, Any] = {"images": [saved_result(name, subfolder, "output")]}
    if frames > 1:
        ui["animated"] = (True,)
    return ui


def _frames(images: torch.Tensor) -> list[Any]:
    return [tensor_to_pil(img) for img in images]


class SaveAnimatedWEBP(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE
    COMPRESS_METHODS = {"default": 4, "fastest": 0, "slowest": 6}

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SaveAnimatedWEBP",
            category="image/animation",
            inputs=[
                io.Image.Input("images"),
                io.String.Input("filename_prefix", default="ComfyUI"),
                io.Float.Input("fps", default=6.0, min=0.01, max=1000.0, step=0.01),
                io.Boolean.Input("lossless", default=True),
                io.Int.Input("quality", default=80, min=0, max=100),
                io.Combo.Input("method", options=list(cls.COMPRESS_METHODS)),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(
        cls,
        images: torch.Tensor,
        fps: float,
        filename_prefix: str,
        lossless: bool,
        quality: int,
        method: str,
        num_frames: int = 0,
    ) -> io.NodeOutput:
        path, name, subfolder = _prepare(images, filename_prefix, "webp")
        save_animated_webp(
            _frames(images),
            path,
            fps=fps,
            lossless=lossless,
            quality=quality,
            method=cls.COMPRESS_METHODS.get(method, 4),
            prompt=cls.hidden.prompt,
            extra_pnginfo=cls.hidden.extra_pnginfo,
            metadata=metadata_enabled(),
        )
        return io.NodeOutput(ui=_ui(name, subfolder, len(images)))

    save_images = execute


class SaveAnimatedPNG(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SaveAnimatedPNG",
            category="image/animation",
            inputs=[
                io.Image.Input("images"),
                io.String.Input("filename_prefix", default="ComfyUI"),
                io.Float.Input("fps", default=6.0, min=0.01, max=1000.0, step=0.01),
                io.Int.Input("compress_level", default=4, min=0, max=9),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(
        cls, images: torch.Tensor, fps: float, compress_level: int, filename_prefix: str = "ComfyUI"
    ) -> io.NodeOutput:
        path, name, subfolder = _prepare(images, filename_prefix, "png")
        save_animated_png(
            _frames(images),
            path,
            fps=fps,
            compress_level=compress_level,
            prompt=cls.hidden.prompt,
            extra_pnginfo=cls.hidden.extra_pnginfo,
            metadata=metadata_enabled(),
        )
        return io.NodeOutput(ui=_ui(name, subfolder, len(images)))

    save_images = execute


NODE_CLASS_MAPPINGS = {"SaveAnimatedWEBP": SaveAnimatedWEBP, "SaveAnimatedPNG": SaveAnimatedPNG}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
