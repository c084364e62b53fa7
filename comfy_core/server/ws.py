"""GET /ws: one client socket (contract 2.1)."""

from __future__ import annotations

import json
import logging
import uuid

from aiohttp import WSMsgType, web

from comfy_core.server.hub import Client
from comfy_core.server.keys import CONFIG, LOGS, QUEUE, SERVER
from comfy_core.server.routes_info import server_features

log = logging.getLogger(__name__)


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    server = request.config_dict[SERVER]
    hub = server.hub
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
    # A newer socket with the same id replaces the old one for routing; the old socket is left open
    # (closing it would make a duplicated browser tab reconnect and steal the id back, forever).
    hub.clients.pop(sid, None)
    client = Client(ws)
    hub.clients[sid] = client
    try:
        await hub.send_json("status", {"status": server.get_queue_info(), "sid": sid}, sid)
        running = request.config_dict[QUEUE].running_prompt_ids()
        if server.client_id == sid and running and server.last_node_id is not None:
            await hub.send_json("executing", {"node": server.last_node_id}, sid)
        first = True
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                log.warning("ws connection closed with exception %s", ws.exception())
            elif msg.type == WSMsgType.TEXT and first:
                first = False
                await _first_frame(request, client, sid, msg.data)
    finally:
        if hub.clients.get(sid) is client:
            del hub.clients[sid]
            request.config_dict[LOGS].subscribers.discard(sid)
    return ws


async def _first_frame(request: web.Request, client: Client, sid: str, text: str) -> None:
    """Only the first text frame is read: `feature_flags` from the client, answered with ours."""
    try:
        message = json.loads(text)
    except ValueError:
        return
    if isinstance(message, dict) and message.get("type") == "feature_flags":
        data = message.get("data")
        client.feature_flags = data if isinstance(data, dict) else {}
        await request.config_dict[SERVER].hub.send_json(
            "feature_flags", server_features(request.config_dict[CONFIG]), sid
        )
