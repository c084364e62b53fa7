"""Shared pieces of the browser tests: paths, chromium flags, starting the real or the fake server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


@dataclass
class Server:
    url: str
    kind: str  # "real" or "fake"
    output_dir: Path
    input_dir: Path
    user_dir: Path
    stop: Any = None
    log: Path | None = None
    object_info: dict[str, Any] = field(default_factory=dict)

    def get_json(self, route: str) -> Any:
        with urllib.request.urlopen(self.url + route, timeout=30) as res:
            return json.loads(res.read())


def start_real_server(tmp: Path, extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> Server | None:
    """Start main.py on a free port; None without main.py, RuntimeError (with the log) when it fails.

    `env` entries are added to the subprocess environment (e.g. OMP_NUM_THREADS=1 for model runs)."""
    if not (REPO / "main.py").exists():
        return None
    out, inp, user, temp = tmp / "output", tmp / "input", tmp / "user", tmp / "temp"
    for d in (out, inp, user, temp):
        d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp / "server.log"
    cmd = [sys.executable, str(REPO / "main.py"), "--listen", "127.0.0.1", "--port", str(port),
           "--output-directory", str(out), "--input-directory", str(inp), "--user-directory", str(user),
           "--temp-directory", str(temp), "--cpu", "--disable-auto-launch", *(extra_args or [])]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    if not wait_http(url + "/api/object_info", 180, proc):
        proc.terminate()
        proc.wait(10)
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"main.py did not serve /api/object_info (exit code {proc.returncode}):\n{tail}")

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()

    return Server(url, "real", out, inp, user, stop, log)


def start_fake_server(tmp: Path) -> Server:
    from web_fake_server import FakeServer

    fake = FakeServer(tmp)
    url = fake.start()
    return Server(url, "fake", fake.output, fake.input, fake.user, fake.stop)


