"""Browser tests: Python Playwright driving Debian's chromium against the editor in web/.

The server is the real one (`main.py` started as a subprocess on a free port with temp directories) when
it can start; otherwise `web_fake_server.FakeServer`. `sd_server` is a second real server whose
--base-directory holds a tiny random SD1 checkpoint, for tests that really sample. Screenshots of every step
go to test-artifacts/web/.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_sd import SERVER_ENV, build_sd_base
from web_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, Server, start_fake_server, start_real_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)", allow_module_level=True)
if not (REPO / "web/node_modules/@comfyorg/litegraph/dist/litegraph.es.js").exists():
    pytest.skip("web/node_modules is missing (run `npm ci` in web/ or `make web`)", allow_module_level=True)


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
def sd_base() -> Iterator[tuple[Path, str]]:
    """(base directory, checkpoint file name): models/checkpoints holds a tiny random SD1 checkpoint."""
    tmp = Path(tempfile.mkdtemp(prefix="comfy-web-sd-base-"))
    yield build_sd_base(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def sd_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The real server (main.py) over `sd_base`; the fake server cannot sample, so without main.py this skips."""
    if os.environ.get("COMFY_WEB_FAKE_SERVER") or not (REPO / "main.py").exists():
        pytest.skip("sampling needs the real server (COMFY_WEB_FAKE_SERVER=1 or no main.py)")
    sd_base = request.getfixturevalue("sd_base")
    tmp = Path(tempfile.mkdtemp(prefix="comfy-web-sd-"))
    srv = start_real_server(tmp, ["--base-directory", str(sd_base[0])], env=SERVER_ENV)
    assert srv is not None
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


def open_editor(browser: Any, server: Server, name: str) -> Iterator[EditorPage]:
    context = browser.new_context(viewport={"width": 1600, "height": 900}, accept_downloads=True)
    page = context.new_page()
    ed = EditorPage(page, name)
    page.goto(server.url + "/")
    page.wait_for_function("window.app && window.app.ready === true", timeout=30000)
    yield ed
    context.close()


@pytest.fixture
def editor(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[EditorPage]:
    yield from open_editor(browser, server, request.node.name)


@pytest.fixture
def sd_editor(browser: Any, sd_server: Server, request: pytest.FixtureRequest) -> Iterator[EditorPage]:
    """The editor on `sd_server` (the tiny SD1 checkpoint is the only one listed)."""
    yield from open_editor(browser, sd_server, request.node.name)
