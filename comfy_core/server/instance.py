"""`PromptServer`: the running server as custom nodes and the executor see it.

ComfyUI's node packs reach the server through `server.PromptServer.instance` (the compat module
delegates to `runtime.current().server`): they add routes to `.routes` at import time, call
`send_sync(event, data, sid)` from node code, read `.client_id` / `.last_node_id`, register
`add_on_prompt_handler`. This object offers that surface over our `Hub` and `PromptQueue`; the app
factory adds `.routes` (with `/api` copies) when it builds the application.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from comfy_core.server.hub import Hub

log = logging.getLogger(__name__)


class PromptServer:
    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub or Hub()
        self.routes = web.RouteTableDef()  # filled by custom nodes at import time
        self.app: web.Application | None = None
        self.prompt_queue: Any = None
        self.client_id: str | None = None  # sid of the prompt being executed
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.number = 0  # priority counter for POST /prompt without "number"
        self.supports = ["custom_nodes_from_web"]
        self.on_prompt_handlers: list[Callable[[dict], dict]] = []
        self.user_manager: Any = None

    # ComfyUI attribute names --------------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self.hub.loop

    @property
    def sockets(self) -> dict[str, Any]:
        return {sid: c.ws for sid, c in self.hub.clients.items()}

    @property
    def sockets_metadata(self) -> dict[str, dict[str, Any]]:
        return {sid: {"feature_flags": c.feature_flags} for sid, c in self.hub.clients.items()}

    def add_on_prompt_handler(self, handler: Callable[[dict], dict]) -> None:
        self.on_prompt_handlers.append(handler)

    def trigger_on_prompt(self, json_data: dict) -> dict:
        for handler in self.on_prompt_handlers:
            try:
                json_data = handler(json_data)
            except Exception:
                log.exception("on_prompt handler %r failed", handler)
        return json_data

    def get_queue_info(self) -> dict[str, Any]:
        remaining = self.prompt_queue.get_tasks_remaining() if self.prompt_queue is not None else 0
        return {"exec_info": {"queue_remaining": remaining}}

    def queue_updated(self) -> None:
        self.send_sync("status", {"status": self.get_queue_info()})

    # sending ------------------------------------------------------------------------------------
    def send_sync(self, event: str | int, data: Any, sid: str | None = None) -> None:
        """Thread-safe: queue one event for delivery on the server loop (sid None = every client)."""
        if event == "execution_start":
            self.client_id = sid
        elif event == "executing" and isinstance(data, dict):
            self.last_node_id = data.get("node")
        self.hub.post(event, data, sid)

    async def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        await self.hub.send(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        await self.hub.send_json(event, data, sid)

    async def send_bytes(self, event: int, data: bytes, sid: str | None = None) -> None:
        await self.hub.send_bytes(event, data, sid)

    def send_progress_text(self, text: str, node_id: str, sid: str | None = None) -> None:
        from comfy_core.events import BinaryEvent

        self.send_sync(BinaryEvent.TEXT, (node_id, text), sid)


class ServerSink:
    """The executor's `EventSink`, backed by the server (thread-safe)."""

    def __init__(self, server: PromptServer) -> None:
        self.server = server

    def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        self.server.send_sync(event, data, sid)
