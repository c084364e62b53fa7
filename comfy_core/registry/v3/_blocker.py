"""Access to the executor's `ExecutionBlocker` without importing the graph package at module import."""

from __future__ import annotations

from typing import Any


def blocker_class() -> type:
    import comfy_core.graph as graph

    blocker = getattr(graph, "ExecutionBlocker", None)
    if blocker is None:
        from comfy_core.graph.links import ExecutionBlocker as blocker
    return blocker


def is_blocker(value: Any) -> bool:
    try:
        cls = blocker_class()
    except ImportError:
        return type(value).__name__ == "ExecutionBlocker"
    return isinstance(value, cls)


def make_blocker(message: str | None) -> Any:
    return blocker_class()(message)
