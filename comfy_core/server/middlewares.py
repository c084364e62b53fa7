"""Middlewares of contract 1.1: cache headers, CORS or the loopback origin guard, bearer-token auth,
and a last-resort handler that turns unexpected exceptions into JSON errors."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import urllib.parse
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@web.middleware
async def cache_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        if not request.path.lower().endswith(IMAGE_EXTENSIONS):
            raise
    path = request.path
    name = path.rsplit("/", 1)[-1]
    if path.endswith((".js", ".css")) or (name.startswith("index") and name.endswith(".json")):
        response.headers.setdefault("Cache-Control", "no-cache")
    elif path.lower().endswith(IMAGE_EXTENSIONS):
        status = response.status
        file_path = getattr(response, "_path", None)  # FileResponse settles 404 only when prepared
        if isinstance(response, web.FileResponse) and file_path is not None and not os.path.isfile(file_path):
            status = 404
        if status == 404:
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        elif 200 <= status <= 206 or status in (301, 308):
            response.headers.setdefault("Cache-Control", "public, max-age=86400")
        elif status in (302, 303, 307):
            response.headers.setdefault("Cache-Control", "no-cache")
    if isinstance(response, web.HTTPException):
        raise response
    return response


def cors_middleware(allowed_origin: str) -> Callable:
    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = web.Response() if request.method == "OPTIONS" else await handler(request)
        response.headers["Access-Control-Allow-Origin"] = allowed_origin
        response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS, PATCH"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    return cors


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    loopback = False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            for *_, sockaddr in socket.getaddrinfo(host, None, family, socket.SOCK_STREAM):
                if not ipaddress.ip_address(sockaddr[0]).is_loopback:
                    return False
                loopback = True
        except (socket.gaierror, UnicodeError, ValueError):
            pass
    return loopback


def origin_mismatch(host: str, origin: str) -> bool:
    """True when Host is a loopback name and Origin names another host (a cross-site request)."""
    host_l = host.lower()
    parsed_origin = urllib.parse.urlparse(origin)
    parsed_host = urllib.parse.urlsplit("//" + host_l)
    try:
        origin_port, host_port = parsed_origin.port, parsed_host.port
    except ValueError:
        return True
    if not is_loopback_host(parsed_host.hostname):
        return False
    host_cmp = host_l if origin_port is not None else parsed_host.hostname
    origin_cmp = parsed_origin.netloc.lower() if host_port is not None else parsed_origin.hostname
    if not host_cmp or not origin_cmp:
        return False
    return host_cmp != origin_cmp


@web.middleware
async def origin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host and origin and origin_mismatch(host, origin):
        log.warning("request with non matching host and origin %s != %s, returning 403", host, origin)
        return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


def auth_middleware(token: str) -> Callable:
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return await handler(request)
        supplied = request.rel_url.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            supplied = header[7:].strip()
        if not hmac.compare_digest(supplied.encode(), expected):
            return web.json_response(
                {"error": "missing or wrong auth token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return auth


@web.middleware
async def error_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as err:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response({"error": f"internal error: {type(err).__name__}: {err}"}, status=500)
