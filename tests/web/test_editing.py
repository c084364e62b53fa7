"""Browser tests of editing features: widgets, mute/bypass, primitives, clipboard, undo, persistence,
server-side workflows, extensions, reconnect, image upload."""
from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image
from web_helpers import (
    add_node_by_search,
    connect,
    graph_summary,
    new_graph,
    set_widget_by_prompt,
    widget_center,
    widget_value,
)


def needs(server, *classes):
    missing = [c for c in classes if c not in server.object_info]
    if missing:
        pytest.skip(f"server registry lacks {missing}")


def create_nodes(ed, types):
    return ed.eval("""async (types) => {
        const { LiteGraph } = await import('@comfyorg/litegraph');
        const ids = []; let prev = null; let x = 100;
        for (const t of types) {
            const n = LiteGraph.createNode(t); n.pos = [x, 150]; x += 360; app.graph.add(n);
            if (prev) prev.connect(0, n, n.inputs.findIndex(i => !i.widget));
            prev = n; ids.push(n.id);
        }
        app.canvas.draw(true, true);  // lays out widgets so their positions are known
        return ids;
    }""", list(types))


def select_node(ed, node_id):
    pos = ed.eval(f"(() => {{ const n = app.graph.getNodeById({node_id}); return [n.pos[0] + 60, n.pos[1] - 15]; }})()")
    ed.page.mouse.click(*ed.screen_pos(pos))
    assert ed.eval(f"!!app.canvas.selected_nodes[{node_id}]")


def test_number_and_combo_widgets(editor, server):
    needs(server, "ImageBlend")
    page = editor.page
    new_graph(editor)
    (node,) = create_nodes(editor, ["ImageBlend"])
    set_widget_by_prompt(editor, node, "blend_factor", "0.4567")
    assert widget_value(editor, node, "blend_factor") == pytest.approx(0.46)  # rounded to the 0.01 step
    set_widget_by_prompt(editor, node, "blend_factor", "3")
    assert widget_value(editor, node, "blend_factor") == 1  # clamped to max
    # The left arrow steps down by the spec's step.
    x, y = widget_center(editor, node, "blend_factor")
    width = editor.eval(f"app.graph.getNodeById({node}).size[0] * app.canvas.ds.scale")
    page.mouse.click(x - width / 2 + 20, y)
    assert widget_value(editor, node, "blend_factor") == pytest.approx(0.99)
    # V3 combo ("COMBO" + options): click opens the value list.
    page.mouse.click(*widget_center(editor, node, "blend_mode"))
    page.click(".litecontextmenu .litemenu-entry:text-is('screen')")
    assert widget_value(editor, node, "blend_mode") == "screen"
    assert editor.eval(f"app.graph.getNodeById({node}).serialize().widgets_values") == [0.99, "screen"]
    api = editor.eval("app.graphToPrompt().output")[str(node)]["inputs"]
    assert api == {"blend_factor": 0.99, "blend_mode": "screen"}
    editor.shot("widgets")


def test_seed_control_after_generate(editor, server):
    needs(server, "KSampler")
    new_graph(editor)
    (ks,) = create_nodes(editor, ["KSampler"])
    names = editor.eval(f"app.graph.getNodeById({ks}).widgets.map(w => w.name)")
    assert names[:3] == ["seed", "control_after_generate", "steps"]
    set_widget_by_prompt(editor, ks, "steps", "0")
    assert widget_value(editor, ks, "steps") == 1  # clamped to min
    editor.eval(f"(() => {{ const n = app.graph.getNodeById({ks}); n.widgets[0].value = 5; n.widgets[1].value = 'increment'; n.widgets[1].afterQueued(); }})()")
    assert widget_value(editor, ks, "seed") == 6
    editor.eval(f"(() => {{ const n = app.graph.getNodeById({ks}); n.widgets[1].value = 'decrement'; n.widgets[1].afterQueued(); }})()")
    assert widget_value(editor, ks, "seed") == 5
    editor.eval(f"(() => {{ const n = app.graph.getNodeById({ks}); n.widgets[1].value = 'fixed'; n.widgets[1].afterQueued(); }})()")
    assert widget_value(editor, ks, "seed") == 5
    wv = editor.eval(f"app.graph.getNodeById({ks}).serialize().widgets_values")
    assert wv[:3] == [5, "fixed", 1]
    api = editor.eval("app.graphToPrompt().output")[str(ks)]["inputs"]
    assert "control_after_generate" not in api and api["seed"] == 5 and api["steps"] == 1


def test_bypass_mute_and_widget_input(editor, server):
    needs(server, "EmptyImage", "ImageInvert", "SaveImage")
    page = editor.page
    new_graph(editor)
    src, mid, dst = create_nodes(editor, ["EmptyImage", "ImageInvert", "SaveImage"])
    out = editor.eval("app.graphToPrompt().output")
    assert out[str(dst)]["inputs"]["images"] == [str(mid), 0]

    select_node(editor, mid)
    page.keyboard.press("Control+b")
    assert editor.eval(f"app.graph.getNodeById({mid}).mode") == 4
    out = editor.eval("app.graphToPrompt().output")
    assert str(mid) not in out and out[str(dst)]["inputs"]["images"] == [str(src), 0]
    editor.shot("bypass")

    page.keyboard.press("Control+m")
    assert editor.eval(f"app.graph.getNodeById({mid}).mode") == 2
    out = editor.eval("app.graphToPrompt().output")
    assert str(mid) not in out and "images" not in out[str(dst)]["inputs"]
    editor.shot("mute")
    page.keyboard.press("Control+m")
    assert editor.eval(f"app.graph.getNodeById({mid}).mode") == 0

    # A Primitive dragged onto the width widget drives it (widget converted to input).
    prim = add_node_by_search(editor, "primitive", (200, 600), "PrimitiveNode")
    connect(editor, prim, 0, src, "width")
    assert editor.eval(f"app.graph.getNodeById({prim}).widgets[0].name") == "width"
    editor.eval(f"app.graph.getNodeById({prim}).widgets[0].value = 96")
    out = editor.eval("app.graphToPrompt().output")
    assert out[str(src)]["inputs"]["width"] == 96 and str(prim) not in out
    editor.shot("primitive")


def test_reroute_and_group(editor, server):
    needs(server, "EmptyImage", "SaveImage")
    page = editor.page
    new_graph(editor)
    src, rr, dst = create_nodes(editor, ["EmptyImage", "Reroute", "SaveImage"])
    out = editor.eval("app.graphToPrompt().output")
    assert set(out) == {str(src), str(dst)} and out[str(dst)]["inputs"]["images"] == [str(src), 0]
    assert editor.eval(f"app.graph.getNodeById({rr}).outputs[0].type") == "IMAGE"
    select_node(editor, src)
    page.keyboard.press("Control+g")
    groups = editor.eval("app.graph.serialize().groups")
    assert len(groups) == 1 and groups[0]["title"] == "Group"
    editor.shot("reroute-group")


def test_copy_paste_undo_redo(editor, server):
    needs(server, "EmptyImage")
    page = editor.page
    new_graph(editor)
    (src,) = create_nodes(editor, ["EmptyImage"])
    editor.eval("app.changeTracker.checkState()")
    select_node(editor, src)
    page.keyboard.press("Control+c")
    page.mouse.move(700, 500)
    page.keyboard.press("Control+v")
    page.wait_for_function("app.graph._nodes.length === 2")
    time.sleep(0.1)
    editor.eval("app.changeTracker.checkState()")
    page.keyboard.press("Control+z")
    page.wait_for_function("app.graph._nodes.length === 1")
    page.keyboard.press("Control+y")
    page.wait_for_function("app.graph._nodes.length === 2")
    editor.shot("pasted")


def test_graph_survives_reload(editor, server):
    needs(server, "EmptyImage", "SaveImage")
    page = editor.page
    new_graph(editor)
    src, dst = create_nodes(editor, ["EmptyImage", "SaveImage"])
    set_widget_by_prompt(editor, src, "width", "123")
    editor.eval("app.changeTracker.checkState()")
    before = graph_summary(editor)
    page.reload()
    page.wait_for_function("window.app && window.app.ready === true")
    assert graph_summary(editor) == before
    assert editor.errors == []


def test_save_and_open_server_workflow(editor, server):
    needs(server, "EmptyImage")
    page = editor.page
    new_graph(editor)
    create_nodes(editor, ["EmptyImage"])
    before = graph_summary(editor)
    page.once("dialog", lambda d: d.accept("webtest-wf"))
    page.locator("#graph-canvas").focus()
    page.keyboard.press("Control+s")
    page.wait_for_function("app.workflowName === 'webtest-wf'")
    saved = list(server.user_dir.rglob("workflows/webtest-wf.json"))
    assert saved, f"no workflow file under {server.user_dir}"
    assert json.loads(saved[0].read_text())["nodes"][0]["type"] == "EmptyImage"
    new_graph(editor)
    page.click(".comfy-tab[data-tab='workflows']")
    page.click(".comfy-workflow-item[data-file='webtest-wf.json'] .comfy-workflow-open")
    page.wait_for_function("app.graph._nodes.length === 1")
    assert graph_summary(editor) == before
    editor.shot("workflows-panel")
    # Export (API) downloads the prompt.
    with page.expect_download() as dl:
        page.click("#workflow-menu-button")
        page.click("#menu-export-api")
    exported = json.loads(open(dl.value.path()).read())
    assert [v["class_type"] for v in exported.values()] == ["EmptyImage"]


def test_extension_hooks(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    ext = """
    import { app } from "/scripts/app.js";
    window.__hooks = [];
    app.registerExtension({
      name: "test.hooks",
      init() { window.__hooks.push("init"); },
      beforeRegisterNodeDef(nodeType, nodeData) { if (nodeData.name === "SaveImage") nodeType.prototype.__marked = true; },
      nodeCreated(node) { window.__hooks.push("nodeCreated:" + node.type); },
      setup() { window.__hooks.push("setup"); },
    });
    """
    page.route("**/api/extensions", lambda r: r.fulfill(json=["/extensions/test/hooks.js"]))
    page.route("**/extensions/test/hooks.js", lambda r: r.fulfill(body=ext, content_type="text/javascript"))
    page.goto(server.url + "/")
    page.wait_for_function("window.app && window.app.ready === true")
    hooks = page.evaluate("window.__hooks")
    assert hooks[0] == "init" and hooks[-1] == "setup"
    page.evaluate("""async () => { const { LiteGraph } = await import('@comfyorg/litegraph');
        app.graph.add(LiteGraph.createNode('SaveImage')); }""")
    assert page.evaluate("window.__hooks.at(-1)") == "nodeCreated:SaveImage"
    assert page.evaluate("app.graph._nodes.at(-1).__marked") is True
    context.close()


def test_reconnect_keeps_graph(editor, server):
    page = editor.page
    before = graph_summary(editor)
    editor.eval("api.socket.close()")
    page.wait_for_selector("#reconnecting-banner", state="visible")
    editor.shot("reconnecting")
    page.wait_for_selector("#reconnecting-banner", state="hidden", timeout=15000)
    assert editor.eval("api.connected") is True
    assert graph_summary(editor) == before


def test_load_image_upload_and_preview(editor, server):
    needs(server, "LoadImage")
    page = editor.page
    new_graph(editor)
    (node,) = create_nodes(editor, ["LoadImage"])
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 128, 255)).save(buf, "PNG")
    with page.expect_file_chooser() as fc:
        page.mouse.click(*widget_center(editor, node, "upload"))
    fc.value.set_files(files=[{"name": "webtest-upload.png", "mimeType": "image/png", "buffer": buf.getvalue()}])
    page.wait_for_function(f"app.graph.getNodeById({node}).imgs?.[0]?.naturalWidth === 40", timeout=15000)
    assert widget_value(editor, node, "image") == "webtest-upload.png"
    assert (server.input_dir / "webtest-upload.png").exists()
    editor.shot("load-image")
