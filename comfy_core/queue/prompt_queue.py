"""The durable prompt queue: a priority heap in memory, mirrored row by row into `QueueStore`.

Items are ComfyUI's 6-tuples `(number, prompt_id, prompt, extra_data, outputs_to_execute, sensitive)`;
the lowest `number` runs first, ties broken by prompt_id. Every API surface sees only the first five
items. Thread-safe: the HTTP loop puts, the worker thread gets and finishes.

Crash rule (applied once, when the queue is opened):
  * a prompt still `pending` in the database simply runs again in its order;
  * a prompt that was `running` when the process died is re-queued once, keeping its number, so it
    runs before newer prompts of the same priority;
  * a prompt that was already re-queued and was `running` at a second crash is not tried again: it is
    written to history as failed (`status_str "error"`, an `execution_error` message whose
    `exception_type` is `ServerCrashed`), so a prompt that kills the process cannot crash-loop the server.
Sensitive extra_data keys live only in memory; a prompt recovered after a restart runs without them.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from comfy_core.queue import jobs as jobs_mod
from comfy_core.queue.store import QueueStore

MAXIMUM_HISTORY_SIZE = 10000
MAX_CRASH_ATTEMPTS = 2  # starts allowed: the first run plus one re-run after a crash


def remove_sensitive(item: tuple) -> tuple:
    return tuple(item[:5])


def crash_status(prompt_id: str) -> dict[str, Any]:
    message = {
        "prompt_id": prompt_id,
        "node_id": None,
        "node_type": None,
        "executed": [],
        "exception_message": "comfy-core stopped twice while running this prompt; it was not retried again",
        "exception_type": "ServerCrashed",
        "traceback": [],
        "current_inputs": {},
        "current_outputs": [],
        "timestamp": int(time.time() * 1000),
    }
    return {"status_str": "error", "completed": False, "messages": [["execution_error", message]]}


class PromptQueue:
    def __init__(
        self,
        store: QueueStore,
        on_change: Callable[[], None] | None = None,
        max_history: int = MAXIMUM_HISTORY_SIZE,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.max_history = max_history
        self._lock = threading.RLock()
        self._not_empty = threading.Condition(self._lock)
        self._heap: list[tuple[float, str, int, tuple]] = []
        self._order = itertools.count()
        self._running: dict[int, tuple] = {}
        self._item_ids = itertools.count()
        self._history: OrderedDict[str, dict[str, Any]] = OrderedDict(store.history_items())
        self._flags: dict[str, Any] = {}
        self._woken = False
        self.recovered: list[str] = []  # prompt ids re-queued after a crash
        self.failed_by_crash: list[str] = []
        self._recover()

    # start-up -----------------------------------------------------------------------------------
    def _recover(self) -> None:
        for row in self.store.queue_rows():
            item = tuple(row.item) + ({},)
            prompt_id = item[1]
            if row.state == "running":
                if row.attempts >= MAX_CRASH_ATTEMPTS:
                    entry = self._history_entry(item, {}, crash_status(prompt_id))
                    self.store.finish(prompt_id, entry, self.max_history)
                    self._store_history(prompt_id, entry)
                    self.failed_by_crash.append(prompt_id)
                    continue
                self.store.mark_pending(prompt_id)
                self.recovered.append(prompt_id)
            self._push(item)

    def next_number(self) -> int:
        """Where the server's priority counter should continue after a restart (0 when empty)."""
        with self._lock:
            numbers = [entry[0] for entry in self._heap if entry[0] >= 0]
            return int(max(numbers)) + 1 if numbers else 0

    # queue --------------------------------------------------------------------------------------
    def _push(self, item: tuple) -> None:
        heapq.heappush(self._heap, (float(item[0]), str(item[1]), next(self._order), item))

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def contains(self, prompt_id: str) -> bool:
        with self._lock:
            return any(e[1] == prompt_id for e in self._heap) or any(
                i[1] == prompt_id for i in self._running.values()
            )

    def put(self, item: tuple) -> None:
        """Persist then enqueue; returns only after the row is committed."""
        if len(item) == 5:
            item = tuple(item) + ({},)
        with self._lock:
            self.store.add(item)
            self._push(tuple(item))
            self._not_empty.notify()
        self._notify()

    def get(self, timeout: float | None = None) -> tuple[tuple, int] | None:
        """Take the next item for the worker: (6-tuple item, item_id).

        Returns None after `timeout` seconds, when a /free flag is waiting, or after `wake()`.
        """
        with self._not_empty:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._heap:
                if self._flags or self._woken:
                    self._woken = False
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._not_empty.wait(remaining)
            item = heapq.heappop(self._heap)[3]
            item_id = next(self._item_ids)
            self._running[item_id] = item
            self.store.mark_running(item[1])
        self._notify()
        return item, item_id

    def task_done(
        self,
        item_id: int,
        history_result: dict[str, Any] | None,
        status: dict[str, Any] | None,
        process_item: Callable[[tuple], tuple] | None = remove_sensitive,
    ) -> None:
        with self._lock:
            item = self._running.pop(item_id)
            entry = self._history_entry(item, history_result or {}, status, process_item)
            self.store.finish(item[1], entry, self.max_history)
            self._store_history(item[1], entry)
        self._notify()

    def requeue(self, item_id: int) -> None:
        """Put a running item back (graceful shutdown): pending again, and the start does not count."""
        with self._lock:
            item = self._running.pop(item_id, None)
            if item is None:
                return
            self.store.mark_pending(item[1], uncount=True)
            self._push(item)
        self._notify()

    @staticmethod
    def _history_entry(
        item: tuple,
        history_result: dict[str, Any],
        status: dict[str, Any] | None,
        process_item: Callable[[tuple], tuple] | None = remove_sensitive,
    ) -> dict[str, Any]:
        prompt = process_item(item) if process_item is not None else remove_sensitive(item)
        entry: dict[str, Any] = {"prompt": list(prompt[:5]), "outputs": {}, "status": status}
        entry.update(copy.deepcopy(history_result))
        entry.setdefault("meta", {})
        return entry

    def _store_history(self, prompt_id: str, entry: dict[str, Any]) -> None:
        self._history.pop(prompt_id, None)
        self._history[prompt_id] = entry
        while len(self._history) > self.max_history:
            self._history.popitem(last=False)

    def get_current_queue(self) -> tuple[list[tuple], list[tuple]]:
        """(running items, pending items in run order), 5-tuples, deep copies."""
        with self._lock:
            running = [remove_sensitive(i) for i in self._running.values()]
            pending = [remove_sensitive(e[3]) for e in sorted(self._heap)]
            return copy.deepcopy(running), copy.deepcopy(pending)

    get_current_queue_volatile = get_current_queue

    def get_tasks_remaining(self) -> int:
        with self._lock:
            return len(self._heap) + len(self._running)

    def running_prompt_ids(self) -> list[str]:
        with self._lock:
            return [i[1] for i in self._running.values()]

    def wipe_queue(self) -> None:
        with self._lock:
            self.store.remove_pending()
            self._heap = []
        self._notify()

    def delete_queue_item(self, function: Callable[[tuple], bool]) -> bool:
        """Remove the first pending item for which `function(item)` is true."""
        with self._lock:
            for index, entry in enumerate(self._heap):
                if function(entry[3]):
                    self.store.remove([entry[1]])
                    self._heap.pop(index)
                    heapq.heapify(self._heap)
                    break
            else:
                return False
        self._notify()
        return True

    # history -----------------------------------------------------------------------------------
    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        """ComfyUI semantics: insertion order; `max_items` alone gives the newest N; `offset` skips the oldest."""
        with self._lock:
            if prompt_id is not None:
                entry = self._history.get(prompt_id)
                return {prompt_id: copy.deepcopy(entry)} if entry is not None else {}
            if offset < 0 and max_items is not None:
                offset = len(self._history) - max_items
            out: dict[str, Any] = {}
            for index, (key, entry) in enumerate(self._history.items()):
                if max_items is not None and len(out) >= max_items:
                    break
                if index >= offset:
                    out[key] = copy.deepcopy(entry)
            return out

    def wipe_history(self) -> None:
        with self._lock:
            self.store.clear_history()
            self._history.clear()

    def delete_history_item(self, prompt_id: str) -> None:
        with self._lock:
            self.store.delete_history(prompt_id)
            self._history.pop(prompt_id, None)

    # flags (/free) -----------------------------------------------------------------------------
    def set_flag(self, name: str, data: Any) -> None:
        with self._lock:
            self._flags[name] = data
            self._not_empty.notify()

    def get_flags(self, reset: bool = True) -> dict[str, Any]:
        with self._lock:
            flags = self._flags
            if reset:
                self._flags = {}
            else:
                flags = flags.copy()
            return flags

    def wake(self) -> None:
        """Wake a worker blocked in `get` (used at shutdown)."""
        with self._lock:
            self._woken = True
            self._not_empty.notify_all()

    # jobs --------------------------------------------------------------------------------------
    def get_job(self, prompt_id: str) -> dict[str, Any] | None:
        running, queued = self.get_current_queue()
        with self._lock:
            history = {prompt_id: self._history[prompt_id]} if prompt_id in self._history else {}
            return copy.deepcopy(jobs_mod.get_job(prompt_id, running, queued, history))

    def get_all_jobs(self, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
        running, queued = self.get_current_queue()
        with self._lock:
            result = jobs_mod.get_all_jobs(running, queued, self._history, **kwargs)
            return copy.deepcopy(result)
