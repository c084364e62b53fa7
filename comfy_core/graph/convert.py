"""UI workflow JSON -> API prompt, the backend twin of the frontend's `graphToPrompt` (contract 10.3).

Needs the `/object_info` records to know which inputs are widgets (their order in `widgets_values`,
`control_after_generate` and `image_upload` extra slots). Handles schema 0.4 link tuples and schema 1
link objects, muted (mode 2) and bypassed (mode 4) nodes, Reroute, PrimitiveNode, Note/MarkdownNote,
converted widgets (a link wins over the stored value) and subgraph instances (flattened to ids
`"<instance>:<inner>"`). Torch-free and pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MUTED, BYPASS = 2, 4
VIRTUAL_TYPES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
SUBGRAPH_INPUT_NODE, SUBGRAPH_OUTPUT_NODE = -10, -20


class ConversionError(ValueError):
    """The workflow is not a UI workflow this converter understands."""


@dataclass
class Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: Any = None


def _parse_links(raw: Any) -> dict[Any, Link]:
    links: dict[Any, Link] = {}
    for item in raw or []:
        if isinstance(item, dict):
            links[item["id"]] = Link(
                item["origin_id"],
                int(item["origin_slot"]),
                item["target_id"],
                int(item["target_slot"]),
                item.get("type"),
            )
        elif isinstance(item, (list, tuple)) and len(item) >= 5:
            links[item[0]] = Link(
                item[1], int(item[2]), item[3], int(item[4]), item[5] if len(item) > 5 else None
            )
        else:
            raise ConversionError(f"unreadable link {item!r}")
    return links


@dataclass
class Graph:
    """One level of the workflow: the root graph or one subgraph instance's definition."""

    nodes: dict[str, dict[str, Any]]
    links: dict[Any, Link]
    prefix: str = ""
    definition: dict[str, Any] | None = None  # the subgraph definition (None for the root)
    parent: Graph | None = None
    instance: dict[str, Any] | None = None  # the instance node in the parent graph
    children: dict[str, Graph] = field(default_factory=dict)

    def flat_id(self, node_id: Any) -> str:
        return f"{self.prefix}{node_id}"


def _is_widget(spec: Any) -> bool:
    if not isinstance(spec, (list, tuple)) or not spec:
        return False
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _widget_inputs(info: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, options) of every widget input in widget creation order."""
    out = []
    inputs = info.get("input") or {}
    order = info.get("input_order") or {k: list(v) for k, v in inputs.items()}
    for section in ("required", "optional"):
        specs = inputs.get(section) or {}
        for name in order.get(section) or []:
            spec = specs.get(name)
            if _is_widget(spec):
                opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                out.append((name, opts))
    return out


def _widget_values(node: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Map widget name -> stored value, skipping the UI-only control/upload entries."""
    stored = node.get("widgets_values")
    widgets = _widget_inputs(info)
    if isinstance(stored, dict):
        return {name: stored[name] for name, _ in widgets if name in stored}
    values = list(stored or [])
    out: dict[str, Any] = {}
    i = 0
    for name, opts in widgets:
        if i >= len(values):
            break
        out[name] = values[i]
        i += 1
        if (
            opts.get("control_after_generate")
            and i < len(values)
            and (values[i] in CONTROL_VALUES or isinstance(values[i], bool))
        ):
            i += 1
        if opts.get("image_upload") and i < len(values) and values[i] in ("image", None, ""):
            i += 1
    return out


class Converter:
    def __init__(self, workflow: dict[str, Any], object_info: dict[str, Any]) -> None:
        if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
            raise ConversionError("a UI workflow needs a 'nodes' list")
        self.info = object_info
        definitions = (workflow.get("definitions") or {}).get("subgraphs") or []
        self.subgraphs = {d["id"]: d for d in definitions if isinstance(d, dict) and "id" in d}
        self.root = self._graph(workflow, "", None, None, None)
        self.prompt: dict[str, Any] = {}

    def _graph(
        self, data: dict, prefix: str, definition: dict | None, parent: Graph | None, instance: dict | None
    ) -> Graph:
        nodes = {}
        for node in data.get("nodes") or []:
            if not isinstance(node, dict) or "id" not in node or "type" not in node:
                raise ConversionError(f"unreadable node {node!r}")
            nodes[str(node["id"])] = node
        return Graph(nodes, _parse_links(data.get("links")), prefix, definition, parent, instance)

    def child(self, graph: Graph, node: dict) -> Graph:
        key = str(node["id"])
        if key not in graph.children:
            graph.children[key] = self._graph(
                self.subgraphs[node["type"]],
                f"{graph.prefix}{key}:",
                self.subgraphs[node["type"]],
                graph,
                node,
            )
        return graph.children[key]

    # link resolution ---------------------------------------------------------------------------
    def input_source(self, graph: Graph, node: dict, slot: int) -> tuple | None:
        inputs = node.get("inputs") or []
        if slot >= len(inputs):
            return None
        link_id = inputs[slot].get("link")
        if link_id is None:
            return None
        link = graph.links.get(link_id)
        if link is None:
            return None
        return self.output_source(graph, link.origin_id, link.origin_slot, link.type)

    def output_source(
        self, graph: Graph, origin_id: Any, slot: int, link_type: Any, depth: int = 0
    ) -> tuple | None:
        """("link", flat id, slot) or ("value", v) for what feeds a link, or None when nothing does."""
        if depth > 256:
            raise ConversionError("link resolution loops")
        if origin_id == SUBGRAPH_INPUT_NODE:
            return self._from_instance_input(graph, slot)
        node = graph.nodes.get(str(origin_id))
        if node is None:
            return None
        kind, mode = node["type"], node.get("mode", 0)
        if mode == MUTED or kind in ("Note", "MarkdownNote"):
            return None
        if kind == "Reroute":
            return self.input_source(graph, node, 0)
        if kind == "PrimitiveNode":
            values = node.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if mode == BYPASS:
            index = self._bypass_input(node, slot, link_type)
            return None if index is None else self.input_source(graph, node, index)
        if kind in self.subgraphs:
            return self._from_subgraph_output(self.child(graph, node), slot, depth)
        return ("link", graph.flat_id(node["id"]), slot)

    @staticmethod
    def _bypass_input(node: dict, slot: int, link_type: Any) -> int | None:
        """The input a bypassed node passes through to output `slot`: same index if the type matches,
        else the first input of that type."""
        outputs = node.get("outputs") or []
        wanted = outputs[slot].get("type") if slot < len(outputs) else link_type
        inputs = node.get("inputs") or []
        if slot < len(inputs) and inputs[slot].get("type") == wanted and inputs[slot].get("link") is not None:
            return slot
        for i, inp in enumerate(inputs):
            if inp.get("type") == wanted and inp.get("link") is not None:
                return i
        return None

    def _from_instance_input(self, graph: Graph, slot: int) -> tuple | None:
        parent, instance, definition = graph.parent, graph.instance, graph.definition
        if parent is None or instance is None or definition is None:
            return None
        sub_inputs = definition.get("inputs") or []
        name = sub_inputs[slot].get("name") if slot < len(sub_inputs) else None
        inputs = instance.get("inputs") or []
        index = next((i for i, inp in enumerate(inputs) if inp.get("name") == name), slot)
        if index < len(inputs) and inputs[index].get("link") is not None:
            return self.input_source(parent, instance, index)
        widget_names = [inp.get("widget", {}).get("name") for inp in inputs if inp.get("widget")]
        values = instance.get("widgets_values")
        if name in widget_names and isinstance(values, list) and widget_names.index(name) < len(values):
            return ("value", values[widget_names.index(name)])
        return None

    def _from_subgraph_output(self, inner: Graph, slot: int, depth: int) -> tuple | None:
        outputs = (inner.definition or {}).get("outputs") or []
        if slot >= len(outputs):
            return None
        for link_id in outputs[slot].get("linkIds") or []:
            link = inner.links.get(link_id)
            if link is not None:
                return self.output_source(inner, link.origin_id, link.origin_slot, link.type, depth + 1)
        return None

    # emission ----------------------------------------------------------------------------------
    def convert(self) -> dict[str, Any]:
        self._emit(self.root)
        for entry in self.prompt.values():
            for name, value in list(entry["inputs"].items()):
                if (
                    isinstance(value, list)
                    and len(value) == 2
                    and isinstance(value[0], str)
                    and isinstance(value[1], int)
                    and value[0] not in self.prompt
                ):
                    del entry["inputs"][name]
        return self.prompt

    def _emit(self, graph: Graph) -> None:
        for node in graph.nodes.values():
            kind, mode = node["type"], node.get("mode", 0)
            if kind in VIRTUAL_TYPES or mode in (MUTED, BYPASS):
                continue
            if kind in self.subgraphs:
                self._emit(self.child(graph, node))
                continue
            self.prompt[graph.flat_id(node["id"])] = self._entry(graph, node)

    def _entry(self, graph: Graph, node: dict) -> dict[str, Any]:
        info = self.info.get(node["type"]) or {}
        inputs: dict[str, Any] = {}
        for name, value in _widget_values(node, info).items():
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
        for slot, inp in enumerate(node.get("inputs") or []):
            source = self.input_source(graph, node, slot)
            name = inp.get("name") or (inp.get("widget") or {}).get("name")
            if source is None or name is None:
                continue
            if source[0] == "link":
                inputs[name] = [source[1], source[2]]
            else:
                inputs[name] = {"__value__": source[1]} if isinstance(source[1], list) else source[1]
        title = node.get("title") or info.get("display_name") or node["type"]
        return {"inputs": inputs, "class_type": node["type"], "_meta": {"title": title}}


def workflow_to_prompt(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, Any]:
    """The API-format prompt for a UI workflow (see module docstring)."""
    try:
        return Converter(workflow, object_info).convert()
    except (KeyError, TypeError, AttributeError) as err:
        raise ConversionError(f"malformed workflow: {type(err).__name__}: {err}") from err


def is_api_prompt(data: Any) -> bool:
    """True for an API-format prompt: every value has a string class_type and an inputs object."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(
            isinstance(v, dict) and isinstance(v.get("class_type"), str) and isinstance(v.get("inputs"), dict)
            for v in data.values()
        )
    )
