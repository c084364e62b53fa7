"""Run the real app (create_app) on a free port in a background thread; talk to it over HTTP/WS."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import requests
import websocket
from aiohttp import web

from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.paths import Paths
from comfy_core.registry.discovery import load_custom_nodes
from comfy_core.registry.registry import NodeRegistry
from comfy_core.runtime import Services
from comfy_core.server.app import create_app
from comfy_core.server.instance import PromptServer, ServerSink

FIXTURE_NODES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "server_nodes")


def make_executor(registry: Any, sink: Any) -> Any:
    from execution import CacheConfig, PromptExecutor

    return PromptExecutor(registry, sink, CacheConfig(mode="classic"))


def build_services(base: str, config: Config) -> Services:
    paths = Paths(base)
    for d in (paths.get_output_directory(), paths.get_input_directory(), paths.get_temp_directory()):
        os.makedirs(d, exist_ok=True)
    registry = NodeRegistry()
    load_custom_nodes(registry, [FIXTURE_NODES], run_prestartup=False)
    assert "ServerTestSleep" in registry, registry.failed_imports
    server = PromptServer()
    sink = ServerSink(server)
    services = Services(paths=paths, registry=registry, sink=sink, server=server, config=config)
    services.executor = make_executor(registry, sink)
    return services


class RunningServer:
    def __init__(self, app: web.Application, services: Services) -> None:
        self.app, self.services = app, services
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.runner: web.AppRunner | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.runner = web.AppRunner(self.app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> RunningServer:
        self._thread.start()
        assert self._ready.wait(20)
        return self

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def queue(self) -> Any:
        return self.services.server.prompt_queue

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=30, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return requests.post(self.url(path), timeout=30, **kw)

    def ws(self, client_id: str | None = None, **kw: Any) -> websocket.WebSocket:
        q = f"?clientId={client_id}" if client_id else ""
        sock = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws{q}", timeout=30, **kw)
        return sock

    def queue_prompt(self, prompt: dict, client_id: str | None = None, **extra: Any) -> dict:
        body = {"prompt": prompt, **extra}
        if client_id is not None:
            body["client_id"] = client_id
        r = self.post("/prompt", body)
        assert r.status_code == 200, r.text
        return r.json()


def read_until_done(sock: websocket.WebSocket, prompt_id: str, limit: int = 5000) -> list[Any]:
    """Every frame (JSON dict or bytes) up to and including `executing {node: null}` of `prompt_id`."""
    frames: list[Any] = []
    for _ in range(limit):
        raw = sock.recv()
        if isinstance(raw, bytes):
            frames.append(raw)
            continue
        msg = json.loads(raw)
        frames.append(msg)
        if (
            msg["type"] == "executing"
            and msg["data"].get("node") is None
            and msg["data"].get("prompt_id") == prompt_id
        ):
            return frames
    raise AssertionError("prompt did not finish")


def start_server(tmp_path: Any, **config_kw: Any) -> RunningServer:
    config = Config(**config_kw)
    services = build_services(str(tmp_path), config)
    runtime.install(services)
    app = create_app(config, services)
    return RunningServer(app, services).start()


def save_prompt(value: int = 1, seconds: float = 0.0, prefix: str = "t") -> dict:
    return {
        "1": {"class_type": "ServerTestInt", "inputs": {"value": value}},
        "2": {"class_type": "ServerTestSleep", "inputs": {"value": ["1", 0], "seconds": seconds}},
        "3": {"class_type": "ServerTestSave", "inputs": {"value": ["2", 0], "filename_prefix": prefix}},
    }
