"""The executor: runs a validated prompt over the graph with caches, progress and interrupts.

Contract section 4. `PromptExecutor.execute` is synchronous; inside it one asyncio loop runs the prompt
so async node functions overlap (4.9). Events go out through an `EventSink` exactly as ComfyUI's server
sends them (2.2); the queue owns `status` and the final `executing {node: null}`. Torch-free.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from comfy_core.cache import CacheSet
from comfy_core.events import EventSink
from comfy_core.graph.builder import GraphBuilder
from comfy_core.graph.execution_list import ExecutionList
from comfy_core.graph.invoke import (
    format_value,
    full_type_name,
    get_input_data,
    get_output_from_returns,
    map_node_over_list,
    merge_result_data,
    resolve_results,
)
from comfy_core.graph.links import ExecutionBlocker, is_link
from comfy_core.graph.progress_state import ProgressState
from comfy_core.graph.prompt import DuplicateNodeError, DynamicPrompt
from comfy_core.progress import (
    InterruptFlag,
    InterruptProcessingException,
    reset_prompt_extra_data,
    set_prompt_extra_data,
)
from comfy_core.registry.inputs import input_types, is_v3

log = logging.getLogger(__name__)

OOM_TIPS = (
    "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might "
    "have accidentally set the batch_size to a large number."
)


@dataclass
class CacheConfig:
    mode: str = "classic"  # classic | lru | ram | none
    lru_size: int = 0
    ram_gb: float = 4.0


class CacheEntry(NamedTuple):
    ui: dict | None
    outputs: list


class ExecutionResult(Enum):
    SUCCESS = 0
    FAILURE = 1
    PENDING = 2


class _PromptRun:
    """State of one prompt execution; `execute_node` is ComfyUI's per-node step (4.3)."""

    def __init__(self, executor: PromptExecutor, prompt: dict, prompt_id: str, extra_data: dict) -> None:
        self.executor = executor
        self.registry = executor.registry
        self.sink = executor.sink
        self.caches = executor.caches
        self.prompt_id = prompt_id
        self.extra_data = extra_data
        self.sid: str | None = extra_data.get("client_id")
        self.dynprompt = DynamicPrompt(prompt)
        self.progress = ProgressState(prompt_id, self.dynprompt, self.sink, self.sid)
        self.hook = self.progress.make_hook()
        self.executed: set[str] = set()
        self.ui_outputs: dict[str, dict] = {}
        self.pending_subgraph: dict[str, list] = {}
        self.pending_async: dict[str, list] = {}
        self.oom_retried: set[str] = set()
        self.background: set[asyncio.Task] = set()
        self._types: dict[str, dict] = {}
        self._is_changed: dict[str, Any] = {}
        self._include_id: dict[str, bool] = {}
        self.execution_list = ExecutionList(self.dynprompt, self.get_class, self.caches.outputs.peek, self.types)

    # -- helpers ------------------------------------------------------------------------------
    def get_class(self, class_type: str) -> type:
        cls = self.registry.get(class_type)
        if cls is None:
            raise KeyError(f"Node class {class_type} does not exist")
        return cls

    def types(self, node_id: str) -> dict:
        types = self._types.get(node_id)
        if types is None:
            node = self.dynprompt.get_node(node_id)
            types = self._types[node_id] = input_types(self.get_class(node["class_type"]), node["inputs"])
        return types

    def include_node_id(self, class_type: str) -> bool:
        flag = self._include_id.get(class_type)
        if flag is None:
            cls = self.get_class(class_type)
            if getattr(cls, "NOT_IDEMPOTENT", False):
                flag = True
            elif is_v3(cls):
                flag = False  # V3 hidden UNIQUE_ID is declared as a tuple and does not count
            else:
                flag = "UNIQUE_ID" in (cls.INPUT_TYPES().get("hidden") or {}).values()
            self._include_id[class_type] = flag
        return flag

    async def is_changed(self, node_id: str) -> Any:
        """IS_CHANGED over the node's constants only (links read as None); raising gives NaN."""
        if node_id in self._is_changed:
            return self._is_changed[node_id]
        node = self.dynprompt.get_node(node_id)
        cls = self.get_class(node["class_type"])
        value: Any = False
        if hasattr(cls, "IS_CHANGED"):
            v3 = is_v3(cls)
            data, _, hidden = get_input_data(node["inputs"], cls, node_id, self.types(node_id), v3=v3)
            try:
                results = await map_node_over_list(
                    self.prompt_id, node_id, cls, data, "IS_CHANGED", v3=v3, hidden=hidden
                )
                results = await resolve_results(results)
                value = [None if isinstance(x, ExecutionBlocker) else x for x in results]
            except Exception as ex:
                log.warning("WARNING: %s", ex)
                value = float("nan")
        self._is_changed[node_id] = value
        return value

    def send(self, event: str, data: dict) -> None:
        if self.sid is not None:
            self.sink.send(event, data, self.sid)

    # -- one node -----------------------------------------------------------------------------
    async def execute_node(self, unique_id: str) -> tuple[ExecutionResult, dict | None, BaseException | None]:
        dp = self.dynprompt
        real_id = dp.get_real_node_id(unique_id)
        display_id = dp.get_display_node_id(unique_id)
        node = dp.get_node(unique_id)
        class_type = node["class_type"]
        cls = self.get_class(class_type)
        elist = self.execution_list

        cached = self.caches.outputs.get(unique_id)
        if cached is not None:
            output = cached.ui.get("output") if cached.ui else None
            self.send("executed", {"node": unique_id, "display_node": display_id, "output": output, "prompt_id": self.prompt_id})
            if cached.ui is not None:
                self.ui_outputs[unique_id] = cached.ui
            self.progress.finish(unique_id)
            elist.cache_update(unique_id, cached)
            return ExecutionResult.SUCCESS, None, None

        input_data_all = None
        try:
            if unique_id in self.pending_async:
                results = [r.result() if isinstance(r, asyncio.Task) else r for r in self.pending_async.pop(unique_id)]
                output_data, output_ui, has_subgraph = get_output_from_returns(results, cls)
            elif unique_id in self.pending_subgraph:
                output_data = self._resolve_fragment_results(unique_id, cls)
                output_ui, has_subgraph = {}, False
            else:
                self.progress.start(unique_id)
                v3 = is_v3(cls)

                def resolve(source_id: str) -> list | None:
                    entry = elist.get_output_cache(source_id, unique_id)
                    return entry.outputs if entry is not None else None

                input_data_all, missing, hidden = get_input_data(
                    node["inputs"], cls, unique_id, self.types(unique_id), v3=v3, resolve_link=resolve,
                    dynprompt=dp, extra_data=self.extra_data,
                )
                self.executor.current_node = display_id
                self.send("executing", {"node": unique_id, "display_node": display_id, "prompt_id": self.prompt_id})
                obj = self.caches.objects.get(unique_id)
                if obj is None:
                    obj = cls()
                    self.caches.objects.set(unique_id, obj)
                call = dict(v3=v3, hidden=hidden, interrupt=self.executor.interrupt_flag, hook=self.hook)
                if getattr(obj, "check_lazy_status", None) is not None:
                    needed = await map_node_over_list(self.prompt_id, unique_id, obj, input_data_all, "check_lazy_status", **call)
                    needed = await resolve_results(needed)
                    names = set(sum([r for r in needed if isinstance(r, list)], []))
                    names = [x for x in names if isinstance(x, str) and (x not in input_data_all or x in missing)]
                    if names:
                        for name in names:
                            elist.make_input_strong_link(unique_id, name)
                        return ExecutionResult.PENDING, None, None

                returns = await map_node_over_list(
                    self.prompt_id, unique_id, obj, input_data_all, cls.FUNCTION, **call,
                    block_cb=self._block_callback(unique_id, class_type),
                    pre_call=lambda index: GraphBuilder.set_default_prefix(unique_id, index, 0),
                )
                tasks = [r for r in returns if isinstance(r, asyncio.Task) and not r.done()]
                if tasks:
                    self._wait_for_tasks(unique_id, returns, tasks)
                    return ExecutionResult.PENDING, None, None
                output_data, output_ui, has_subgraph = get_output_from_returns(returns, cls)

            if output_ui:
                self.ui_outputs[unique_id] = {
                    "meta": {
                        "node_id": unique_id,
                        "display_node": display_id,
                        "parent_node": dp.get_parent_node_id(unique_id),
                        "real_node_id": real_id,
                    },
                    "output": output_ui,
                }
                self.send("executed", {"node": unique_id, "display_node": display_id, "output": output_ui, "prompt_id": self.prompt_id})
            if has_subgraph:
                await self._expand(unique_id, output_data)
                return ExecutionResult.PENDING, None, None
            entry = CacheEntry(ui=self.ui_outputs.get(unique_id), outputs=output_data)
            self.caches.outputs.set(unique_id, entry)
            elist.cache_update(unique_id, entry)
        except InterruptProcessingException as iex:
            log.info("Processing interrupted")
            return ExecutionResult.FAILURE, {"node_id": real_id}, iex
        except Exception as ex:
            if self._retry_after_oom(unique_id, ex):
                return await self.execute_node(unique_id)
            return ExecutionResult.FAILURE, self._error_details(real_id, ex, input_data_all), ex

        self.progress.finish(unique_id)
        self.executed.add(unique_id)
        return ExecutionResult.SUCCESS, None, None

    def _block_callback(self, unique_id: str, class_type: str) -> Callable[[ExecutionBlocker], ExecutionBlocker]:
        def on_block(block: ExecutionBlocker) -> ExecutionBlocker:
            if block.message is None:
                return block
            self.send("execution_error", {
                "prompt_id": self.prompt_id,
                "node_id": unique_id,
                "node_type": class_type,
                "executed": list(self.executed),
                "exception_message": f"Execution Blocked: {block.message}",
                "exception_type": "ExecutionBlocked",
                "traceback": [],
                "current_inputs": [],
                "current_outputs": [],
            })
            return ExecutionBlocker(None)

        return on_block

    def _wait_for_tasks(self, unique_id: str, returns: list, tasks: list[asyncio.Task]) -> None:
        self.pending_async[unique_id] = returns
        unblock = self.execution_list.add_external_block(unique_id)

        async def await_completion() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)
            unblock()

        waiter = asyncio.create_task(await_completion())
        self.background.add(waiter)
        waiter.add_done_callback(self.background.discard)

    def _resolve_fragment_results(self, unique_id: str, cls: type) -> list:
        resolved = []
        for is_fragment, result in self.pending_subgraph.pop(unique_id):
            if not is_fragment:
                resolved.append(result)
                continue
            values = []
            for r in result:
                if is_link(r):
                    entry = self.execution_list.get_output_cache(r[0], unique_id)
                    values.extend(entry.outputs[int(r[1])])
                else:
                    values.append(r)
            resolved.append(tuple(values))
        return merge_result_data(resolved, cls)

    async def _expand(self, unique_id: str, output_data: list) -> None:
        """Add expansion fragments as ephemeral nodes; the parent waits for the referenced outputs."""
        dp = self.dynprompt
        fragments: list[tuple[bool, Any]] = []
        new_ids: list[str] = []
        output_ids: list[str] = []
        links: list[tuple[str, Any]] = []
        for graph, node_outputs in output_data:
            if graph is None:
                fragments.append((False, node_outputs))
                continue
            for node_id in graph:
                if dp.has_node(node_id):
                    raise DuplicateNodeError(
                        f"Attempt to add duplicate node {node_id}. Ensure node ids are unique and "
                        "deterministic or use graph_utils.GraphBuilder."
                    )
            for node_id, info in graph.items():
                new_ids.append(node_id)
                dp.add_ephemeral_node(node_id, info, unique_id, info.get("override_display_id", unique_id))
                if getattr(self.get_class(info["class_type"]), "OUTPUT_NODE", False) == True:  # noqa: E712
                    output_ids.append(node_id)
            node_outputs = node_outputs or ()
            links.extend((o[0], o[1]) for o in node_outputs if is_link(o))
            fragments.append((True, node_outputs))
        await self.caches.add_fragment(unique_id, set(new_ids))
        for node_id in output_ids:
            self.execution_list.add_node(node_id)
            self.execution_list.cache_link(node_id, unique_id)
        for from_id, socket in links:
            self.execution_list.add_strong_link(from_id, socket, unique_id)
        self.pending_subgraph[unique_id] = fragments

    def _retry_after_oom(self, unique_id: str, ex: Exception) -> bool:
        """Out of memory: free every model (`on_oom`, which also lowers the next load's footprint) and
        run the node once more; a second OOM is reported."""
        ex_ = self.executor
        if ex_.is_oom is None or ex_.on_oom is None or unique_id in self.oom_retried or not ex_.is_oom(ex):
            return False
        self.oom_retried.add(unique_id)
        log.warning("Out of memory in node %s; unloading all models and retrying it once.", unique_id)
        ex_.on_oom()
        return True

    def _error_details(self, real_id: str, ex: Exception, input_data_all: dict | None) -> dict:
        typ, _, tb = sys.exc_info()
        inputs = {}
        if input_data_all is not None:
            inputs = {name: [format_value(x) for x in values] for name, values in input_data_all.items()}
        log.error("!!! Exception during processing !!! %s", ex)
        log.error(traceback.format_exc())
        tips = ""
        if self.executor.is_oom is not None and self.executor.is_oom(ex):
            tips = OOM_TIPS
            retried = any(self.dynprompt.get_real_node_id(u) == real_id for u in self.oom_retried)
            if retried:
                node = self.dynprompt.get_node(real_id) if self.dynprompt.has_node(real_id) else {}
                tips = (
                    f"Out of memory in node {real_id} ({node.get('class_type', '?')}) even after unloading "
                    f"all models and retrying at a lower footprint.\n{OOM_TIPS}"
                )
            log.error("Got an OOM, unloading all loaded models.")
            if self.executor.on_oom is not None and not retried:
                self.executor.on_oom()
        return {
            "node_id": real_id,
            "exception_message": f"{ex}\n{tips}",
            "exception_type": full_type_name(typ),
            "traceback": traceback.format_tb(tb),
            "current_inputs": inputs,
        }


class PromptExecutor:
    def __init__(
        self,
        registry: Any,
        sink: EventSink,
        cache_config: CacheConfig | None = None,
        *,
        on_oom: Callable[[], None] | None = None,
        is_oom: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.sink = sink
        self.cache_config = cache_config or CacheConfig()
        self.on_oom = on_oom
        self.is_oom = is_oom
        self.interrupt_flag = InterruptFlag()
        self.current_node: str | None = None
        self.current_prompt_id: str | None = None
        self.reset()

    def reset(self) -> None:
        """Drop every cached output and node instance (POST /free)."""
        c = self.cache_config
        self.caches = CacheSet(c.mode, c.lru_size, c.ram_gb)
        self.status_messages: list[tuple[str, dict]] = []
        self.success = True
        self.history_result: dict[str, dict] = {"outputs": {}, "meta": {}}

    def interrupt(self) -> None:
        self.interrupt_flag.set()

    def relieve_ram_pressure(self) -> None:
        """The memory manager's RAM-pressure hook: give back cached outputs of earlier prompts."""
        dropped = self.caches.relieve_pressure()
        if dropped:
            logging.getLogger(__name__).info("RAM pressure: dropped %d cached outputs", dropped)

    def execute(
        self, prompt: dict, prompt_id: str, extra_data: dict | None = None, execute_outputs: list[str] | None = None
    ) -> None:
        asyncio.run(self.execute_async(prompt, prompt_id, extra_data, execute_outputs))

    def _add_message(self, run: _PromptRun, event: str, data: dict, broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.status_messages.append((event, data))
        if run.sid is not None or broadcast:
            self.sink.send(event, data, run.sid)

    async def execute_async(
        self, prompt: dict, prompt_id: str, extra_data: dict | None = None, execute_outputs: list[str] | None = None
    ) -> None:
        self.interrupt_flag.clear()
        self.current_prompt_id = prompt_id
        self.status_messages = []
        self.success = True
        run = _PromptRun(self, prompt, prompt_id, dict(extra_data or {}))
        extra_token = set_prompt_extra_data(run.extra_data)  # e.g. preview_method, read by node code
        try:
            self._add_message(run, "execution_start", {"prompt_id": prompt_id}, broadcast=False)
            await self.caches.set_prompt(run.dynprompt, prompt.keys(), run.is_changed, run.include_node_id)
            cached_nodes = [node_id for node_id in prompt if self.caches.outputs.get(node_id) is not None]
            self._add_message(run, "execution_cached", {"nodes": cached_nodes, "prompt_id": prompt_id}, broadcast=False)
            await self._run(run, execute_outputs or [], cached_nodes)
            outputs, meta = {}, {}
            for node_id, ui in run.ui_outputs.items():
                outputs[node_id] = ui["output"]
                meta[node_id] = ui["meta"]
            self.history_result = {"outputs": outputs, "meta": meta}
        finally:
            reset_prompt_extra_data(extra_token)
            self.current_node = None
            self.current_prompt_id = None

    async def _run(self, run: _PromptRun, execute_outputs: list[str], current_outputs: list[str]) -> None:
        elist = run.execution_list
        for node_id in execute_outputs:
            elist.add_node(node_id)
        while not elist.is_empty():
            node_id, error, ex = await elist.stage_node_execution()
            if error is not None:
                self.success = False
                self._handle_error(run, current_outputs, error, ex)
                return
            result, error, ex = await run.execute_node(node_id)
            self.success = result != ExecutionResult.FAILURE
            if result == ExecutionResult.FAILURE:
                self._handle_error(run, current_outputs, error, ex)
                return
            if result == ExecutionResult.PENDING:
                elist.unstage_node_execution()
            else:
                elist.complete_node_execution()
                self.caches.poll()
        self._add_message(run, "execution_success", {"prompt_id": run.prompt_id}, broadcast=False)

    def _handle_error(self, run: _PromptRun, current_outputs: list[str], error: dict, ex: BaseException | None) -> None:
        node_id = error["node_id"]
        try:
            class_type = run.dynprompt.get_node(node_id)["class_type"]
        except Exception:
            class_type = None
        mes = {"prompt_id": run.prompt_id, "node_id": node_id, "node_type": class_type, "executed": list(run.executed)}
        if isinstance(ex, InterruptProcessingException):
            self._add_message(run, "execution_interrupted", mes, broadcast=True)
            return
        mes.update(
            exception_message=error["exception_message"],
            exception_type=error["exception_type"],
            traceback=error["traceback"],
            current_inputs=error["current_inputs"],
            current_outputs=list(current_outputs),
        )
        self._add_message(run, "execution_error", mes, broadcast=False)
