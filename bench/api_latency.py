"""API latency and queue throughput of the real server (app factory, real executor, SQLite queue).

    .venv/bin/python bench/api_latency.py [--rounds 50] [--burst 200]

Prints: POST /prompt -> `execution_success` latency of a one-node prompt (median / p95 over rounds), the
POST round-trip alone, and the throughput of `--burst` trivial prompts queued back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from comfy_core import runtime  # noqa: E402
from tests.server.harness import start_server  # noqa: E402

TRIVIAL = {"1": {"class_type": "ServerTestSave", "inputs": {"value": 1, "filename_prefix": "bench"}}}


def wait_for(ws, event: str, prompt_id: str) -> None:
    while True:
        raw = ws.recv()
        if isinstance(raw, str):
            msg = json.loads(raw)
            if msg["type"] == event and msg["data"].get("prompt_id") == prompt_id:
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    srv = start_server(tempfile.mkdtemp(prefix="comfy-core-bench-"))
    try:
        sid = uuid.uuid4().hex
        ws = srv.ws(sid)
        ws.recv()
        latencies, posts = [], []
        for _ in range(args.rounds + 3):
            t0 = time.perf_counter()
            pid = srv.queue_prompt(TRIVIAL, client_id=sid)["prompt_id"]
            posts.append(time.perf_counter() - t0)
            wait_for(ws, "execution_success", pid)
            latencies.append(time.perf_counter() - t0)
        latencies, posts = latencies[3:], posts[3:]  # drop warm-up
        wait_for(ws, "executing", pid)

        t0 = time.perf_counter()
        ids = [srv.queue_prompt(TRIVIAL, client_id=sid)["prompt_id"] for _ in range(args.burst)]
        queued = time.perf_counter() - t0
        wait_for(ws, "execution_success", ids[-1])
        total = time.perf_counter() - t0
        ws.close()
    finally:
        srv.stop()
        runtime.uninstall()

    def ms(x: float) -> str:
        return f"{x * 1000:.1f} ms"

    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    print(
        f"one-node prompt, POST -> execution_success: median {ms(statistics.median(latencies))}, "
        f"p95 {ms(p95)} ({len(latencies)} rounds)"
    )
    print(f"POST /prompt round-trip (validate + durable enqueue): median {ms(statistics.median(posts))}")
    print(
        f"{args.burst} queued prompts: enqueued in {total and queued:.2f} s "
        f"({args.burst / queued:.0f}/s), all done in {total:.2f} s ({args.burst / total:.0f} prompts/s)"
    )


if __name__ == "__main__":
    main()
