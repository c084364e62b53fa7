"""ComfyUI's `node_helpers`: small utilities many custom packs import."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from comfy_core import runtime

_HASHES = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def conditioning_set_values(
    conditioning: list, values: dict[str, Any] | None = None, append: bool = False
) -> list:
    """A copy of `conditioning` with `values` set on every entry's options (added to old values with
    `append`)."""
    out = []
    for tensor, options in conditioning:
        options = options.copy()
        for key, value in (values or {}).items():
            if append and options.get(key) is not None:
                value = options[key] + value
            options[key] = value
        out.append([tensor, options])
    return out


def pillow(fn: Callable[[Any], Any], arg: Any) -> Any:
    """Call a PIL function, retrying once with truncated-image loading allowed."""
    from PIL import ImageFile, UnidentifiedImageError

    try:
        return fn(arg)
    except (OSError, UnidentifiedImageError, ValueError):
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def hasher() -> Callable[..., Any]:
    services = runtime.maybe_current()
    name = getattr(getattr(services, "config", None), "default_hashing_function", None) or "sha256"
    return _HASHES[name]


def string_to_torch_dtype(string: str) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(string)


def image_alpha_fix(destination: Any, source: Any) -> tuple[Any, Any]:
    from comfy_core.imageops import image_alpha_fix as impl

    return impl(destination, source)
