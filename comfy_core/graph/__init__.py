"""Prompt model, validation, execution list, lazy inputs, expansion and GraphBuilder (torch-free)."""

from comfy_core.graph.builder import GraphBuilder, Node, add_graph_prefix
from comfy_core.graph.execution_list import ExecutionList
from comfy_core.graph.links import ExecutionBlocker, is_link
from comfy_core.graph.prompt import (
    DependencyCycleError,
    DuplicateNodeError,
    DynamicPrompt,
    NodeInputError,
    NodeNotFoundError,
    get_input_info,
)
from comfy_core.graph.validation import validate_node_input, validate_prompt

__all__ = [
    "DependencyCycleError",
    "DuplicateNodeError",
    "DynamicPrompt",
    "ExecutionBlocker",
    "ExecutionList",
    "GraphBuilder",
    "Node",
    "NodeInputError",
    "NodeNotFoundError",
    "add_graph_prefix",
    "get_input_info",
    "is_link",
    "validate_node_input",
    "validate_prompt",
]
