"""The V3 node API (ComfyUI's `comfy_api.latest`): `io`, `ui`, `ComfyExtension`, `ComfyAPI`, `ComfyAPISync`.

Torch-free at import. Re-exported under ComfyUI's module names by `comfy_core.compat`.
"""

from __future__ import annotations

from comfy_core.registry.v3 import io, ui
from comfy_core.registry.v3.api import ComfyAPI, ComfyAPISync, ComfyExtension

IO = io
UI = ui

__all__ = ["io", "ui", "IO", "UI", "ComfyExtension", "ComfyAPI", "ComfyAPISync"]
