"""`--front-end comfyui` serves ComfyUI's official frontend (comfyui-frontend-package) instead of web/: it boots
on our API without errors, registers every node, and runs the default text-to-image workflow on the tiny SD1
checkpoint (queue button, progress, image on SaveImage, the job in its queue panel and in /api/history)."""
from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from web_sd import SD_NODES, SERVER_ENV, tiny_workflow
from web_support import ARTIFACTS, Server, start_real_server

# What the official frontend asks for at boot that a fresh ComfyUI answers with 404 too: optional user files
# (user.css, the saved template selection), user-data folders that do not exist yet, and the workflow
# templates index, which ComfyUI serves only from the separate comfyui-workflow-templates package.
EXPECTED_404 = {"/user.css", "/api/userdata/user.css", "/api/userdata/comfy.templates.json",
                "/api/userdata?dir=workflows", "/api/userdata?dir=subgraphs", "/templates/index.json"}
# A returning user: no first-run template browser over the canvas, no release check against api.comfy.org
# (this machine is offline).
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False}


def frontend_static() -> Path:
    package = pytest.importorskip("comfyui_frontend_package", reason="comfyui-frontend-package is not installed")
    static = Path(package.__file__).parent / "static"
    if not (static / "index.html").exists():
        pytest.skip(f"{static} has no index.html")
    return static


def post_json(url: str, body: Any) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return res.status


@pytest.fixture(scope="module")
def official(server: Server, request: pytest.FixtureRequest) -> Iterator[Server]:
    frontend_static()
    if server.kind != "real":
        pytest.skip("the official-frontend option needs the real server (main.py did not start)")
    sd_base = request.getfixturevalue("sd_base")
    tmp = Path(tempfile.mkdtemp(prefix="comfy-web-official-"))
    srv = start_real_server(tmp, ["--front-end", "comfyui", "--base-directory", str(sd_base[0])], env=SERVER_ENV)
    assert srv is not None
    try:
        assert post_json(srv.url + "/api/settings", SETTINGS) == 200
        srv.object_info = srv.get_json("/api/object_info")
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


class OfficialPage:
    """The official frontend in a fresh browser context, with console, page errors and failed requests logged."""

    def __init__(self, browser: Any, srv: Server, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1600, "height": 900})
        self.page = self.context.new_page()
        self.name, self.origin = name, srv.url
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.http_errors: list[tuple[int, str]] = []  # (status, path?query) on our server
        self.failed: list[str] = []  # requests that got no answer at all
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("response", self._response)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.method} {r.url} {r.failure}"))

    def _response(self, res: Any) -> None:
        if res.status >= 400:
            parts = urlsplit(res.url)
            self.http_errors.append((res.status, parts.path + ("?" + parts.query if parts.query else "")))

    def boot(self) -> None:
        self.page.goto(self.origin + "/")
        # window.app / window.LiteGraph are the official frontend's own globals; the graph canvas is Vue-mounted.
        self.page.wait_for_function("window.app?.graph && window.LiteGraph && window.app.api", timeout=90000)
        self.page.wait_for_function("Object.keys(window.LiteGraph.registered_node_types).length > 0", timeout=60000)
        self.page.wait_for_selector("[data-testid='queue-button']", timeout=30000)

    def shot(self, step: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{step}.png"))

    def unexpected_failures(self) -> list[str]:
        """Everything that failed and that a fresh ComfyUI would not fail on too."""
        bad = [f"HTTP {status} {path}" for status, path in self.http_errors
               if status != 404 or not any(path == e or path.startswith(e + "&") for e in EXPECTED_404)]
        bad += [f"no answer: {f}" for f in self.failed
                if not (f.endswith("net::ERR_ABORTED") and urlsplit(f.split()[1]).path in EXPECTED_404)]
        bad += [f"console: {c}" for c in self.console_errors if not c.startswith("Failed to load resource: the server responded with a status of 404")]
        return bad + [f"pageerror: {e}" for e in self.page_errors]


@pytest.fixture
def official_page(browser: Any, official: Server, request: pytest.FixtureRequest) -> Iterator[OfficialPage]:
    page = OfficialPage(browser, official, request.node.name)
    yield page
    page.context.close()


def test_official_frontend_boots_and_lists_nodes(official_page, official, browser, server):
    page = official_page.page
    official_page.boot()
    # The official index.html, not ours (web/index.html has no #vue-app).
    assert page.locator("#vue-app").count() == 1
    registered = page.evaluate("Object.keys(window.LiteGraph.registered_node_types)")
    assert set(official.object_info) <= set(registered), sorted(set(official.object_info) - set(registered))[:10]
    page.wait_for_timeout(1500)  # late boot requests (queue, history, models)
    official_page.shot("booted")
    assert official_page.unexpected_failures() == []
    assert official_page.page_errors == []
    expected = set(server.object_info)
    if {"EmptyImage", "ImageInvert", "ImageBlend", "SaveImage", "PreviewImage"} <= expected <= set(registered):
        check_same_prompt_both_ways(editor_page(browser, server), page)
    assert official_page.unexpected_failures() == []


RECORD = """() => {
    window.__events = [];
    for (const t of ['execution_start', 'executing', 'progress', 'executed', 'execution_success', 'execution_error'])
        app.api.addEventListener(t, (e) => window.__events.push([t, e.detail, document.title]));
}"""


def test_official_frontend_runs_text_to_image(official_page, official, sd_base):
    missing = [c for c in SD_NODES if c not in official.object_info]
    assert not missing, f"server registry lacks {missing}"
    page = official_page.page
    official_page.boot()
    workflow = tiny_workflow(sd_base[1], "official", seed=7)
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    values = page.evaluate("""() => Object.fromEntries(app.graph._nodes.map(n =>
        [n.type + ':' + n.id, (n.widgets || []).map(w => w.value)]))""")
    assert values["EmptyLatentImage:5"][:2] == [64, 64] and values["KSampler:3"][:3] == [7, "fixed", 2]
    assert values["CheckpointLoaderSimple:4"] == [sd_base[1]]
    page.evaluate(RECORD)
    official_page.shot("loaded")

    page.click("[data-testid='queue-button'] button.p-splitbutton-button")  # "Run"
    page.wait_for_function("window.__events.some(([t]) => t === 'execution_success' || t === 'execution_error')",
                           timeout=60000)
    events = page.evaluate("window.__events")
    assert [d for t, d, _ in events if t == "execution_error"] == []
    # Per-node progress reached the frontend, which shows it in the tab title ("[overall%][node%] KSampler").
    progress = [(d["node"], d["value"], d["max"], title) for t, d, title in events if t == "progress"]
    assert [p[:3] for p in progress] == [("3", 1, 2), ("3", 2, 2)]
    assert progress[0][3].endswith("[50%] KSampler") and progress[1][3].endswith("[100%] KSampler"), progress
    executed = [d for t, d, _ in events if t == "executed"]
    assert [d["node"] for d in executed] == ["9"]
    image = executed[0]["output"]["images"][0]
    assert image["type"] == "output" and image["filename"].startswith("official_")

    # The image is on the SaveImage node, the file is in output/ and in /api/history.
    page.wait_for_function("app.graph.getNodeById(9).imgs?.[0]?.naturalWidth === 64", timeout=30000)
    src = page.evaluate("app.graph.getNodeById(9).imgs[0].src")
    assert f"filename={image['filename']}" in src
    with Image.open(official.output_dir / image["filename"]) as im:
        assert im.size == (64, 64)
        assert json.loads(im.text["prompt"])["3"]["inputs"]["seed"] == 7
        assert json.loads(im.text["workflow"])["nodes"]
    prompt_id = events[0][1]["prompt_id"]
    history = official.get_json(f"/api/history/{prompt_id}")[prompt_id]
    assert history["status"]["completed"] is True
    assert history["outputs"]["9"]["images"] == [image]
    page.keyboard.press(".")  # fit the graph into view for the screenshot
    page.wait_for_timeout(300)
    official_page.shot("output")

    # Its queue panel lists the finished job with its output file.
    page.click("text=/1 job completed/")
    page.wait_for_selector(f"text={image['filename']}", timeout=15000)
    official_page.shot("queue-panel")
    assert official_page.unexpected_failures() == []


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
    ours.context.close()
