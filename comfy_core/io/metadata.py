"""Read the `prompt` / `workflow` a saved image carries (PNG text or comf chunks, WEBP EXIF).

Used for PNG drag-and-drop and `main.py run image.png`.
"""

from __future__ import annotations

import os
from typing import Any

from comfy_core.io.png import PNG_SIGNATURE, parse_workflow_entries, read_png_text
from comfy_core.io.webp import read_webp_text


def read_image_text(path: str | os.PathLike[str]) -> dict[str, str]:
    """Raw metadata entries of a PNG or WEBP file ({} for other formats)."""
    with open(path, "rb") as f:
        head = f.read(16)
        if head.startswith(PNG_SIGNATURE):
            return read_png_text(head + f.read())
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return read_webp_text(path)
    return {}


def read_workflow_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """{'prompt': API graph, 'workflow': UI graph}, each present only when stored as valid JSON."""
    return parse_workflow_entries(read_image_text(path))
