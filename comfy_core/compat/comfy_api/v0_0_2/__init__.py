"""ComfyUI's `comfy_api.v0_0_2`: the stable 0.0.2 public API (same io/ui as latest)."""

from __future__ import annotations

from comfy_core.registry.v3 import io, ui
from comfy_core.registry.v3.api import ComfyExtension, versioned

ComfyAPI, ComfyAPISync = versioned("0.0.2", stable=True)
ComfyAPI_v0_0_2 = ComfyAPI
IO = io
UI = ui

__all__ = ["ComfyAPI", "ComfyAPISync", "ComfyExtension", "io", "IO", "ui", "UI"]
