"""Animated image savers (ComfyUI's comfy_extras/nodes_images.py): SaveAnimatedWEBP, SaveAnimatedPNG."""

from __future__ import annotations

import os
from typing import Any

import torch

from comfy_core.io.image_files import tensor_to_pil
from comfy_core.io.png import save_animated_png
from comfy_core.io.webp import save_animated_webp
from nodes._image_common import metadata_enabled, paths, saved_result

MODULE = "comfy_extras.nodes_images"
HIDDEN_V3 = {"prompt": ("PROMPT",), "extra_pnginfo": ("EXTRA_PNGINFO",)}


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
    return {"ui": ui}


class SaveAnimatedWEBP:
    RELATIVE_PYTHON_MODULE = MODULE
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image/animation"
    COMPRESS_METHODS = {"default": 4, "fastest": 0, "slowest": 6}

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE", {}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "multiline": False}),
                "fps": ("FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}),
                "lossless": ("BOOLEAN", {"default": True}),
                "quality": ("INT", {"default": 80, "min": 0, "max": 100}),
                "method": ("COMBO", {"multiselect": False, "options": list(cls.COMPRESS_METHODS)}),
            },
            "hidden": dict(HIDDEN_V3),
        }

    def save_images(
        self,
        images: torch.Tensor,
        fps: float,
        filename_prefix: str,
        lossless: bool,
        quality: int,
        method: str,
        prompt: Any = None,
        extra_pnginfo: Any = None,
    ) -> dict[str, Any]:
        path, name, subfolder = _prepare(images, filename_prefix, "webp")
        save_animated_webp(
            [tensor_to_pil(img) for img in images],
            path,
            fps=fps,
            lossless=lossless,
            quality=quality,
            method=self.COMPRESS_METHODS.get(method, 4),
            prompt=prompt,
            extra_pnginfo=extra_pnginfo,
            metadata=metadata_enabled(),
        )
        return _ui(name, subfolder, len(images))


class SaveAnimatedPNG:
    RELATIVE_PYTHON_MODULE = MODULE
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image/animation"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE", {}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "multiline": False}),
                "fps": ("FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}),
                "compress_level": ("INT", {"default": 4, "min": 0, "max": 9}),
            },
            "hidden": dict(HIDDEN_V3),
        }

    def save_images(
        self,
        images: torch.Tensor,
        fps: float,
        compress_level: int,
        filename_prefix: str = "ComfyUI",
        prompt: Any = None,
        extra_pnginfo: Any = None,
    ) -> dict[str, Any]:
        path, name, subfolder = _prepare(images, filename_prefix, "png")
        save_animated_png(
            [tensor_to_pil(img) for img in images],
            path,
            fps=fps,
            compress_level=compress_level,
            prompt=prompt,
            extra_pnginfo=extra_pnginfo,
            metadata=metadata_enabled(),
        )
        return _ui(name, subfolder, len(images))


NODE_CLASS_MAPPINGS = {"SaveAnimatedWEBP": SaveAnimatedWEBP, "SaveAnimatedPNG": SaveAnimatedPNG}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
