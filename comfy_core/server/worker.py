"""The prompt worker: one thread that takes prompts from the queue and runs them through the executor.

Per prompt (contract 4.1): restore the sensitive extra_data keys, execute, write history, then send
`executing {node: null}` to the prompt's client. Between prompts it honours /free flags. A graceful
stop interrupts the running prompt and puts it back in the queue so it runs after a restart.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from typing import Any

from comfy_core.queue import PromptQueue
from comfy_core.server.instance import PromptServer

log = logging.getLogger(__name__)


def _status(executor: Any) -> dict[str, Any]:
    success = bool(executor.success)
    return {
        "status_str": "success" if success else "error",
        "completed": success,
        "messages": list(executor.status_messages),
    }


def _crash_status(prompt_id: str, err: BaseException) -> dict[str, Any]:
    message = {
        "prompt_id": prompt_id,
        "node_id": None,
        "node_type": None,
        "executed": [],
        "exception_message": str(err),
        "exception_type": type(err).__name__,
        "traceback": traceback.format_tb(err.__traceback__),
        "current_inputs": {},
        "current_outputs": [],
        "timestamp": int(time.time() * 1000),
    }
    return {"status_str": "error", "completed": False, "messages": [["execution_error", message]]}


class PromptWorker:
    def __init__(self, queue: PromptQueue, executor: Any, server: PromptServer, memory: Any = None) -> None:
        self.queue = queue
        self.executor = executor
        self.server = server
        self.memory = memory
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="comfy-core-prompt-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self.executor is not None:
            self.executor.interrupt()
        self.queue.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            taken = self.queue.get(timeout=1000.0)
            if self._stopping.is_set():
                if taken is not None:
                    self.queue.requeue(taken[1])
                break
            if taken is not None:
                self.run_one(*taken)
            self._apply_flags()

    def run_one(self, item: tuple, item_id: int) -> None:
        prompt_id = item[1]
        extra_data = dict(item[3])
        extra_data.update(item[5] if len(item) > 5 else {})
        client_id = extra_data.get("client_id")
        self.server.last_prompt_id = prompt_id
        self.server.client_id = client_id
        self.server.last_node_id = None
        started = time.perf_counter()
        try:
            self.executor.execute(item[2], prompt_id, extra_data, item[4])
            status, result = _status(self.executor), self.executor.history_result
        except Exception as err:  # an executor bug must not stop the queue
            log.exception("executor failed on prompt %s", prompt_id)
            status, result = _crash_status(prompt_id, err), {"outputs": {}, "meta": {}}
        if self._stopping.is_set() and not status["completed"]:
            self.queue.requeue(item_id)
            return
        self.queue.task_done(item_id, result, status)
        if client_id is not None:
            self.server.send_sync("executing", {"node": None, "prompt_id": prompt_id}, client_id)
        log.info("Prompt executed in %.2f seconds", time.perf_counter() - started)

    def _apply_flags(self) -> None:
        flags = self.queue.get_flags()
        free_memory = bool(flags.get("free_memory", False))
        if flags.get("unload_models", free_memory) and self.memory is not None:
            unload = getattr(self.memory, "unload_all_models", None)
            if unload is not None:
                unload()
        if free_memory and self.executor is not None:
            self.executor.reset()
        if flags:
            gc.collect()
