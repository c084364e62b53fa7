"""Origin guard, CORS mode, bearer-token auth (HTTP and WebSocket), cache headers."""

from __future__ import annotations

import pytest
import websocket

from comfy_core import runtime
from comfy_core.server.middlewares import origin_mismatch
from tests.server.harness import start_server


@pytest.fixture
def make_server(tmp_path):
    started = []

    def make(**kw):
        srv = start_server(tmp_path / str(len(started)), **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
    runtime.uninstall()


def test_origin_guard_blocks_foreign_origin_on_loopback(server):
    host = f"127.0.0.1:{server.port}"
    assert (
        server.post("/prompt", {"prompt": {}}, headers={"Origin": "http://evil.example"}).status_code == 403
    )
    assert server.get("/queue", headers={"Origin": "http://evil.example:8188"}).status_code == 403
    assert server.get("/queue", headers={"Origin": f"http://{host}"}).status_code == 200
    assert (
        server.get(
            "/queue",
            headers={"Host": f"localhost:{server.port}", "Origin": f"http://localhost:{server.port}"},
        ).status_code
        == 200
    )
    assert (
        server.get("/queue", headers={"Host": "example.org", "Origin": "http://evil.example"}).status_code
        == 200
    )
    assert requests_options(server, "/prompt").status_code == 200
    assert origin_mismatch("127.0.0.1:8188", "http://127.0.0.1") is False  # port-less origin: ports ignored
    assert origin_mismatch("localhost:8188", "http://127.0.0.1:8188") is True


def requests_options(server, path, **kw):
    import requests

    return requests.options(server.url(path), timeout=10, **kw)


def test_cors_mode_allows_foreign_origin(make_server):
    srv = make_server(enable_cors_header="*")
    r = srv.get("/queue", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
    pre = requests_options(srv, "/prompt", headers={"Origin": "http://evil.example"})
    assert (
        pre.status_code == 200
        and pre.headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
    )


def test_auth_token_required_everywhere(make_server):
    srv = make_server(auth_token="s3cret")
    assert srv.get("/queue").status_code == 401
    assert srv.get("/api/object_info").status_code == 401
    assert srv.get("/").status_code == 401
    assert srv.get("/internal/logs").status_code == 401
    assert srv.get("/queue", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert srv.get("/queue", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert srv.get("/queue", params={"token": "s3cret"}).status_code == 200
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws", timeout=10)
    ws = websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws?token=s3cret", timeout=10)
    assert '"status"' in ws.recv()
    ws.close()
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{srv.port}/ws", timeout=10, header=["Authorization: Bearer s3cret"]
    )
    assert '"status"' in ws.recv()
    ws.close()


def test_cache_headers(server):
    r = server.get("/missing-image.png")
    assert r.status_code == 404 and r.headers["Cache-Control"] == "public, max-age=3600"
    root = server.get("/")
    assert root.status_code == 200 and root.headers["Cache-Control"] == "no-cache"
    assert root.headers["Pragma"] == "no-cache"
