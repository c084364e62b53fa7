"""GraphBuilder / Node / DynamicPrompt / ExecutionList basics."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from comfy_core.graph import (
    DependencyCycleError,
    DynamicPrompt,
    ExecutionList,
    GraphBuilder,
    NodeInputError,
    NodeNotFoundError,
    add_graph_prefix,
    is_link,
)


def test_is_link():
    assert is_link(["1", 0]) and is_link(["a", 1.0])
    assert not is_link([1, 0]) and not is_link(["1"]) and not is_link(("1", 0)) and not is_link(["1", "0"])


def test_builder_ids_links_and_finalize():
    g = GraphBuilder(prefix="p_")
    a = g.node("A", value=1)
    b = g.node("B", x=a.out(0))
    assert (a.id, b.id) == ("p_1", "p_2")
    assert g.node("A", id="1") is a  # existing id returns the same node
    b.set_override_display_id("9")
    b.set_input("y", None)
    b.set_input("z", 3)
    assert b.get_input("x") == ["p_1", 0]
    assert g.finalize() == {
        "p_1": {"class_type": "A", "inputs": {"value": 1}},
        "p_2": {"class_type": "B", "inputs": {"x": ["p_1", 0], "z": 3}, "override_display_id": "9"},
    }
    g.replace_node_output("1", 0, 5)
    assert b.inputs["x"] == 5
    assert g.lookup_node("2") is b and g.lookup_node("3") is None
    g.remove_node("1")
    assert list(g.nodes) == ["p_2"]


def test_default_prefix_is_context_local():
    def in_context():
        GraphBuilder.set_default_prefix("12", 3)
        first, second = GraphBuilder().prefix, GraphBuilder().prefix
        return first, second

    assert contextvars.copy_context().run(in_context) == ("12.3.0.", "12.3.1.")
    assert contextvars.copy_context().run(GraphBuilder.alloc_prefix, "x", 0, 7) == "x.0.7."
    assert contextvars.copy_context().run(lambda: GraphBuilder().prefix) == ".0.0."


def test_add_graph_prefix():
    graph, outputs = add_graph_prefix({"1": {"class_type": "A", "inputs": {"a": ["2", 0], "b": 3}}}, [["1", 0], 5], "q.")
    assert graph == {"q.1": {"class_type": "A", "inputs": {"a": ["q.2", 0], "b": 3}}}
    assert outputs == (["q.1", 0], 5)


def test_dynamic_prompt_ids():
    dp = DynamicPrompt({"1": {"class_type": "A", "inputs": {}}})
    dp.add_ephemeral_node("1.0.0.1", {"class_type": "B", "inputs": {}}, "1", "1")
    dp.add_ephemeral_node("1.0.0.1.0.0.2", {"class_type": "C", "inputs": {}}, "1.0.0.1", "7")
    assert dp.get_real_node_id("1.0.0.1.0.0.2") == "1"
    assert dp.get_parent_node_id("1.0.0.1.0.0.2") == "1.0.0.1" and dp.get_parent_node_id("1") is None
    assert dp.get_display_node_id("1.0.0.1") == "1" and dp.get_display_node_id("1.0.0.1.0.0.2") == "7"
    assert dp.all_node_ids() == {"1", "1.0.0.1", "1.0.0.1.0.0.2"} and dp.has_node("1.0.0.1")
    with pytest.raises(NodeNotFoundError):
        dp.get_node("x")


class _Cls:
    def __init__(self, output=False, lazy=False):
        self.OUTPUT_NODE = output
        self.FUNCTION = "run"
        self._lazy = lazy

    def run(self):
        return ()


def _elist(prompt, classes, cached=()):
    dp = DynamicPrompt(prompt)
    types = {name: {"required": {k: ("*", {"lazy": c._lazy}) for k in ("a", "b")}} for name, c in classes.items()}
    return ExecutionList(
        dp,
        classes.__getitem__,
        lambda n: ("entry", n) if n in cached else None,
        lambda n: types[prompt[n]["class_type"]],
    )


def test_execution_list_order_lazy_and_cycles():
    classes = {"S": _Cls(), "L": _Cls(lazy=True), "O": _Cls(output=True)}
    prompt = {
        "src": {"class_type": "S", "inputs": {}},
        "lazy": {"class_type": "L", "inputs": {"a": ["src", 0], "b": ["other", 0]}},
        "other": {"class_type": "S", "inputs": {}},
        "out": {"class_type": "O", "inputs": {"a": ["lazy", 0]}},
    }
    el = _elist(prompt, classes)
    el.add_node("out")
    assert set(el.pending) == {"out", "lazy"}  # lazy links are not scheduled up front

    async def stage():
        node, err, ex = await el.stage_node_execution()
        return node

    assert asyncio.run(stage()) == "lazy"
    el.make_input_strong_link("lazy", "a")
    el.unstage_node_execution()
    assert asyncio.run(stage()) == "src"
    el.complete_node_execution()
    el.cache_update("src", "value")
    assert el.get_output_cache("src", "lazy") == "value" and el.get_output_cache("src", "out") is None
    with pytest.raises(NodeInputError):
        el.make_input_strong_link("lazy", "zzz")
    prompt["lazy"]["inputs"]["c"] = 3
    with pytest.raises(NodeInputError):
        el.make_input_strong_link("lazy", "c")

    # a dynamic cycle: nothing ready, no async work -> error blamed on the display node
    prompt2 = {"x": {"class_type": "S", "inputs": {"a": ["y", 0]}}, "y": {"class_type": "S", "inputs": {"a": ["x", 0]}}}
    el2 = _elist(prompt2, classes)
    el2.dynprompt.ephemeral_display["y"] = "gen"
    el2.dynprompt.ephemeral_parents["y"] = "gen"
    el2.add_node("x")
    node, err, ex = asyncio.run(el2.stage_node_execution())
    assert node is None and isinstance(ex, DependencyCycleError)
    assert err["node_id"] == "gen" and err["exception_type"] == "graph.DependencyCycleError"


def test_cached_sources_are_not_scheduled_and_outputs_first():
    classes = {"S": _Cls(), "O": _Cls(output=True)}
    prompt = {
        "a": {"class_type": "S", "inputs": {}},
        "b": {"class_type": "S", "inputs": {"a": ["a", 0]}},
        "o1": {"class_type": "O", "inputs": {"a": ["b", 0]}},
        "o2": {"class_type": "O", "inputs": {}},
    }
    el = _elist(prompt, classes, cached={"b"})
    el.add_node("o1")
    el.add_node("o2")
    assert set(el.pending) == {"o1", "o2"}
    assert el.get_output_cache("b", "o1") == ("entry", "b")
    node, _, _ = asyncio.run(el.stage_node_execution())
    assert node == "o1"  # oldest ready output node first
