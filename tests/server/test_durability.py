"""A prompt answered 200 is never lost: kill -9 mid-run, restart, everything finishes."""

from __future__ import annotations

import time

import requests

from tests.server.harness import save_prompt
from tests.server.process import ServerProcess


def _history(srv):
    return requests.get(srv.url("/history"), timeout=10).json()


def _wait(predicate, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def test_kill9_mid_run_then_restart_finishes_all(tmp_path):
    base = str(tmp_path / "base")
    srv = ServerProcess(base).start()
    try:
        ids = []
        for i in range(10):
            r = requests.post(
                srv.url("/prompt"), json={"prompt": save_prompt(i, seconds=0.6, prefix="dur")}, timeout=10
            )
            assert r.status_code == 200
            ids.append(r.json()["prompt_id"])
        _wait(lambda: len(_history(srv)) >= 2, 60)
        running = _wait(lambda: requests.get(srv.url("/queue"), timeout=10).json()["queue_running"], 30, 0.02)
        before = _history(srv)
    finally:
        srv.kill9()
    assert running[0][1] not in before

    srv2 = ServerProcess(base).start()
    try:
        history = _wait(lambda: (h := _history(srv2)) and len(h) == 10 and h, 120, 0.2)
        assert set(history) == set(ids)
        assert all(e["status"]["status_str"] == "success" for e in history.values())
        for pid, entry in before.items():  # entries written before the crash are intact
            assert history[pid] == entry
        assert requests.get(srv2.url("/api/jobs"), timeout=10).json()["pagination"]["total"] == 10
        assert (
            requests.post(srv2.url("/prompt"), json={"prompt": save_prompt(99)}, timeout=10).json()["number"]
            >= 0
        )
    finally:
        srv2.stop()
