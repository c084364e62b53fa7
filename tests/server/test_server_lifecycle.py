"""Custom-node routes, the comfy_execution.jobs alias, and graceful shutdown re-queueing."""

from __future__ import annotations

import time

from aiohttp import web

from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.queue import QueueStore
from comfy_core.server.app import create_app
from tests.server.harness import RunningServer, build_services, save_prompt, start_server


def test_custom_node_routes_served_with_api_copies(tmp_path):
    config = Config()
    services = build_services(str(tmp_path), config)
    runtime.install(services)

    @services.server.routes.get("/my_pack/hello")
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": request.query.get("name", "world")})

    srv = RunningServer(create_app(config, services), services).start()
    try:
        assert srv.get("/my_pack/hello", params={"name": "x"}).json() == {"hello": "x"}
        assert srv.get("/api/my_pack/hello").json() == {"hello": "world"}
    finally:
        srv.stop()
        runtime.uninstall()


def test_comfy_execution_jobs_alias():
    from comfy_core.compat import install_aliases

    install_aliases()
    import comfy_execution.jobs as jobs

    from comfy_core.queue import jobs as ours

    assert jobs.normalize_history_item is ours.normalize_history_item and jobs.JobStatus.FAILED == "failed"


def test_graceful_stop_requeues_running_prompt(tmp_path):
    srv = start_server(tmp_path)
    try:
        pid = srv.queue_prompt(save_prompt(1, seconds=30))["prompt_id"]
        deadline = time.time() + 10
        while not srv.get("/queue").json()["queue_running"] and time.time() < deadline:
            time.sleep(0.02)
        assert srv.get("/queue").json()["queue_running"][0][1] == pid
    finally:
        t0 = time.time()
        srv.stop()
        runtime.uninstall()
    assert time.time() - t0 < 10
    store = QueueStore.in_directory(str(tmp_path / "user"))
    rows = store.queue_rows()
    assert [(r.item[1], r.state, r.attempts) for r in rows] == [(pid, "pending", 0)]
    store.close()
