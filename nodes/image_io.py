"""Image file nodes of ComfyUI's nodes.py: SaveImage, PreviewImage, LoadImage, LoadImageMask, LoadImageOutput."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import torch

from comfy_core.io.image_files import load_image_file, load_mask_channel, tensor_to_pil
from comfy_core.io.png import save_png
from comfy_core.paths import filter_files_content_types
from nodes._image_common import metadata_enabled, paths, saved_result, temp_prefix


def save_png_batch(
    images: torch.Tensor,
    filename_prefix: str,
    output_dir: str,
    folder_type: str,
    *,
    prompt: Any = None,
    extra_pnginfo: dict[str, Any] | None = None,
    compress_level: int = 4,
) -> list[dict[str, str]]:
    """One PNG per batch entry, named `<prefix>_<counter:05>_.png` with consecutive counters."""
    full_folder, filename, counter, subfolder, _ = paths().get_save_image_path(
        filename_prefix, output_dir, images[0].shape[1], images[0].shape[0]
    )
    with_metadata = metadata_enabled()
    results = []
    for batch_number, image in enumerate(images):
        name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        save_png(
            tensor_to_pil(image),
            os.path.join(full_folder, name),
            prompt=prompt,
            extra_pnginfo=extra_pnginfo,
            metadata=with_metadata,
            compress_level=compress_level,
        )
        results.append(saved_result(name, subfolder, folder_type))
        counter += 1
    return results


class SaveImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"

    folder_type = "output"
    compress_level = 4

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"images": ("IMAGE", {}), "filename_prefix": ("STRING", {"default": "ComfyUI"})},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def _target(self, filename_prefix: str) -> tuple[str, str]:
        return filename_prefix, paths().get_output_directory()

    def save_images(
        self,
        images: torch.Tensor,
        filename_prefix: str = "ComfyUI",
        prompt: Any = None,
        extra_pnginfo: Any = None,
    ) -> dict[str, Any]:
        prefix, directory = self._target(filename_prefix)
        results = save_png_batch(
            images,
            prefix,
            directory,
            self.folder_type,
            prompt=prompt,
            extra_pnginfo=extra_pnginfo,
            compress_level=self.compress_level,
        )
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    folder_type = "temp"
    compress_level = 1

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"images": ("IMAGE",)},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def _target(self, filename_prefix: str) -> tuple[str, str]:
        return temp_prefix(filename_prefix), paths().get_temp_directory()


def _file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _top_level_files(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [n for n in names if os.path.isfile(os.path.join(directory, n))]


def _validate_image_name(image: str) -> bool | str:
    """True for an existing file inside its (annotated) base directory, else ComfyUI's error string."""
    try:
        path = paths().resolve_annotated(image)
    except ValueError:
        return f"Invalid image file: {image}"
    if not path.exists():
        return f"Invalid image file: {image}"
    return True


class LoadImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        files = filter_files_content_types(_top_level_files(paths().get_input_directory()), ["image"])
        return {"required": {"image": (sorted(files), {"image_upload": True})}}

    def load_image(self, image: str) -> tuple[torch.Tensor, torch.Tensor]:
        return load_image_file(paths().resolve_annotated(image))

    @classmethod
    def IS_CHANGED(cls, image: str) -> str:
        return _file_sha256(paths().resolve_annotated(image))

    @classmethod
    def VALIDATE_INPUTS(cls, image: str) -> bool | str:
        return _validate_image_name(image)


class LoadImageMask:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"
    CATEGORY = "mask"

    _color_channels = ["alpha", "red", "green", "blue"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        files = _top_level_files(paths().get_input_directory())
        return {
            "required": {
                "image": (sorted(files), {"image_upload": True}),
                "channel": (list(cls._color_channels),),
            }
        }

    def load_image(self, image: str, channel: str) -> tuple[torch.Tensor]:
        return (load_mask_channel(paths().resolve_annotated(image), channel),)

    @classmethod
    def IS_CHANGED(cls, image: str, channel: str) -> str:
        return _file_sha256(paths().resolve_annotated(image))

    @classmethod
    def VALIDATE_INPUTS(cls, image: str) -> bool | str:
        return _validate_image_name(image)


class LoadImageOutput(LoadImage):
    """LoadImage whose combo lists output/ through the UI's remote route (values are annotated names)."""

    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": (
                    "COMBO",
                    {
                        "image_upload": True,
                        "image_folder": "output",
                        "remote": {
                            "route": "/internal/files/output",
                            "refresh_button": True,
                            "control_after_refresh": "first",
                        },
                    },
                )
            }
        }


NODE_CLASS_MAPPINGS = {
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
    "LoadImage": LoadImage,
    "LoadImageMask": LoadImageMask,
    "LoadImageOutput": LoadImageOutput,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
    "LoadImage": "Load Image",
    "LoadImageMask": "Load Image (as Mask)",
    "LoadImageOutput": "Load Image (from Outputs)",
}
