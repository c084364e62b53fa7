"""WEBP workflow metadata in EXIF (section 10.4): tag 0x0110 (Model) = "prompt:<json>", extra keys from
0x010F (Make) downward as "<key>:<json>"."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

PROMPT_TAG = 0x0110
FIRST_EXTRA_TAG = 0x010F


def webp_exif(image: Image.Image, prompt: Any | None, extra_pnginfo: Mapping[str, Any] | None) -> Image.Exif:
    exif = image.getexif()
    if prompt is not None:
        exif[PROMPT_TAG] = f"prompt:{json.dumps(prompt)}"
    if extra_pnginfo is not None:
        tag = FIRST_EXTRA_TAG
        for key, value in extra_pnginfo.items():
            exif[tag] = f"{key}:{json.dumps(value)}"
            tag -= 1
    return exif


def read_webp_text(path: str | os.PathLike[str]) -> dict[str, str]:
    """{key: json text} from the EXIF strings shaped `key:value` (how the UI reads WEBP workflows)."""
    with Image.open(path) as img:
        exif = img.getexif()
    out: dict[str, str] = {}
    for _tag, value in exif.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            continue
        key, sep, rest = value.partition(":")
        if sep and key:
            out[key] = rest
    return out


def save_animated_webp(
    frames: Sequence[Image.Image],
    path: str | os.PathLike[str],
    *,
    fps: float,
    lossless: bool = True,
    quality: int = 80,
    method: int = 4,
    prompt: Any | None = None,
    extra_pnginfo: Mapping[str, Any] | None = None,
    metadata: bool = True,
) -> None:
    if not frames:
        raise ValueError("an animated WEBP needs at least one frame")
    exif = webp_exif(frames[0], prompt, extra_pnginfo) if metadata else frames[0].getexif()
    frames[0].save(
        path,
        format="WEBP",
        save_all=True,
        duration=int(1000.0 / fps),
        append_images=list(frames[1:]),
        exif=exif,
        lossless=lossless,
        quality=quality,
        method=method,
    )
