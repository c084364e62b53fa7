"""Start `python main.py` as a real subprocess on a free port (durability, CLI and client tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_YAML = os.path.join(REPO, "tests", "fixtures", "server_nodes", "extra_model_paths.yaml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, base: str, port: int | None = None, *extra: str) -> None:
        self.base, self.port = base, port or free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(base, f"server-{self.port}.log")

    def start(self, timeout: float = 120) -> ServerProcess:
        os.makedirs(self.base, exist_ok=True)
        cmd = [
            sys.executable,
            os.path.join(REPO, "main.py"),
            "--base-directory",
            self.base,
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--extra-model-paths-config",
            TEST_YAML,
            "--cpu",
            *self.extra,
        ]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited {self.proc.returncode}:\n{open(self.log_path).read()[-3000:]}"
                )
            try:
                if requests.get(self.url("/prompt"), timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not come up")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self.log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self.log.closed:
            self.log.close()
