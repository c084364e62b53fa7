"""Where node code reports progress and checks for interrupts, without knowing who runs it.

The executor sets an `ExecutingContext` (a contextvar, so async tasks and helper threads started with
`contextvars.copy_context()` inherit it) before calling a node. Node code, `comfy.utils.ProgressBar`,
V3 `ComfyAPI.execution.set_progress` and sampler callbacks call `report_progress`, which forwards to
the hook the executor installed and raises `InterruptProcessingException` once an interrupt is asked.
Torch-free.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol


class InterruptProcessingException(Exception):
    """Raised inside node code when the user interrupted the running prompt."""


class ProgressHook(Protocol):
    def __call__(
        self, value: float, total: float, preview: Any | None, node_id: str | None, prompt_id: str | None
    ) -> None: ...


class InterruptFlag:
    """One per executor; set from any thread, cleared at the start of each prompt."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class ExecutingContext:
    prompt_id: str
    node_id: str
    list_index: int | None
    hook: ProgressHook | None = None
    interrupt: InterruptFlag | None = None


_CURRENT: contextvars.ContextVar[ExecutingContext | None] = contextvars.ContextVar(
    "comfy_core_executing_context", default=None
)


_PROMPT_EXTRA_DATA: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "comfy_core_prompt_extra_data", default=None
)


def get_executing_context() -> ExecutingContext | None:
    return _CURRENT.get()


def set_executing_context(ctx: ExecutingContext | None) -> contextvars.Token:
    return _CURRENT.set(ctx)


def reset_executing_context(token: contextvars.Token) -> None:
    _CURRENT.reset(token)


def prompt_extra_data() -> Mapping[str, Any]:
    """The running prompt's `extra_data` (read-only; empty outside a prompt), e.g. its `preview_method`."""
    return _PROMPT_EXTRA_DATA.get() or {}


def set_prompt_extra_data(extra_data: Mapping[str, Any] | None) -> contextvars.Token:
    """The executor makes a prompt's `extra_data` visible to node code until `reset_prompt_extra_data`."""
    return _PROMPT_EXTRA_DATA.set(None if extra_data is None else MappingProxyType(dict(extra_data)))


def reset_prompt_extra_data(token: contextvars.Token) -> None:
    _PROMPT_EXTRA_DATA.reset(token)


def throw_if_interrupted() -> None:
    ctx = _CURRENT.get()
    if ctx is not None and ctx.interrupt is not None and ctx.interrupt.is_set():
        ctx.interrupt.clear()
        raise InterruptProcessingException()


def report_progress(value: float, total: float, preview: Any | None = None, node_id: str | None = None) -> None:
    """Forward a progress update for `node_id` (default: the executing node); raise if interrupted."""
    throw_if_interrupted()
    ctx = _CURRENT.get()
    if ctx is None or ctx.hook is None:
        return
    ctx.hook(value, total, preview, node_id if node_id is not None else ctx.node_id, ctx.prompt_id)
