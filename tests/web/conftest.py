"""Browser tests: Python Playwright driving Debian's chromium against the editor in web/.

The server is the real one (`main.py` started as a subprocess on a free port with temp directories) when
it can start; otherwise `fake_server.FakeServer`. Screenshots of every step go to test-artifacts/web/.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)", allow_module_level=True)
if not (REPO / "web/node_modules/@comfyorg/litegraph/dist/litegraph.es.js").exists():
    pytest.skip("web/node_modules is missing (run `npm ci` in web/ or `make web`)", allow_module_level=True)


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


def start_real_server(tmp: Path, extra_args: list[str] | None = None) -> Server | None:
    """Start main.py on a free port; None without main.py, RuntimeError (with the log) when it fails."""
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
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
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
    sys.path.insert(0, str(Path(__file__).parent))
    from fake_server import FakeServer

    fake = FakeServer(tmp)
    url = fake.start()
    return Server(url, "fake", fake.output, fake.input, fake.user, fake.stop)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    tmp = Path(tempfile.mkdtemp(prefix="comfy-web-"))
    srv = None
    if not os.environ.get("COMFY_WEB_FAKE_SERVER"):
        try:
            srv = start_real_server(tmp)
        except RuntimeError as error:
            print(f"tests/web: using the fake server; {error}")
    if srv is None:
        srv = start_fake_server(tmp)
    srv.object_info = srv.get_json("/api/object_info")
    yield srv
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class EditorPage:
    """A page with the editor loaded, plus console capture and screenshot helper."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    @property
    def errors(self) -> list[str]:
        return [c for c in self.console if c.startswith(("error", "pageerror"))]

    def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path))
        return path

    def eval(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def screen_pos(self, canvas_pos: list[float]) -> tuple[float, float]:
        """Graph coordinates -> page coordinates."""
        return tuple(self.eval("""([x, y]) => {
            const r = app.canvasEl.getBoundingClientRect();
            const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([x, y]);
            return [r.left + cx, r.top + cy];
        }""", canvas_pos))


@pytest.fixture
def editor(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[EditorPage]:
    context = browser.new_context(viewport={"width": 1600, "height": 900}, accept_downloads=True)
    page = context.new_page()
    ed = EditorPage(page, request.node.name)
    page.goto(server.url + "/")
    page.wait_for_function("window.app && window.app.ready === true", timeout=30000)
    yield ed
    context.close()
