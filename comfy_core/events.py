"""The seam between the executor (worker thread) and whoever shows its events (server, CLI, tests).

Events mirror ComfyUI's `PromptServer.send_sync(event, data, sid)`: `event` is a JSON message type
(`"executing"`, `"progress"`, ...) or an int binary event type (1 preview, 2 unencoded preview, 3 text,
4 preview with metadata). `sid=None` means "no particular client" (see contract section 2.2).
"""

from __future__ import annotations

from typing import Any, Protocol


class BinaryEvent:
    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


class EventSink(Protocol):
    def send(self, event: str | int, data: Any, sid: str | None = None) -> None: ...


class NullSink:
    """Drops every event; used by headless runs and tests that do not listen."""

    def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        return None


class RecordingSink:
    """Keeps every event in order; handy in tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str | int, Any, str | None]] = []

    def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        self.events.append((event, data, sid))
