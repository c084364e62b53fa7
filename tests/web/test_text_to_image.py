"""The default text-to-image workflow, run from the editor against a tiny random SD1 checkpoint on the real
server: widgets set through LiteGraph's value dialogs, queued with the Queue button, per-node progress shown
(progress text, bar and the sampler's on-canvas bar), the output image shown on SaveImage."""
from __future__ import annotations

import base64
import json

import numpy as np
from PIL import Image
from web_helpers import set_widget_by_prompt, widget_value
from web_sd import SD_NODES
from web_support import ARTIFACTS

# Records every run event, and at each `progress` event (after the editor's own listener has run) what the
# page shows: the progress text, the bar width, and the canvas redrawn right then, with the pixel where the
# running node's progress bar is drawn (the top edge of its body).
RECORD = """() => {
    window.__events = [];
    window.__progress = [];
    for (const t of ['execution_start', 'executing', 'progress', 'executed', 'execution_success', 'execution_error'])
        api.addEventListener(t, (e) => window.__events.push([t, e.detail]));
    api.addEventListener('progress', (e) => {
        const node = app.graph.getNodeById(Number(e.detail.node));
        app.canvas.draw(true, true);
        const el = app.canvasEl;
        const ratio = el.width / el.clientWidth;
        const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + 3, node.pos[1] + 2]);
        const pixel = [...el.getContext('2d').getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data];
        window.__progress.push({
            value: e.detail.value, max: e.detail.max, node: e.detail.node, running: app.runningNodeId,
            text: document.querySelector('.comfy-progress-text').textContent,
            bar: parseFloat(document.querySelector('.comfy-progress-bar').style.width),
            active: document.querySelector('#overall-progress').classList.contains('active'),
            pixel, canvas: el.toDataURL('image/png'),
        });
    });
}"""


def save_data_url(url: str, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(base64.b64decode(url.split(",", 1)[1]))


def test_default_workflow_runs_on_tiny_checkpoint(sd_editor, sd_server, sd_base):
    editor, page = sd_editor, sd_editor.page
    missing = [c for c in SD_NODES if c not in sd_server.object_info]
    assert not missing, f"server registry lacks {missing}"
    ckpt = sd_base[1]
    assert sd_server.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [ckpt]

    page.click("#workflow-menu-button")
    page.click("#menu-default")
    page.wait_for_function("app.graph._nodes.length === 7")
    ids = editor.eval("""() => Object.fromEntries(['CheckpointLoaderSimple', 'EmptyLatentImage', 'KSampler', 'SaveImage']
        .map(t => [t, app.graph._nodes.find(n => n.type === t).id]))""")
    latent, sampler, save = ids["EmptyLatentImage"], ids["KSampler"], ids["SaveImage"]
    # The workflow names comfy-core-shapes; this server lists only the tiny file, so the widget falls back to the one file the server lists.
    assert widget_value(editor, ids["CheckpointLoaderSimple"], "ckpt_name") == ckpt
    # Zoom out so the whole graph (SaveImage included) is left of the side panel in the screenshots.
    editor.eval("app.canvas.ds.scale = 0.7; app.canvas.ds.offset = [20, -120]; app.canvas.draw(true, true)")
    editor.shot("1-default")

    set_widget_by_prompt(editor, latent, "width", "64")
    set_widget_by_prompt(editor, latent, "height", "64")
    set_widget_by_prompt(editor, sampler, "steps", "2")
    assert [widget_value(editor, latent, "width"), widget_value(editor, latent, "height"),
            widget_value(editor, sampler, "steps")] == [64, 64, 2]
    seed = widget_value(editor, sampler, "seed")
    editor.shot("2-sized")

    editor.eval(RECORD)
    page.click("#queue-button")
    page.wait_for_function(f"app.graph.getNodeById({save}).imgs?.[0]?.naturalWidth === 64", timeout=60000)
    page.wait_for_function("window.__events.some(([t]) => t === 'execution_success')", timeout=30000)
    editor.eval("app.canvas.draw(true, true)")
    editor.shot("4-output")

    events = editor.eval("window.__events")
    kinds = [t for t, _ in events]
    assert "execution_error" not in kinds, events
    running = [str(d["node"]) for t, d in events if t == "executing" and d.get("node") is not None]
    assert str(sampler) in running and running[-1] == str(save)
    progress = editor.eval("window.__progress")
    assert [(p["node"], p["value"], p["max"]) for p in progress] == [(str(sampler), 1, 2), (str(sampler), 2, 2)]
    for i, p in enumerate(progress, 1):
        save_data_url(p.pop("canvas"), f"{editor.name}-3-progress-{i}.png")
        assert str(p["running"]) == str(sampler)
        assert p["active"] and p["text"].endswith(f"KSampler {p['value']}/2"), p
        assert 0 < p["bar"] <= 100, p
        assert p["pixel"][:3] == [0x4C, 0xAF, 0x50], p  # the sampler's progress bar on the canvas
    assert progress[0]["bar"] < progress[1]["bar"]
    # Finished: the progress display is cleared, the image is on SaveImage and in output/.
    page.wait_for_function("document.querySelector('.comfy-progress-text').textContent === ''")
    src = editor.eval(f"app.graph.getNodeById({save}).imgs[0].src")
    assert "/api/view?" in src and "type=output" in src
    files = sorted(sd_server.output_dir.glob("ComfyUI_*.png"))
    assert len(files) == 1 and files[0].name in src
    with Image.open(files[0]) as im:
        assert im.size == (64, 64)
        prompt = json.loads(im.text["prompt"])
        pixels = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 1.0  # a decoded random-model image, not a constant fill
    assert prompt[str(latent)]["inputs"]["width"] == 64 and prompt[str(sampler)]["inputs"]["steps"] == 2
    assert prompt[str(sampler)]["inputs"]["seed"] == seed
    assert prompt[str(ids["CheckpointLoaderSimple"])]["inputs"]["ckpt_name"] == ckpt

    page.click(".comfy-tab[data-tab='history']")
    thumb = page.locator(f".comfy-job img[src*='{files[0].name}']")
    thumb.wait_for(timeout=15000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 64", arg=thumb.element_handle(), timeout=15000)
    editor.shot("5-history")
    assert editor.errors == []

