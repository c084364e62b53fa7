"""The `--front-end-root` option serves ComfyUI's official frontend (comfyui-frontend-package) instead of web/."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from web_support import ARTIFACTS, start_real_server


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
    assert official is not None
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
        if {"EmptyImage", "ImageInvert", "ImageBlend", "SaveImage", "PreviewImage"} <= expected:
            check_same_prompt_both_ways(editor_page(browser, server), page)
        context.close()
    finally:
        official.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def editor_page(browser, server):
    page = browser.new_context(viewport={"width": 1400, "height": 800}).new_page()
    page.goto(server.url + "/")
    page.wait_for_function("window.app && window.app.ready === true", timeout=30000)
    return page


BUILD = """async () => {
    const { LiteGraph } = await import('@comfyorg/litegraph');
    app.graph.clear();
    const add = (t, x, y) => { const n = LiteGraph.createNode(t); n.pos = [x, y]; app.graph.add(n); return n; };
    const src = add('EmptyImage', 0, 0), src2 = add('EmptyImage', 0, 300), inv = add('ImageInvert', 350, 0);
    const blend = add('ImageBlend', 650, 0), rr = add('Reroute', 950, 0), save = add('SaveImage', 1100, 0);
    const muted = add('PreviewImage', 650, 400), prim = add('PrimitiveNode', -350, 0);
    src.connect(0, inv, 0); inv.connect(0, blend, 0); src2.connect(0, blend, 1); blend.connect(0, rr, 0);
    rr.connect(0, save, 0); inv.connect(0, muted, 0);
    prim.connect(0, src, src.inputs.findIndex(i => i.name === 'width'));
    prim.widgets[0].value = 80;
    inv.mode = 4; muted.mode = 2;
    src2.widgets.find(w => w.name === 'color').value = 255;
    blend.widgets.find(w => w.name === 'blend_mode').value = 'multiply';
    save.widgets[0].value = 'compat';
}"""


def normalise(output):
    return {k: (v["class_type"], v["inputs"]) for k, v in output.items()}


def check_same_prompt_both_ways(ours, official):
    """The same UI workflow converts to the same API prompt in this editor and in ComfyUI's frontend."""
    ours.evaluate(BUILD)
    mine = ours.evaluate("JSON.parse(JSON.stringify(app.graphToPrompt()))")  # as sent over HTTP
    theirs = official.evaluate("""async (wf) => { await app.loadGraphData(wf); const r = await app.graphToPrompt();
        return JSON.parse(JSON.stringify({workflow: r.workflow, output: r.output})); }""", mine["workflow"])
    assert normalise(theirs["output"]) == normalise(mine["output"])
    official.wait_for_timeout(500)
    assert official.locator("text=Invalid workflow against zod schema").count() == 0, "our workflow JSON fails their schema"
    assert mine["output"][next(k for k, v in mine["output"].items() if v["class_type"] == "SaveImage")]["inputs"]["images"][0] \
        in mine["output"]
    ours.evaluate("async (wf) => { await app.loadGraphData(wf); }", theirs["workflow"])
    again = ours.evaluate("app.graphToPrompt().output")
    assert normalise(again) == normalise(theirs["output"])
    ours.screenshot(path=str(ARTIFACTS / "official-frontend-roundtrip-ours.png"))
    official.keyboard.press("Escape")
    official.wait_for_timeout(300)
    official.screenshot(path=str(ARTIFACTS / "official-frontend-roundtrip-theirs.png"))
