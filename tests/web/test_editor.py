"""Browser tests of the editor: load, node library, build by mouse/keyboard, queue, restore from PNG."""
from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from web_helpers import (
    add_node_by_search,
    connect,
    drop_file,
    graph_summary,
    new_graph,
    open_search,
    set_widget_by_prompt,
    widget_value,
)


def needs(server, *classes):
    missing = [c for c in classes if c not in server.object_info]
    if missing:
        pytest.skip(f"server registry lacks {missing}")


def test_page_loads_without_console_errors(editor, server):
    registered = editor.eval("Object.keys(app.nodeDefs).length")
    assert registered == len(server.object_info) > 0
    # The default text-to-image graph is loaded on first visit.
    types = sorted(editor.eval("app.graph._nodes.map(n => n.type)"))
    assert types == sorted(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage",
                            "KSampler", "VAEDecode", "SaveImage"])
    # Checkpoint widget falls back to the first file the server offers.
    ckpts = server.object_info.get("CheckpointLoaderSimple", {}).get("input", {}).get("required", {}).get("ckpt_name", [[]])[0]
    if ckpts:
        assert editor.eval("app.graph._nodes.find(n => n.type === 'CheckpointLoaderSimple').widgets[0].value") == ckpts[0]
    # Multiline prompt widgets are real textareas over the canvas.
    if "CLIPTextEncode" in server.object_info:
        assert editor.page.locator("textarea.comfy-multiline-input:visible").count() == 2
    else:
        assert editor.page.locator(".comfy-toast.error", has_text="Missing node types").count() == 1
    time.sleep(0.5)
    editor.shot("loaded")
    assert editor.errors == []


def test_node_library_search_and_category_menu(editor, server):
    needs(server, "ImageInvert")
    page = editor.page
    new_graph(editor)
    open_search(editor, (500, 500))
    page.keyboard.type("invert image")
    page.wait_for_selector(".comfy-search-item.selected[data-type='ImageInvert']")
    desc = page.inner_text(".comfy-search-desc")
    assert "ImageInvert" in desc and server.object_info["ImageInvert"]["category"] in desc
    editor.shot("search")
    page.keyboard.press("Escape")
    page.wait_for_selector(".comfy-search", state="detached")
    # Right click -> Add Node -> category list from the node definitions.
    page.mouse.click(500, 500, button="right")
    page.click(".litecontextmenu .litemenu-entry:has-text('Add Node')")
    categories = page.locator(".litecontextmenu").last.inner_text()
    for cat in {d["category"].split("/")[0] for d in server.object_info.values()}:
        assert cat in categories
    editor.shot("category-menu")
    page.keyboard.press("Escape")


def test_build_queue_and_restore_from_png(editor, server):
    needs(server, "EmptyImage", "SaveImage")
    page = editor.page
    new_graph(editor)
    events = "window.__events = []; for (const t of ['execution_start','executing','progress','executed','execution_success','b_preview_with_metadata']) api.addEventListener(t, e => window.__events.push(t));"
    editor.eval(f"() => {{ {events} }}")

    src = add_node_by_search(editor, "empty image", (300, 300), "EmptyImage")
    dst = add_node_by_search(editor, "save image", (900, 300), "SaveImage")
    connect(editor, src, 0, dst, "images")
    assert editor.eval(f"app.graph.getNodeById({dst}).inputs.find(i => i.name === 'images').link") is not None

    set_widget_by_prompt(editor, src, "width", "64")
    set_widget_by_prompt(editor, src, "height", "48")
    set_widget_by_prompt(editor, src, "color", "16711680")
    set_widget_by_prompt(editor, dst, "filename_prefix", "webtest")
    assert [widget_value(editor, src, n) for n in ("width", "height", "color")] == [64, 48, 16711680]
    editor.shot("built")

    page.locator("#graph-canvas").focus()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(f"app.graph.getNodeById({dst}).imgs?.[0]?.naturalWidth === 64", timeout=60000)
    page.wait_for_function("window.__events.includes('execution_success')", timeout=30000)
    seen = editor.eval("window.__events")
    assert "execution_start" in seen and "executing" in seen and "executed" in seen
    editor.shot("output")

    # History gallery shows the finished job.
    page.click(".comfy-tab[data-tab='history']")
    page.wait_for_selector(".comfy-job img", timeout=15000)
    editor.shot("history")

    files = sorted(server.output_dir.glob("webtest*.png"))
    assert files, "SaveImage wrote no file"
    png = files[-1]
    with Image.open(png) as im:
        assert im.size == (64, 48)
        assert im.getpixel((0, 0))[:3] == (255, 0, 0)
        prompt = json.loads(im.text["prompt"])
        assert json.loads(im.text["workflow"])["nodes"]
    assert prompt[str(src)]["inputs"] == {"width": 64, "height": 48, "batch_size": 1, "color": 16711680}
    assert prompt[str(dst)]["inputs"]["images"] == [str(src), 0]

    before = graph_summary(editor)
    new_graph(editor)
    drop_file(editor, png.name, png.read_bytes(), "image/png")
    page.wait_for_function("app.graph._nodes.length === 2")
    assert graph_summary(editor) == before
    editor.shot("restored-from-png")
    assert editor.errors == []


def test_api_prompt_png_builds_graph(editor, server):
    """A PNG with only the `prompt` chunk is rebuilt from API JSON with an automatic layout."""
    needs(server, "EmptyImage", "ImageInvert", "SaveImage")
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 1, "color": 255}},
              "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
              "5": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "api"}}}
    info = PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    drop_file(editor, "api.png", buf.getvalue(), "image/png")
    editor.page.wait_for_function("app.graph._nodes.length === 3")
    out = editor.eval("app.graphToPrompt().output")
    assert {k: (v["class_type"], v["inputs"]) for k, v in out.items()} == \
        {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()}
    xs = editor.eval("[1, 2, 5].map(id => app.graph.getNodeById(id).pos[0])")
    assert xs[0] < xs[1] < xs[2]
    editor.shot("api-layout")


def test_broken_input_is_marked(editor, server):
    needs(server, "SaveImage")
    page = editor.page
    new_graph(editor)
    dst = add_node_by_search(editor, "save image", (600, 300), "SaveImage")
    page.locator("#graph-canvas").focus()
    page.click("#queue-button")
    page.wait_for_function(f"app.graph.getNodeById({dst}).has_errors === true", timeout=15000)
    assert editor.eval(f"app.graph.getNodeById({dst}).inputs.find(i => i.name === 'images').hasErrors") is True
    errors = editor.eval(f"app.nodeErrors['{dst}'].errors")
    assert errors[0]["type"] == "required_input_missing"
    assert errors[0]["extra_info"]["input_name"] == "images"
    assert page.locator(".comfy-toast.error").count() >= 1
    editor.shot("validation-error")


def test_webp_with_exif_workflow_restores_graph(editor, server):
    """SaveAnimatedWEBP-style metadata: EXIF 0x0110 "prompt:<json>", 0x010F "workflow:<json>" (contract §10.4)."""
    needs(server, "EmptyImage", "SaveImage")
    new_graph(editor)
    editor.eval("""async () => { const { LiteGraph } = await import('@comfyorg/litegraph');
        const a = LiteGraph.createNode('EmptyImage'), b = LiteGraph.createNode('SaveImage');
        b.pos = [400, 0]; app.graph.add(a); app.graph.add(b); a.connect(0, b, 0); a.widgets[0].value = 77; }""")
    before = graph_summary(editor)
    result = editor.eval("JSON.parse(JSON.stringify(app.graphToPrompt()))")
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(result["output"])
    exif[0x010F] = "workflow:" + json.dumps(result["workflow"])
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "WEBP", exif=exif)
    new_graph(editor)
    drop_file(editor, "anim.webp", buf.getvalue(), "image/webp")
    editor.page.wait_for_function("app.graph._nodes.length === 2")
    assert graph_summary(editor) == before
