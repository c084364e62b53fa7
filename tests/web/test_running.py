"""Browser tests of the run-time UI: queue panel actions, progress display, previews, execution errors."""
from __future__ import annotations

import io
import json
import struct

import pytest
from PIL import Image


def create(ed, types):
    return ed.eval("""async (types) => {
        const { LiteGraph } = await import('@comfyorg/litegraph');
        app.graph.clear();
        const ids = []; let x = 100;
        for (const t of types) { const n = LiteGraph.createNode(t); n.pos = [x, 150]; x += 360; app.graph.add(n); ids.push(n.id); }
        app.canvas.draw(true, true);
        return ids;
    }""", list(types))


def test_queue_panel_cancel_clear_interrupt(editor):
    page = editor.page
    queue = {"queue_running": [[1, "run-1", {}, {}, []]],
             "queue_pending": [[2, "pend-2", {}, {}, []], [3, "pend-3", {}, {}, []]]}
    posted: list[tuple[str, object]] = []

    def on_queue(route):
        if route.request.method == "POST":
            posted.append((route.request.url.split("/api")[-1], json.loads(route.request.post_data or "{}")))
            return route.fulfill(status=200, body="")
        return route.fulfill(json=queue)

    page.route("**/api/queue", on_queue)
    page.route("**/api/interrupt", lambda r: (posted.append(("/interrupt", json.loads(r.request.post_data or "{}"))), r.fulfill(status=200, body=""))[1])
    editor.eval("app.ui.queuePanel.show('queue')")
    page.wait_for_selector(".comfy-queue-item[data-prompt-id='pend-3']")
    assert page.locator(".comfy-queue-item.running").count() == 1
    assert page.locator(".comfy-queue-item.pending").count() == 2
    editor.shot("queue-panel")
    page.click(".comfy-queue-item[data-prompt-id='pend-2'] .comfy-cancel")
    page.click(".comfy-queue-item[data-prompt-id='run-1'] .comfy-cancel")
    page.click(".comfy-clear-queue")
    page.click("#interrupt-button")
    page.wait_for_function("true")
    page.wait_for_timeout(300)
    assert ("/queue", {"delete": ["pend-2"]}) in posted
    assert ("/interrupt", {"prompt_id": "run-1"}) in posted
    assert ("/queue", {"clear": True}) in posted
    assert ("/interrupt", {}) in posted


def test_progress_and_binary_previews(editor, server):
    if "SaveImage" not in server.object_info:
        pytest.skip("no SaveImage")
    (node,) = create(editor, ["SaveImage"])
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (0, 255, 0)).save(buf, "PNG")
    meta = json.dumps({"node_id": str(node), "display_node_id": str(node), "prompt_id": "p", "parent_node_id": None,
                       "real_node_id": str(node), "image_type": "image/png"}).encode()
    frame4 = struct.pack(">II", 4, len(meta)) + meta + buf.getvalue()
    frame1 = struct.pack(">II", 1, 2) + buf.getvalue()
    editor.eval("""([node, f4]) => {
        api.dispatch('execution_start', {prompt_id: 'p'});
        api.dispatch('executing', {node: String(node), display_node: String(node), prompt_id: 'p'});
        api.dispatch('progress', {value: 3, max: 10, node: String(node), prompt_id: 'p'});
        api._onMessage({data: Uint8Array.from(f4).buffer});
    }""", [node, list(frame4)])
    editor.page.wait_for_function(f"app.graph.getNodeById({node}).imgs?.[0]?.naturalWidth === 24")
    text = editor.page.inner_text(".comfy-progress-text")
    assert "Save Image 3/10" in text
    editor.shot("progress-preview")
    # Type 1 frames go to the running node.
    editor.eval(f"app.graph.getNodeById({node}).imgs = null")
    editor.eval("(f1) => api._onMessage({data: Uint8Array.from(f1).buffer})", list(frame1))
    editor.page.wait_for_function(f"app.graph.getNodeById({node}).imgs?.[0]?.naturalHeight === 16")
    editor.eval("api.dispatch('executing', {node: null, prompt_id: 'p'})")
    assert editor.page.inner_text(".comfy-progress-text") == ""


def test_execution_error_highlights_node(editor, server):
    if "SaveImage" not in server.object_info:
        pytest.skip("no SaveImage")
    (node,) = create(editor, ["SaveImage"])
    editor.eval("""(node) => api.dispatch('execution_error', {prompt_id: 'p', node_id: String(node), node_type: 'SaveImage',
        executed: [], exception_message: 'boom', exception_type: 'RuntimeError',
        traceback: ['Traceback (most recent call last):\\n', 'RuntimeError: boom\\n'], current_inputs: {}, current_outputs: []})""", node)
    editor.page.wait_for_selector("#execution-error-dialog")
    assert "RuntimeError: boom" in editor.page.inner_text("#execution-error-dialog")
    assert editor.eval(f"app.graph.getNodeById({node}).has_errors") is True
    editor.shot("execution-error")
    editor.page.click("#execution-error-dialog button:text-is('Show node')")
    assert editor.eval(f"!!app.canvas.selected_nodes[{node}]")
