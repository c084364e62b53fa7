"""Mouse/keyboard helpers for the editor tests (graph coordinates -> page events)."""
from __future__ import annotations

from typing import Any

NEW_GRAPH = {"nodes": [], "links": [], "groups": [], "version": 0.4, "last_node_id": 0, "last_link_id": 0,
             "config": {}, "extra": {}}


def new_graph(ed: Any) -> None:
    ed.page.click("#workflow-menu-button")
    ed.page.click("#menu-new")
    ed.page.wait_for_function("app.graph._nodes.length === 0")


def open_search(ed: Any, at: tuple[float, float]) -> None:
    """Double-click empty canvas; retried once because a busy machine can stretch the double-click."""
    page = ed.page
    for attempt in range(3):
        page.mouse.dblclick(*at)
        try:
            page.wait_for_selector(".comfy-search-input", state="visible", timeout=3000)
            return
        except Exception:
            if attempt == 2:
                raise


def add_node_by_search(ed: Any, query: str, at: tuple[float, float], expect_type: str) -> int:
    page = ed.page
    open_search(ed, at)
    page.keyboard.type(query, delay=10)
    page.wait_for_selector(f".comfy-search-item.selected[data-type='{expect_type}']")
    page.keyboard.press("Enter")
    page.wait_for_selector(".comfy-search", state="detached")
    return int(ed.eval(f"app.graph._nodes.filter(n => n.type === {expect_type!r}).at(-1).id"))


def slot_pos(ed: Any, node_id: int, slot: int, is_input: bool) -> tuple[float, float]:
    pos = ed.eval("([id, slot, isInput]) => app.graph.getNodeById(id).getConnectionPos(isInput, slot)",
                  [node_id, slot, is_input])
    return ed.screen_pos(pos)


def drag(ed: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page = ed.page
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(*end, steps=5)
    page.mouse.up()


def connect(ed: Any, from_id: int, out_slot: int, to_id: int, in_name: str) -> None:
    in_slot = ed.eval("([id, name]) => app.graph.getNodeById(id).inputs.findIndex(i => i.name === name)", [to_id, in_name])
    drag(ed, slot_pos(ed, from_id, out_slot, False), slot_pos(ed, to_id, in_slot, True))


def widget_center(ed: Any, node_id: int, name: str) -> tuple[float, float]:
    pos = ed.eval("""([id, name]) => {
        const n = app.graph.getNodeById(id);
        const w = n.widgets.find(w => w.name === name);
        return [n.pos[0] + n.size[0] / 2, n.pos[1] + w.y + LiteGraphH / 2];
    }""".replace("LiteGraphH", "20"), [node_id, name])
    return ed.screen_pos(pos)


def set_widget_by_prompt(ed: Any, node_id: int, name: str, value: str) -> None:
    """Click a number/text widget's centre, type into LiteGraph's value dialog, press Enter."""
    page = ed.page
    page.mouse.click(*widget_center(ed, node_id, name))
    page.wait_for_selector(".graphdialog .value", state="visible")
    page.fill(".graphdialog .value", value)
    page.keyboard.press("Enter")
    page.wait_for_selector(".graphdialog", state="detached")


def widget_value(ed: Any, node_id: int, name: str) -> Any:
    return ed.eval("([id, name]) => app.graph.getNodeById(id).widgets.find(w => w.name === name).value", [node_id, name])


def graph_summary(ed: Any) -> dict[str, Any]:
    """Node types/widget values and links, independent of positions."""
    return ed.eval("""() => {
        const g = app.graph;
        const nodes = g._nodes.map(n => ({id: n.id, type: n.type, mode: n.mode,
            widgets: (n.widgets || []).filter(w => w.options?.serialize !== false && w.type !== 'button').map(w => [w.name, w.value])}))
            .sort((a, b) => a.id - b.id);
        const links = [...g._links.values()].map(l => [l.origin_id, l.origin_slot, l.target_id,
            g.getNodeById(l.target_id).inputs[l.target_slot].name, l.type]).sort();
        return {nodes, links};
    }""")


def drop_file(ed: Any, filename: str, data: bytes, mime: str, at: tuple[float, float] | None = None) -> None:
    """Dispatch a real DataTransfer drop of `data` on the canvas."""
    import base64

    ed.eval("""([name, b64, mime, at]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: mime}));
        const r = app.canvasEl.getBoundingClientRect();
        const [x, y] = at || [r.left + r.width / 2, r.top + r.height / 2];
        const opts = {dataTransfer: dt, bubbles: true, cancelable: true, clientX: x, clientY: y};
        app.canvasEl.dispatchEvent(new DragEvent('dragover', opts));
        app.canvasEl.dispatchEvent(new DragEvent('drop', opts));
    }""", [filename, base64.b64encode(data).decode(), mime, list(at) if at else None])
