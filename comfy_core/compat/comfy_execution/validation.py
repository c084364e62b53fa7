"""ComfyUI's `comfy_execution.validation`: link type matching."""

from __future__ import annotations

from comfy_core.graph.validation import validate_node_input

__all__ = ["validate_node_input"]
