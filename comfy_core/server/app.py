"""The application factory: `create_app(config, services) -> web.Application`.

`services` carries the paths, registry and executor that `main.py` (or a test) built; a
`PromptServer` in `services.server` is reused (custom nodes may already have added routes to it) or
created. The queue is `services.server.prompt_queue` when set, else it is opened from
`<user directory>/comfy-core.db`. The worker thread, the websocket publisher and the log capture live
in a cleanup context; shutdown stops the worker (re-queueing the running prompt) and closes every socket.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from comfy_core.config import Config
from comfy_core.events import NullSink
from comfy_core.queue import PromptQueue, QueueStore
from comfy_core.runtime import Services
from comfy_core.server import middlewares
from comfy_core.server.instance import PromptServer, ServerSink
from comfy_core.server.keys import (
    CONFIG,
    LOGS,
    MODEL_LISTS,
    QUEUE,
    SERVER,
    SERVICES,
    USERS,
    VALIDATE,
    WEB_ROOT,
)
from comfy_core.server.logs import LogBuffer
from comfy_core.server.routes import setup_routes
from comfy_core.server.users import UserManager
from comfy_core.server.worker import PromptWorker

log = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = web.AppKey("worker", PromptWorker)


async def default_validate(registry: Any, prompt_id: str, prompt: dict, targets: Any) -> tuple:
    from comfy_core.graph.validation import validate_prompt

    return await validate_prompt(registry, prompt_id, prompt, targets)


def official_frontend_root() -> str | None:
    """The static root of the optional `comfyui-frontend-package` pip package, if installed."""
    spec = importlib.util.find_spec("comfyui_frontend_package")
    if spec is not None and spec.submodule_search_locations:
        static = os.path.join(list(spec.submodule_search_locations)[0], "static")
        if os.path.isfile(os.path.join(static, "index.html")):
            return static
    return None


def find_web_root(config: Config) -> str:
    """--front-end-root, else --front-end comfyui (the official package), else the repo's web/."""
    if config.front_end_root:
        return os.path.abspath(config.front_end_root)
    if config.front_end == "comfyui":
        official = official_frontend_root()
        if official is None:
            raise RuntimeError(
                "--front-end comfyui needs the official frontend: pip install comfyui-frontend-package"
            )
        return official
    ours = os.path.join(REPO_ROOT, "web")
    if os.path.isfile(os.path.join(ours, "index.html")):
        return ours
    return official_frontend_root() or ours


def build_middlewares(config: Config) -> list:
    chain = [middlewares.cache_headers]
    if config.enable_cors_header:
        chain.append(middlewares.cors_middleware(config.enable_cors_header))
    else:
        chain.append(middlewares.origin_guard)
    if config.auth_token:
        chain.append(middlewares.auth_middleware(config.auth_token))
    chain.append(middlewares.error_guard)
    return chain


def open_queue(config: Config, services: Services, server: PromptServer) -> PromptQueue:
    if server.prompt_queue is None:
        store = QueueStore.in_directory(services.paths.get_user_directory(), instance=str(config.port))
        server.prompt_queue = PromptQueue(store)
    queue = server.prompt_queue
    queue.on_change = server.queue_updated
    server.number = max(server.number, queue.next_number())
    return queue


def create_app(
    config: Config, services: Services, *, validate: Any = None, start_worker: bool = True
) -> web.Application:
    server = services.server if isinstance(services.server, PromptServer) else PromptServer()
    services.server = server
    if services.sink is None or isinstance(services.sink, NullSink):
        services.sink = ServerSink(server)
    app = web.Application(client_max_size=config.max_upload_bytes, middlewares=build_middlewares(config))
    server.app = app
    app[CONFIG] = config
    app[SERVICES] = services
    app[SERVER] = server
    owns_queue = server.prompt_queue is None
    app[QUEUE] = open_queue(config, services, server)
    app[VALIDATE] = validate or default_validate
    app[USERS] = UserManager(services.paths.get_user_directory(), config.multi_user)
    server.user_manager = app[USERS]
    app[LOGS] = LogBuffer(server)
    app[WEB_ROOT] = find_web_root(config)
    app[MODEL_LISTS] = {}
    setup_routes(app)
    if owns_queue:
        app.cleanup_ctx.append(_queue_context)
    app.cleanup_ctx.append(_hub_context)
    app.cleanup_ctx.append(_log_context)
    if start_worker:
        app.cleanup_ctx.append(_worker_context)
    app.on_shutdown.append(_close_sockets)
    return app


async def _queue_context(app: web.Application) -> AsyncIterator[None]:
    """Close the database this app opened, after the worker stopped (cleanup runs in reverse)."""
    yield
    app[QUEUE].store.close()
    app[SERVER].prompt_queue = None


async def _hub_context(app: web.Application) -> AsyncIterator[None]:
    hub = app[SERVER].hub
    await hub.start()
    yield
    await hub.stop()


async def _log_context(app: web.Application) -> AsyncIterator[None]:
    handler = app[LOGS]
    logging.getLogger().addHandler(handler)
    yield
    logging.getLogger().removeHandler(handler)


async def _worker_context(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    if services.executor is None:
        log.warning("no executor installed: prompts will be queued but not run")
        yield
        return
    worker = PromptWorker(app[QUEUE], services.executor, app[SERVER], services.memory)
    app[WORKER] = worker
    worker.start()
    yield
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, worker.stop)


async def _close_sockets(app: web.Application) -> None:
    for client in list(app[SERVER].hub.clients.values()):
        await client.ws.close(code=1001, message=b"server shutdown")
