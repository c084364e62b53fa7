"""GraphBuilder: build API-format graph fragments (for expansions and for test clients).

Same public API as ComfyUI's `comfy_execution.graph_utils.GraphBuilder`. The default id prefix that
`GraphBuilder()` allocates lives in a context variable set by the executor around each node call
(`"<node id>.<call index>.<graph index>."`), so concurrent async nodes never see each other's prefix.
"""

from __future__ import annotations

import contextvars
from typing import Any

from comfy_core.graph.links import is_link

_DEFAULT_PREFIX: contextvars.ContextVar[tuple[str, int, int]] = contextvars.ContextVar(
    "comfy_core_graph_builder_prefix", default=("", 0, 0)
)


class Node:
    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]) -> None:
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str | None) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            out["override_display_id"] = self.override_display_id
        return out


class GraphBuilder:
    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = GraphBuilder.alloc_prefix() if prefix is None else prefix
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        _DEFAULT_PREFIX.set((prefix_root, call_index, graph_index))

    @classmethod
    def alloc_prefix(
        cls, root: str | None = None, call_index: int | None = None, graph_index: int | None = None
    ) -> str:
        d_root, d_call, d_graph = _DEFAULT_PREFIX.get()
        root = d_root if root is None else root
        call_index = d_call if call_index is None else call_index
        graph_index = d_graph if graph_index is None else graph_index
        _DEFAULT_PREFIX.set((d_root, d_call, d_graph + 1))
        return f"{root}.{call_index}.{graph_index}."

    def node(self, class_type: str, id: str | None = None, **inputs: Any) -> Node:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        full_id = self.prefix + id
        existing = self.nodes.get(full_id)
        if existing is not None:
            return existing
        node = Node(full_id, class_type, inputs)
        self.nodes[full_id] = node
        return node

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + id)

    def finalize(self) -> dict[str, dict[str, Any]]:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        """Point every input linked to output `index` of `node_id` at `new_value` (None removes them)."""
        full_id = self.prefix + node_id
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_link(value) and value[0] == full_id and value[1] == index:
                    if new_value is None:
                        del node.inputs[key]
                    else:
                        node.inputs[key] = new_value

    def remove_node(self, id: str) -> None:
        del self.nodes[self.prefix + id]


def add_graph_prefix(
    graph: dict[str, dict[str, Any]], outputs: list | tuple, prefix: str
) -> tuple[dict[str, dict[str, Any]], tuple]:
    """Prefix every node id of `graph` (and internal links and `outputs` links) with `prefix`."""
    new_graph: dict[str, dict[str, Any]] = {}
    for node_id, info in graph.items():
        inputs = {}
        for name, value in info.get("inputs", {}).items():
            inputs[name] = [prefix + value[0], value[1]] if is_link(value) else value
        new_graph[prefix + node_id] = {"class_type": info["class_type"], "inputs": inputs}
    new_outputs = tuple([prefix + o[0], o[1]] if is_link(o) else o for o in outputs)
    return new_graph, new_outputs
