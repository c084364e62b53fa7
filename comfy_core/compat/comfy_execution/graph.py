"""ComfyUI's `comfy_execution.graph`: ExecutionBlocker, DynamicPrompt and the graph errors."""

from __future__ import annotations

from comfy_core.graph.links import ExecutionBlocker
from comfy_core.graph.prompt import (
    DependencyCycleError,
    DynamicPrompt,
    NodeInputError,
    NodeNotFoundError,
    get_input_info,
)

__all__ = [
    "ExecutionBlocker",
    "DynamicPrompt",
    "DependencyCycleError",
    "NodeInputError",
    "NodeNotFoundError",
    "get_input_info",
]
