"""The `--front-end-root` option serves ComfyUI's official frontend (comfyui-frontend-package) instead of web/."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ARTIFACTS, start_real_server


def frontend_static() -> Path:
    package = pytest.importorskip("comfyui_frontend_package", reason="comfyui-frontend-package is not installed")
    static = Path(package.__file__).parent / "static"
    if not (static / "index.html").exists():
        pytest.skip(f"{static} has no index.html")
    return static


def test_official_frontend_boots_and_lists_nodes(browser, server):
    static = frontend_static()
    if server.kind != "real":
        pytest.skip("the official-frontend option needs the real server (main.py does not start yet)")
    tmp = Path(tempfile.mkdtemp(prefix="comfy-web-official-"))
    official = start_real_server(tmp, ["--front-end-root", str(static)])
    if official is None:
        pytest.skip("main.py did not start with --front-end-root")
    try:
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(official.url + "/")
        # window.app / window.LiteGraph are the official frontend's own globals.
        page.wait_for_function("window.app?.graph && window.LiteGraph", timeout=90000)
        page.wait_for_function("Object.keys(window.LiteGraph.registered_node_types).length > 0", timeout=60000)
        registered = page.evaluate("Object.keys(window.LiteGraph.registered_node_types)")
        expected = set(server.object_info)
        assert expected <= set(registered), sorted(expected - set(registered))[:10]
        time.sleep(2)
        page.keyboard.press("Escape")  # first-run templates dialog
        time.sleep(0.5)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "official-frontend.png"))
        assert errors == []
        context.close()
    finally:
        official.stop()
        shutil.rmtree(tmp, ignore_errors=True)
