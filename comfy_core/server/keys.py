"""Typed application keys: everything a handler needs hangs off `request.app[KEY]`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from comfy_core.config import Config
from comfy_core.queue import PromptQueue
from comfy_core.runtime import Services
from comfy_core.server.instance import PromptServer

Validator = Callable[[Any, str, dict, Any], Awaitable[tuple]]

CONFIG = web.AppKey("config", Config)
SERVICES = web.AppKey("services", Services)
SERVER = web.AppKey("server", PromptServer)
QUEUE = web.AppKey("queue", PromptQueue)
VALIDATE = web.AppKey("validate", object)  # Validator: (registry, prompt_id, prompt, targets) -> 4-tuple
USERS = web.AppKey("users", object)  # comfy_core.server.users.UserManager
LOGS = web.AppKey("logs", object)  # comfy_core.server.logs.LogBuffer
WEB_ROOT = web.AppKey("web_root", str)
MODEL_LISTS = web.AppKey("model_lists", dict)  # folder -> cached /experiment/models listing


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def read_json(request: web.Request, default: Any = ...) -> Any:
    """The request body as JSON; a 400 with a clear message when it is not JSON (or `default`)."""
    try:
        return await request.json()
    except Exception as err:
        if default is not ...:
            return default
        raise web.HTTPBadRequest(
            text=f'{{"error": "request body is not valid JSON: {type(err).__name__}"}}',
            content_type="application/json",
        ) from None
