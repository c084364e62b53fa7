"""WebSocket hub: connected clients by sid, their feature flags, and ordered delivery of events.

Events may be produced on any thread (the worker thread runs the executor). `post()` hands them to the
event loop with `loop.call_soon_threadsafe`; one publisher task sends them in order. Preview images are
encoded on the producing thread, once, in both binary layouts (type 1 and type 4); the publisher picks
the layout per socket from the client's `supports_preview_metadata` flag (contract 2.3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from aiohttp import web

from comfy_core.events import BinaryEvent

log = logging.getLogger(__name__)

IMAGE_FORMAT_CODES = {"JPEG": 1, "PNG": 2}
IMAGE_MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass
class Client:
    ws: web.WebSocketResponse
    feature_flags: dict[str, Any] = field(default_factory=dict)
    logs_subscribed: bool = False

    def supports(self, flag: str) -> bool:
        return self.feature_flags.get(flag) is True


@dataclass(frozen=True)
class EncodedPreview:
    """A preview frame in both layouts; `with_metadata` is None when the producer gave no metadata."""

    plain: bytes
    with_metadata: bytes | None


def pack_binary(event: int, payload: bytes) -> bytes:
    return struct.pack(">I", event) + payload


def encode_preview(data: tuple) -> EncodedPreview:
    """(format, PIL image, max_size[, metadata]) -> type 1 and type 4 frames (contract 2.3)."""
    image_format, image, max_size = data[0], data[1], data[2]
    metadata = data[3] if len(data) > 3 else None
    image_format = str(image_format).upper()
    if image_format not in IMAGE_FORMAT_CODES:
        image_format = "JPEG"
    if max_size is not None:
        from PIL import Image, ImageOps

        image = ImageOps.contain(image, (max_size, max_size), Image.Resampling.BILINEAR)
    buffer = BytesIO()
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(buffer, format=image_format, quality=95, compress_level=1)
    body = buffer.getvalue()
    plain = pack_binary(BinaryEvent.PREVIEW_IMAGE, struct.pack(">I", IMAGE_FORMAT_CODES[image_format]) + body)
    with_metadata = None
    if metadata is not None:
        meta = json.dumps({**metadata, "image_type": IMAGE_MIME[image_format]}).encode()
        with_metadata = pack_binary(
            BinaryEvent.PREVIEW_IMAGE_WITH_METADATA, struct.pack(">I", len(meta)) + meta + body
        )
    return EncodedPreview(plain, with_metadata)


def encode_text(node_id: str, text: str) -> bytes:
    node = str(node_id).encode()
    return pack_binary(BinaryEvent.TEXT, struct.pack(">I", len(node)) + node + str(text).encode())


class Hub:
    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._messages: asyncio.Queue | None = None
        self._publisher: asyncio.Task | None = None

    # lifecycle (called on the loop) -------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._messages = asyncio.Queue()
        self._publisher = asyncio.create_task(self._publish_forever())

    async def stop(self) -> None:
        await self.drain()
        if self._publisher is not None:
            self._publisher.cancel()
            try:
                await self._publisher
            except asyncio.CancelledError:
                pass
        for client in list(self.clients.values()):
            await client.ws.close(code=1001, message=b"server shutdown")
        self.clients.clear()
        self.loop = None

    async def drain(self) -> None:
        if self._messages is not None:
            await self._messages.join()

    # producing (any thread) --------------------------------------------------------------------
    def post(self, event: str | int, data: Any, sid: str | None) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if event == BinaryEvent.UNENCODED_PREVIEW_IMAGE:
            data, event = encode_preview(data), BinaryEvent.PREVIEW_IMAGE
        elif event == BinaryEvent.TEXT and isinstance(data, (tuple, list)):
            data = encode_text(data[0], data[1])[4:]
        try:
            loop.call_soon_threadsafe(self._messages.put_nowait, (event, data, sid))
        except RuntimeError:  # loop closed during shutdown
            pass

    # delivery (loop) ---------------------------------------------------------------------------
    async def _publish_forever(self) -> None:
        assert self._messages is not None
        while True:
            event, data, sid = await self._messages.get()
            try:
                await self.send(event, data, sid)
            except Exception:  # one bad message must not stop delivery
                log.exception("failed to deliver websocket event %r", event)
            finally:
                self._messages.task_done()

    def _targets(self, sid: str | None) -> list[Client]:
        if sid is None:
            return list(self.clients.values())
        client = self.clients.get(sid)
        return [client] if client is not None else []

    async def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        if isinstance(data, EncodedPreview):
            for client in self._targets(sid):
                frame = (
                    data.with_metadata
                    if (data.with_metadata is not None and client.supports("supports_preview_metadata"))
                    else data.plain
                )
                await self._send(client, frame)
        elif isinstance(data, (bytes, bytearray)):
            await self.send_bytes(int(event), bytes(data), sid)
        else:
            await self.send_json(str(event), data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        text = json.dumps({"type": event, "data": data})
        for client in self._targets(sid):
            await self._send(client, text)

    async def send_bytes(self, event: int, payload: bytes, sid: str | None = None) -> None:
        frame = pack_binary(event, payload)
        for client in self._targets(sid):
            await self._send(client, frame)

    @staticmethod
    async def _send(client: Client, message: str | bytes) -> None:
        if client.ws.closed:
            return
        try:
            if isinstance(message, str):
                await client.ws.send_str(message)
            else:
                await client.ws.send_bytes(message)
        except (ConnectionError, RuntimeError) as err:
            log.warning("websocket send error: %s", err)
