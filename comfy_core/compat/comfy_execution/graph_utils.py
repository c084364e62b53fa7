"""ComfyUI's `comfy_execution.graph_utils`: GraphBuilder, Node, is_link, ExecutionBlocker."""

from __future__ import annotations

from comfy_core.graph.builder import GraphBuilder, Node, add_graph_prefix
from comfy_core.graph.links import ExecutionBlocker, is_link

__all__ = ["GraphBuilder", "Node", "add_graph_prefix", "ExecutionBlocker", "is_link"]
