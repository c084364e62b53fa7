"""Per-prompt node progress (`progress_state` messages) and the progress hook node code reports to.

Every change sends the whole map of non-pending nodes, as ComfyUI's web progress handler does. Entries
are replaced, never mutated, so a message handed to the sink stays valid while it waits to be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from comfy_core.events import BinaryEvent, EventSink
from comfy_core.graph.prompt import DynamicPrompt


class ProgressState:
    def __init__(self, prompt_id: str, dynprompt: DynamicPrompt, sink: EventSink, sid: str | None) -> None:
        self.prompt_id = prompt_id
        self.dynprompt = dynprompt
        self.sink = sink
        self.sid = sid
        self.nodes: dict[str, dict[str, Any]] = {}  # non-pending nodes only
        self._id_cache: dict[str, dict[str, Any]] = {}

    def _ids(self, node_id: str) -> dict[str, Any]:
        ids = self._id_cache.get(node_id)
        if ids is None:
            ids = self._id_cache[node_id] = self._make_ids(node_id)
        return ids

    def _make_ids(self, node_id: str) -> dict[str, Any]:
        dp = self.dynprompt
        return {
            "node_id": node_id,
            "prompt_id": self.prompt_id,
            "display_node_id": dp.get_display_node_id(node_id),
            "parent_node_id": dp.get_parent_node_id(node_id),
            "real_node_id": dp.get_real_node_id(node_id),
        }

    def _set(self, node_id: str, value: float, max_value: float, state: str) -> None:
        entry = {"value": value, "max": max_value, "state": state}
        entry.update(self._ids(node_id))
        self.nodes[node_id] = entry
        self.sink.send("progress_state", {"prompt_id": self.prompt_id, "nodes": dict(self.nodes)}, self.sid)

    def start(self, node_id: str) -> None:
        self._set(node_id, 0, 1, "running")

    def update(self, node_id: str, value: float, max_value: float) -> None:
        self._set(node_id, value, max_value, "running")

    def finish(self, node_id: str) -> None:
        previous = self.nodes.get(node_id)
        max_value = previous["max"] if previous is not None else 1
        self._set(node_id, max_value, max_value, "finished")

    def error(self, node_id: str) -> None:
        previous = self.nodes.get(node_id)
        self._set(node_id, previous["value"] if previous else 0, previous["max"] if previous else 1, "error")

    def make_hook(self) -> Callable[[float, float, Any, str | None, str | None], None]:
        """The hook `comfy_core.progress.report_progress` forwards to (progress + state + preview)."""

        def hook(value: float, total: float, preview: Any, node_id: str | None, prompt_id: str | None) -> None:
            prompt_id = prompt_id or self.prompt_id
            if node_id is None:
                return
            if prompt_id == self.prompt_id:
                self.update(node_id, value, total)
            self.sink.send(
                "progress", {"value": value, "max": total, "prompt_id": prompt_id, "node": node_id}, self.sid
            )
            if preview is not None:
                fmt, image, max_size = preview[0], preview[1], preview[2] if len(preview) > 2 else None
                meta = dict(self._ids(node_id))
                self.sink.send(BinaryEvent.UNENCODED_PREVIEW_IMAGE, (fmt, image, max_size, meta), self.sid)

        return hook
