"""ComfyUI's `comfy_execution.utils`: the executing-node context."""

from __future__ import annotations

from comfy_core.progress import ExecutingContext, get_executing_context

__all__ = ["ExecutingContext", "get_executing_context"]
