"""ComfyUI's `server` module: `PromptServer.instance` and `BinaryEventTypes`.

`PromptServer.instance` is a thin facade over `runtime.current().server`. When nothing has been created
yet (custom nodes import before the HTTP app exists, or a headless run), a `comfy_core.server` PromptServer
is created and stored there, so `.routes` (an aiohttp `RouteTableDef`) exists for packs to decorate at
import time and the app factory later serves those routes. Events from node code go to the instance's
event sink (the server when one runs, a recorder in tests).
"""

from __future__ import annotations

from typing import Any

from comfy_core import runtime
from comfy_core.events import BinaryEvent

BinaryEventTypes = BinaryEvent


def _server() -> Any:
    services = runtime.current()
    if services.server is None:
        from comfy_core.server.instance import PromptServer as RunningServer

        services.server = RunningServer()
    return services.server


class _PromptServerFacade:
    """Forwards every attribute to the running server; sending goes through the instance's sink."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_server(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_server(), name, value)

    @property
    def instance(self) -> _PromptServerFacade:
        return self

    def send_sync(self, event: str | int, data: Any, sid: str | None = None) -> None:
        runtime.current().sink.send(event, data, sid)

    def send_progress_text(self, text: str | bytes, node_id: str, sid: str | None = None) -> None:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        runtime.current().sink.send(BinaryEvent.TEXT, (str(node_id), text), sid)


_FACADE = _PromptServerFacade()


class _InstanceDescriptor:
    def __get__(self, obj: Any, owner: type | None = None) -> _PromptServerFacade:
        return _FACADE


class PromptServer:
    """`PromptServer.instance` is the running server (see module docstring)."""

    instance = _InstanceDescriptor()
