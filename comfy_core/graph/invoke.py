"""Calling node code: input gathering, list mapping (section 4.8), return normalisation (4.7).

Shared by validation (VALIDATE_INPUTS), the cache (IS_CHANGED) and the executor (check_lazy_status,
FUNCTION). Torch-free: values are passed through untouched.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from comfy_core.graph.links import ExecutionBlocker, is_link
from comfy_core.graph.prompt import get_input_info
from comfy_core.progress import (
    ExecutingContext,
    InterruptFlag,
    InterruptProcessingException,
    ProgressHook,
    reset_executing_context,
    set_executing_context,
)
from comfy_core.registry.inputs import hidden_kinds

# V3 hidden kinds -> the key PREPARE_CLASS_CLONE expects
_V3_HIDDEN_KEYS = {
    "PROMPT": "prompt",
    "UNIQUE_ID": "unique_id",
    "EXTRA_PNGINFO": "extra_pnginfo",
    "DYNPROMPT": "dynprompt",
    "AUTH_TOKEN_COMFY_ORG": "auth_token_comfy_org",
    "API_KEY_COMFY_ORG": "api_key_comfy_org",
}


def _hidden_value(kind: str, unique_id: str, dynprompt: Any, extra_data: dict[str, Any]) -> Any:
    if kind == "PROMPT":
        return dynprompt.get_original_prompt() if dynprompt is not None else {}
    if kind == "DYNPROMPT":
        return dynprompt
    if kind == "EXTRA_PNGINFO":
        return extra_data.get("extra_pnginfo", None)
    if kind == "UNIQUE_ID":
        return unique_id
    if kind == "AUTH_TOKEN_COMFY_ORG":
        return extra_data.get("auth_token_comfy_org", None)
    if kind == "API_KEY_COMFY_ORG":
        return extra_data.get("api_key_comfy_org", None)
    raise KeyError(kind)


def get_input_data(
    inputs: dict[str, Any],
    class_def: type,
    unique_id: str,
    valid_inputs: dict[str, Any],
    *,
    v3: bool = False,
    resolve_link: Callable[[str], list | None] | None = None,
    dynprompt: Any = None,
    extra_data: dict[str, Any] | None = None,
) -> tuple[dict[str, list], dict[str, bool], dict[str, Any]]:
    """Gather the per-input value lists for one node.

    Links resolve through `resolve_link(source_id)` (the source's output lists, or None when not
    available: then the input is `[None]` and listed in `missing`). Without `resolve_link` every link is
    missing (IS_CHANGED and VALIDATE_INPUTS see constants only). Declared constants become one-element
    lists; undeclared constants are dropped. Returns (input_data_all, missing_keys, v3_hidden).
    """
    extra_data = extra_data or {}
    data: dict[str, list] = {}
    missing: dict[str, bool] = {}
    for name, value in inputs.items():
        _, category, info = get_input_info(class_def, name, valid_inputs)
        if v3 and category == "hidden":
            continue
        if is_link(value) and not (info and info.get("rawLink", False)):
            outputs = resolve_link(value[0]) if resolve_link is not None else None
            index = int(value[1])
            if outputs is None or index >= len(outputs):
                missing[name] = True
                data[name] = [None]
            else:
                data[name] = outputs[index]
        elif category is not None:
            data[name] = [value]

    v3_hidden: dict[str, Any] = {}
    if v3:
        for kind in hidden_kinds(class_def, valid_inputs).values():
            key = _V3_HIDDEN_KEYS.get(kind)
            if key is not None:
                v3_hidden[key] = _hidden_value(kind, unique_id, dynprompt, extra_data)
    else:
        for name, kind in (valid_inputs.get("hidden") or {}).items():
            if isinstance(kind, str) and kind in _V3_HIDDEN_KEYS:
                data[name] = [_hidden_value(kind, unique_id, dynprompt, extra_data)]
    return data, missing, v3_hidden


def resolve_callable(obj: Any, func: str, v3: bool, hidden: dict[str, Any] | None) -> Callable:
    """The callable for `func` on a class or instance; V3 classes are called through a hidden-bound clone."""
    if v3:
        cls = obj if inspect.isclass(obj) else type(obj)
        validate = getattr(cls, "VALIDATE_CLASS", None)
        if validate is not None:
            validate()
        return getattr(cls.PREPARE_CLASS_CLONE(hidden or {}), func)
    return getattr(obj, func)


def _slice(data: dict[str, list], i: int) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        n = len(v)
        out[k] = v[i] if n > i else (v[-1] if n else None)
    return out


def _find_blocker(inputs: dict[str, Any], as_list: bool) -> ExecutionBlocker | None:
    for v in inputs.values():
        if as_list:
            for e in v:
                if isinstance(e, ExecutionBlocker):
                    return e
        elif isinstance(v, ExecutionBlocker):
            return v
    return None


async def map_node_over_list(
    prompt_id: str,
    unique_id: str,
    obj: Any,
    input_data_all: dict[str, list],
    func: str,
    *,
    v3: bool = False,
    hidden: dict[str, Any] | None = None,
    interrupt: InterruptFlag | None = None,
    hook: ProgressHook | None = None,
    block_cb: Callable[[ExecutionBlocker], Any] | None = None,
    pre_call: Callable[[int], None] | None = None,
) -> list:
    """Call `func` once per list element (or once with whole lists for INPUT_IS_LIST nodes).

    Coroutine functions start as tasks; a task that does not finish at once is returned as the
    `asyncio.Task` itself (the caller decides whether to wait). Calls whose inputs carry an
    ExecutionBlocker are skipped and yield the blocker (passed through `block_cb`).
    """
    input_is_list = bool(getattr(obj, "INPUT_IS_LIST", False))
    results: list = []

    async def call(inputs: dict[str, Any], index: int | None, as_list: bool) -> None:
        if interrupt is not None and interrupt.is_set():
            interrupt.clear()
            raise InterruptProcessingException()
        blocker = _find_blocker(inputs, as_list)
        if blocker is not None:
            results.append(block_cb(blocker) if block_cb is not None else blocker)
            return
        if pre_call is not None:
            pre_call(index or 0)
        f = resolve_callable(obj, func, v3, hidden)
        token = set_executing_context(ExecutingContext(prompt_id, unique_id, index, hook, interrupt))
        try:
            if inspect.iscoroutinefunction(f):
                task = asyncio.create_task(f(**inputs))
                await asyncio.sleep(0)  # let it run until its first real suspension
                results.append(task.result() if task.done() else task)
            else:
                results.append(f(**inputs))
        finally:
            reset_executing_context(token)

    if input_is_list:
        await call(input_data_all, 0, True)
    elif not input_data_all:
        await call({}, None, False)
    else:
        for i in range(max(len(v) for v in input_data_all.values())):
            await call(_slice(input_data_all, i), i, False)
    return results


async def resolve_results(results: list) -> list:
    """Wait for any unfinished tasks in `results` and replace them by their values (first error raises)."""
    pending = [r for r in results if isinstance(r, asyncio.Task) and not r.done()]
    if pending:
        await asyncio.wait(pending)
    return [r.result() if isinstance(r, asyncio.Task) else r for r in results]


def merge_result_data(results: list, obj: Any) -> list[list]:
    """Per output slot: concatenate OUTPUT_IS_LIST slots, otherwise collect one value per call."""
    width = len(results[0])
    is_list = getattr(obj, "OUTPUT_IS_LIST", None) or [False] * width
    output = []
    for i, as_list in zip(range(width), is_list, strict=False):  # ComfyUI truncates to OUTPUT_IS_LIST
        if as_list:
            value: list = []
            for r in results:
                if isinstance(r[i], ExecutionBlocker):
                    value.append(r[i])
                else:
                    value.extend(r[i])
            output.append(value)
        else:
            output.append([r[i] for r in results])
    return output


def _blocked_tuple(result: Any, obj: Any) -> Any:
    if isinstance(result, ExecutionBlocker):
        return tuple([result] * len(obj.RETURN_TYPES))
    return result


def get_output_from_returns(return_values: list, obj: Any) -> tuple[list, dict[str, list], bool]:
    """Normalise raw returns to (outputs, ui, has_subgraph).

    With an expansion among the returns, `outputs` is a list of (graph | None, result) pairs to be
    resolved once the fragment ran; otherwise it is the merged per-slot output lists.
    """
    results = []
    uis = []
    subgraph_results = []
    has_subgraph = False
    for r in return_values:
        if isinstance(r, dict):
            if "ui" in r:
                uis.append(r["ui"])
            if "expand" in r:
                has_subgraph = True
                subgraph_results.append((r["expand"], _blocked_tuple(r.get("result", None), obj)))
            elif "result" in r:
                result = _blocked_tuple(r.get("result", None), obj)
                results.append(result)
                subgraph_results.append((None, result))
        else:
            r = _blocked_tuple(r, obj)
            results.append(r)
            subgraph_results.append((None, r))
    if has_subgraph:
        output = subgraph_results
    elif results:
        output = merge_result_data(results, obj)
    else:
        output = []
    ui: dict[str, list] = {}
    if uis:
        ui = {k: [y for x in uis for y in x[k]] for k in uis[0]}
    return output, ui, has_subgraph


def format_value(x: Any) -> Any:
    if x is None or isinstance(x, (int, float, bool, str)):
        return x
    return str(x)


def full_type_name(klass: type) -> str:
    if klass.__module__ == "builtins":
        return klass.__qualname__
    return klass.__module__ + "." + klass.__qualname__
