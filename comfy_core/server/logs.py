"""The last 300 log records for /internal/logs, and live `logs` messages to subscribed sockets."""

from __future__ import annotations

import logging
import shutil
from collections import deque
from datetime import datetime
from typing import Any

from aiohttp import web

from comfy_core.server.keys import LOGS, SERVER, SERVICES, json_error, read_json

MAX_ENTRIES = 300


class LogBuffer(logging.Handler):
    """A logging handler keeping recent records; attached to the root logger while the app runs."""

    def __init__(self, server: Any, capacity: int = MAX_ENTRIES) -> None:
        super().__init__(level=logging.INFO)
        self.server = server
        self.entries: deque[dict[str, str]] = deque(maxlen=capacity)
        self.subscribers: set[str] = set()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": datetime.now().isoformat(), "m": self.format(record) + "\n"}
        except Exception:
            return
        self.entries.append(entry)
        for sid in list(self.subscribers):
            self.server.send_sync("logs", {"entries": [entry], "size": None}, sid)

    def text(self) -> str:
        return "".join(f"{e['t']} - {e['m']}" for e in self.entries)

    def raw(self) -> dict[str, Any]:
        size = shutil.get_terminal_size((80, 24))
        return {"entries": list(self.entries), "size": {"cols": size.columns, "rows": size.lines}}


async def get_logs(request: web.Request) -> web.Response:
    return web.json_response(request.config_dict[LOGS].text())


async def get_logs_raw(request: web.Request) -> web.Response:
    return web.json_response(request.config_dict[LOGS].raw())


async def subscribe_logs(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("clientId"), str):
        return json_error(400, "body must be {clientId, enabled}")
    buffer: LogBuffer = request.config_dict[LOGS]
    if body.get("enabled"):
        buffer.subscribers.add(body["clientId"])
    else:
        buffer.subscribers.discard(body["clientId"])
    return web.Response(status=200)


async def get_folder_paths(request: web.Request) -> web.Response:
    paths = request.config_dict[SERVICES].paths
    return web.json_response({key: paths.get_folder_paths(key) for key in paths.folder_names_and_paths})


def log_buffer(app: web.Application) -> LogBuffer:
    return LogBuffer(app[SERVER])
