"""A small stand-in with the executor's interface, used only while execution.py does not exist."""

from __future__ import annotations

import time
import traceback
from typing import Any

from comfy_core.progress import (
    ExecutingContext,
    InterruptFlag,
    InterruptProcessingException,
    reset_executing_context,
    set_executing_context,
)


def _ms() -> int:
    return int(time.time() * 1000)


class FakeExecutor:
    def __init__(self, registry: Any, sink: Any, cache_config: Any = None) -> None:
        self.registry, self.sink = registry, sink
        self.flag = InterruptFlag()
        self.reset()

    def reset(self) -> None:
        self.success = True
        self.status_messages: list = []
        self.history_result: dict = {"outputs": {}, "meta": {}}
        self.current_node = None
        self.current_prompt_id = None

    def interrupt(self) -> None:
        self.flag.set()

    def _msg(self, event: str, data: dict, sid: Any, broadcast: bool = False) -> None:
        data = {**data, "timestamp": _ms()}
        self.status_messages.append((event, data))
        if sid is not None or broadcast:
            self.sink.send(event, data, sid)

    def execute(self, prompt: dict, prompt_id: str, extra_data: dict, execute_outputs: list) -> None:
        self.reset()
        self.flag.clear()
        sid = extra_data.get("client_id")
        self.current_prompt_id = prompt_id
        self._msg("execution_start", {"prompt_id": prompt_id}, sid)
        self._msg("execution_cached", {"nodes": [], "prompt_id": prompt_id}, sid)
        values: dict[str, tuple] = {}
        executed: list[str] = []

        def hook(value, total, preview, node_id, pid):
            if sid is not None:
                self.sink.send("progress", {"value": value, "max": total, "prompt_id": pid, "node": node_id}, sid)

        def run(node_id: str) -> tuple:
            if node_id in values:
                return values[node_id]
            node = prompt[node_id]
            kwargs = {}
            for name, value in node["inputs"].items():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    kwargs[name] = run(value[0])[value[1]]
                else:
                    kwargs[name] = value
            cls = self.registry.get(node["class_type"])
            self.current_node = node_id
            if sid is not None:
                self.sink.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}, sid)
            if self.flag.is_set():
                self.flag.clear()
                raise InterruptProcessingException()
            token = set_executing_context(ExecutingContext(prompt_id, node_id, None, hook, self.flag))
            try:
                result = getattr(cls(), cls.FUNCTION)(**kwargs)
            finally:
                reset_executing_context(token)
            executed.append(node_id)
            if isinstance(result, dict):
                ui = result.get("ui")
                self.history_result["outputs"][node_id] = ui
                self.history_result["meta"][node_id] = {"node_id": node_id, "display_node": node_id,
                                                        "parent_node": None, "real_node_id": node_id}
                if sid is not None:
                    self.sink.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                                "prompt_id": prompt_id}, sid)
                result = result.get("result", ())
            values[node_id] = result
            return result

        try:
            for output in execute_outputs:
                run(output)
        except InterruptProcessingException:
            self.success = False
            self._msg("execution_interrupted", {"prompt_id": prompt_id, "node_id": self.current_node,
                                                "node_type": prompt[self.current_node]["class_type"],
                                                "executed": executed}, sid, broadcast=True)
            return
        except Exception as err:
            self.success = False
            self._msg("execution_error", {
                "prompt_id": prompt_id, "node_id": self.current_node,
                "node_type": prompt[self.current_node]["class_type"], "executed": executed,
                "exception_message": str(err), "exception_type": type(err).__name__,
                "traceback": traceback.format_tb(err.__traceback__), "current_inputs": {},
                "current_outputs": []}, sid)
            return
        self._msg("execution_success", {"prompt_id": prompt_id}, sid)
