"""ComfyUI's `comfy_api.latest`: io, ui, ComfyExtension, ComfyAPI, ComfyAPISync."""

from __future__ import annotations

from comfy_core.registry.v3 import io, ui
from comfy_core.registry.v3.api import ComfyAPI, ComfyAPISync, ComfyExtension

ComfyAPI_latest = ComfyAPI
IO = io
UI = ui

__all__ = ["ComfyAPI", "ComfyAPISync", "ComfyExtension", "io", "IO", "ui", "UI"]
