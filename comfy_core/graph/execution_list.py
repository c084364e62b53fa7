"""The execution list: a topological dissolve of the prompt that can grow while it runs (4.2).

Nodes are added with their non-lazy, not-yet-available upstream nodes. A staged node may go back to
pending with new dependencies (lazy inputs, expansion results) or with an external block (an async
task still running). Outputs become visible to a consumer only through a link registered for it, as
in ComfyUI: an unrequested lazy input reads as missing even when its source already ran.
Torch-free; O(ready nodes) per step.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from comfy_core.graph.links import is_link
from comfy_core.graph.prompt import DependencyCycleError, DynamicPrompt, NodeInputError, get_input_info


class ClassInfo:
    """Per-class facts the scheduler asks about often (cached per execution list)."""

    __slots__ = ("cls", "is_output", "is_async")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.is_output = getattr(cls, "OUTPUT_NODE", False) == True  # noqa: E712 (ComfyUI compares with ==)
        fn = getattr(cls, getattr(cls, "FUNCTION", ""), None)
        self.is_async = fn is not None and inspect.iscoroutinefunction(fn)


class ExecutionList:
    def __init__(
        self,
        dynprompt: DynamicPrompt,
        get_class: Callable[[str], type],
        cached_output: Callable[[str], Any],
        input_types_of: Callable[[str], dict[str, Any]],
    ) -> None:
        """`cached_output(node_id)` returns the output-cache entry or None; `input_types_of(node_id)`
        returns the node's INPUT_TYPES for lazy-flag lookups."""
        self.dynprompt = dynprompt
        self._get_class = get_class
        self._cached_output = cached_output
        self._input_types_of = input_types_of
        self._class_info: dict[str, ClassInfo] = {}
        self.pending: dict[str, int] = {}  # node id -> insertion sequence number
        self.blockers: dict[str, set] = {}  # node id -> ids (or external tokens) it waits for
        self.blocking: dict[str, dict[str, dict[Any, bool]]] = {}  # from id -> {to id: {socket: True}}
        self.ready: set[str] = set()
        self._seq = 0
        self.external_blocks = 0
        self.unblocked = asyncio.Event()
        self.staged_node_id: str | None = None
        self.results: dict[str, Any] = {}  # node id -> completed entry (this prompt)
        self.links_to: dict[str, set[str]] = {}  # consumer id -> sources whose outputs it may read

    # -- node facts ---------------------------------------------------------------------------
    def class_info(self, node_id: str) -> ClassInfo:
        class_type = self.dynprompt.get_node(node_id)["class_type"]
        info = self._class_info.get(class_type)
        if info is None:
            info = self._class_info[class_type] = ClassInfo(self._get_class(class_type))
        return info

    def is_cached(self, node_id: str) -> bool:
        if node_id in self.results:
            return True
        entry = self._cached_output(node_id)
        if entry is None:
            return False
        self.results[node_id] = entry  # pin it for this prompt, whatever the cache evicts later
        return True

    # -- outputs ------------------------------------------------------------------------------
    def cache_link(self, from_node_id: str, to_node_id: str) -> None:
        self.links_to.setdefault(to_node_id, set()).add(from_node_id)
        self.is_cached(from_node_id)

    def get_output_cache(self, from_node_id: str, to_node_id: str) -> Any:
        """Entry of `from_node_id` as seen by `to_node_id` (None when not linked or not ready)."""
        if from_node_id not in self.links_to.get(to_node_id, ()):
            return None
        return self.results.get(from_node_id)

    def cache_update(self, node_id: str, entry: Any) -> None:
        self.results[node_id] = entry

    # -- graph growth -------------------------------------------------------------------------
    def make_input_strong_link(self, to_node_id: str, to_input: str) -> None:
        inputs = self.dynprompt.get_node(to_node_id)["inputs"]
        if to_input not in inputs:
            raise NodeInputError(
                f"Node {to_node_id} says it needs input {to_input}, but there is no input to that node at all"
            )
        value = inputs[to_input]
        if not is_link(value):
            raise NodeInputError(
                f"Node {to_node_id} says it needs input {to_input}, but that value is a constant"
            )
        self.add_strong_link(value[0], value[1], to_node_id)

    def add_strong_link(self, from_node_id: str, from_socket: Any, to_node_id: str) -> None:
        if not self.is_cached(from_node_id):
            self.add_node(from_node_id)
            targets = self.blocking[from_node_id]
            if to_node_id not in targets:
                targets[to_node_id] = {}
                self.blockers[to_node_id].add(from_node_id)
                self.ready.discard(to_node_id)
            targets[to_node_id][from_socket] = True
        self.cache_link(from_node_id, to_node_id)

    def add_node(self, node_unique_id: str, include_lazy: bool = False, subgraph_nodes: set | None = None) -> None:
        stack = [node_unique_id]
        links = []
        while stack:
            unique_id = stack.pop()
            if unique_id in self.pending:
                continue
            self._seq += 1
            self.pending[unique_id] = self._seq
            self.blockers[unique_id] = set()
            self.blocking[unique_id] = {}
            self.ready.add(unique_id)
            inputs = self.dynprompt.get_node(unique_id)["inputs"]
            types = None
            for name, value in inputs.items():
                if not is_link(value):
                    continue
                from_id, socket = value
                if subgraph_nodes is not None and from_id not in subgraph_nodes:
                    continue
                if types is None:
                    types = self._input_types_of(unique_id)
                _, _, info = get_input_info(self.class_info(unique_id).cls, name, types)
                lazy = bool(info and info.get("lazy", False))
                if include_lazy or not lazy:
                    if not self.is_cached(from_id):
                        stack.append(from_id)
                    links.append((from_id, socket, unique_id))  # cached sources still need a read link
        for link in links:
            self.add_strong_link(*link)

    def add_external_block(self, node_id: str) -> Callable[[], None]:
        assert node_id in self.blockers, "external blocks only apply to pending nodes"
        self.external_blocks += 1
        token = object()
        self.blockers[node_id].add(token)
        self.ready.discard(node_id)

        def unblock() -> None:
            self.external_blocks -= 1
            blockers = self.blockers.get(node_id)
            if blockers is not None:
                blockers.discard(token)
                if not blockers and node_id in self.pending:
                    self.ready.add(node_id)
            self.unblocked.set()

        return unblock

    def pop_node(self, unique_id: str) -> None:
        del self.pending[unique_id]
        self.ready.discard(unique_id)
        self.blockers.pop(unique_id, None)
        for to_id in self.blocking.pop(unique_id):
            blockers = self.blockers.get(to_id)
            if blockers is not None:
                blockers.discard(unique_id)
                if not blockers:
                    self.ready.add(to_id)

    def is_empty(self) -> bool:
        return not self.pending

    # -- staging ------------------------------------------------------------------------------
    async def stage_node_execution(self) -> tuple[str | None, dict | None, Exception | None]:
        assert self.staged_node_id is None
        if self.is_empty():
            return None, None, None
        while not self.ready and self.external_blocks > 0:
            await self.unblocked.wait()
            self.unblocked.clear()
        if not self.ready:
            cycled = self.get_nodes_in_cycle()
            blamed = cycled[0] if cycled else next(iter(self.pending))
            for node_id in cycled:
                display = self.dynprompt.get_display_node_id(node_id)
                if display != node_id:
                    blamed = display
                    break
            ex = DependencyCycleError("Dependency cycle detected")
            details = {
                "node_id": blamed,
                "exception_message": str(ex),
                "exception_type": "graph.DependencyCycleError",
                "traceback": [],
                "current_inputs": [],
            }
            return None, details, ex
        if len(self.ready) == 1:
            self.staged_node_id = next(iter(self.ready))
        else:
            self.staged_node_id = self.ux_friendly_pick_node(sorted(self.ready, key=self.pending.__getitem__))
        return self.staged_node_id, None, None

    def ux_friendly_pick_node(self, node_list: list[str]) -> str:
        """Outputs and async nodes first (so previews appear early and async work overlaps), then
        nodes one or two hops before an output, else the oldest ready node."""

        def is_output(node_id: str) -> bool:
            return self.class_info(node_id).is_output

        for node_id in node_list:
            info = self.class_info(node_id)
            if info.is_output or info.is_async:
                return node_id
        for node_id in node_list:
            if any(is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in node_list:
            for b in self.blocking[node_id]:
                if any(is_output(b1) for b1 in self.blocking.get(b, ())):
                    return node_id
        return node_list[0]

    def unstage_node_execution(self) -> None:
        assert self.staged_node_id is not None
        self.staged_node_id = None

    def complete_node_execution(self) -> None:
        node_id = self.staged_node_id
        assert node_id is not None
        self.pop_node(node_id)
        self.staged_node_id = None

    def get_nodes_in_cycle(self) -> list[str]:
        """Pending nodes that sit on (or downstream of) a dependency cycle, in pending order."""
        blocked_by = {n: {b for b in self.blockers[n] if isinstance(b, str)} for n in self.pending}
        changed = True
        while changed:
            free = [n for n, bs in blocked_by.items() if not bs]
            changed = bool(free)
            for n in free:
                del blocked_by[n]
            for bs in blocked_by.values():
                bs.difference_update(free)
        return list(blocked_by)
