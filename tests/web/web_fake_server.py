"""A small stand-in for the comfy-core server, used by the browser tests only when the real one is absent.

It speaks the routes the editor uses (contract §1, §2) and "executes" prompts by walking them in order,
emitting the §2.2 event sequence; EmptyImage/SaveImage/PreviewImage produce real PNG files with the
§10.4 metadata so the editor's image and drag-and-drop paths are exercised for real.
"""
from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image
from PIL.PngImagePlugin import PngInfo

REPO = Path(__file__).resolve().parents[2]
OBJECT_INFO = REPO / "tests/web/fixtures/object_info_min.json"


def _object_info() -> dict[str, Any]:
    return json.loads(OBJECT_INFO.read_text())


class FakeServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.output = root / "output"
        self.input = root / "input"
        self.user = root / "user" / "default"
        for d in (self.output, self.input, self.user):
            d.mkdir(parents=True, exist_ok=True)
        self.object_info = _object_info()
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.pending: list[dict[str, Any]] = []
        self.running: dict[str, Any] | None = None
        self.history: dict[str, Any] = {}
        self.counter = 0
        self.received: list[dict[str, Any]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    # ---- app ----
    def app(self) -> web.Application:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        r = app.router
        for prefix in ("", "/api"):
            r.add_get(prefix + "/object_info", self.object_info_route)
            r.add_get(prefix + "/extensions", lambda _r: web.json_response([]))
            r.add_post(prefix + "/prompt", self.post_prompt)
            r.add_get(prefix + "/queue", self.get_queue)
            r.add_post(prefix + "/queue", self.post_queue)
            r.add_post(prefix + "/history", self.post_queue)
            r.add_post(prefix + "/interrupt", lambda _r: web.Response())
            r.add_get(prefix + "/history", self.get_history)
            r.add_get(prefix + "/view", self.view)
            r.add_post(prefix + "/upload/image", self.upload)
            r.add_get(prefix + "/userdata", self.list_userdata)
            r.add_get(prefix + "/userdata/{file}", self.get_userdata)
            r.add_post(prefix + "/userdata/{file}", self.post_userdata)
            r.add_delete(prefix + "/userdata/{file}", self.delete_userdata)
        r.add_get("/api/jobs", self.jobs)
        r.add_get("/api/jobs/{id}", self.job)
        r.add_get("/ws", self.ws)
        r.add_get("/", lambda _r: web.FileResponse(REPO / "web/index.html"))
        r.add_static("/", REPO / "web")
        return app

    async def object_info_route(self, _request: web.Request) -> web.Response:
        return web.json_response(self.object_info)

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self.sockets[sid] = ws
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": len(self.pending)}}, "sid": sid}})
        first = True
        async for msg in ws:
            if first and msg.type == web.WSMsgType.TEXT:
                first = False
                data = json.loads(msg.data)
                if data.get("type") == "feature_flags":
                    await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        self.sockets.pop(sid, None)
        return ws

    async def send(self, sid: str | None, type_: str, data: Any) -> None:
        targets = [self.sockets[sid]] if sid in self.sockets else []
        for ws in targets:
            await ws.send_json({"type": type_, "data": data})

    async def broadcast_status(self) -> None:
        remaining = len(self.pending) + (1 if self.running else 0)
        for ws in list(self.sockets.values()):
            await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": remaining}}}})

    # ---- prompt ----
    def validate(self, prompt: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        for nid, node in prompt.items():
            info = self.object_info.get(node.get("class_type"))
            if info is None:
                continue
            for name in info["input"].get("required", {}):
                if name not in node["inputs"]:
                    errors.setdefault(nid, {"errors": [], "dependent_outputs": [], "class_type": node["class_type"]})
                    errors[nid]["errors"].append({"type": "required_input_missing", "message": "Required input is missing",
                                                  "details": name, "extra_info": {"input_name": name}})
        return errors

    async def post_prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        prompt = body["prompt"]
        for node in prompt.values():
            if node.get("class_type") not in self.object_info:
                return web.json_response({"error": {"type": "invalid_prompt", "message": f"Cannot execute because node {node.get('class_type')} does not exist.", "details": "", "extra_info": {}}, "node_errors": {}}, status=400)
        errors = self.validate(prompt)
        if errors:
            return web.json_response({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": errors}, status=400)
        pid = str(uuid.uuid4())
        self.counter += 1
        item = {"id": pid, "number": self.counter, "prompt": prompt, "extra": body.get("extra_data", {}), "client": body.get("client_id")}
        self.pending.append(item)
        asyncio.get_running_loop().create_task(self.run_queue())
        return web.json_response({"prompt_id": pid, "number": self.counter, "node_errors": {}})

    async def run_queue(self) -> None:
        if self.running:
            return
        while self.pending:
            self.running = self.pending.pop(0)
            await self.broadcast_status()
            await self.execute(self.running)
            self.running = None
            await self.broadcast_status()

    async def execute(self, item: dict[str, Any]) -> None:
        sid, pid, prompt = item["client"], item["id"], item["prompt"]
        now = lambda: int(time.time() * 1000)  # noqa: E731
        await self.send(sid, "execution_start", {"prompt_id": pid, "timestamp": now()})
        await self.send(sid, "execution_cached", {"nodes": [], "prompt_id": pid, "timestamp": now()})
        values: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for nid in self.order(prompt):
            node = prompt[nid]
            await self.send(sid, "executing", {"node": nid, "display_node": nid, "prompt_id": pid})
            for step in range(1, 4):
                await asyncio.sleep(0.05)
                await self.send(sid, "progress", {"value": step, "max": 3, "prompt_id": pid, "node": nid})
            inputs = {k: (values.get(v[0]) if isinstance(v, list) else v) for k, v in node["inputs"].items()}
            if node["class_type"] == "EmptyImage":
                color = int(inputs.get("color", 0))
                rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
                values[nid] = Image.new("RGB", (int(inputs["width"]), int(inputs["height"])), rgb)
                meta = json.dumps({"node_id": nid, "prompt_id": pid, "display_node_id": nid, "parent_node_id": None,
                                   "real_node_id": nid, "image_type": "image/png"}).encode()
                buf = io.BytesIO()
                values[nid].save(buf, "PNG")
                frame = struct.pack(">II", 4, len(meta)) + meta + buf.getvalue()
                if sid in self.sockets:
                    await self.sockets[sid].send_bytes(frame)
            elif node["class_type"] in ("SaveImage", "PreviewImage") and inputs.get("images") is not None:
                info = PngInfo()
                info.add_text("prompt", json.dumps(prompt))
                for k, v in item["extra"].get("extra_pnginfo", {}).items():
                    info.add_text(k, json.dumps(v))
                name = f"{inputs.get('filename_prefix', 'ComfyUI')}_{self.counter:05}_.png"
                kind = "output" if node["class_type"] == "SaveImage" else "temp"
                folder = self.output if kind == "output" else self.root / "temp"
                folder.mkdir(exist_ok=True)
                inputs["images"].save(folder / name, pnginfo=info)
                ui = {"images": [{"filename": name, "subfolder": "", "type": kind}]}
                outputs[nid] = ui
                await self.send(sid, "executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": pid})
        await self.send(sid, "execution_success", {"prompt_id": pid, "timestamp": now()})
        self.history[pid] = {"prompt": [item["number"], pid, prompt, item["extra"], []], "outputs": outputs,
                             "status": {"status_str": "success", "completed": True, "messages": []}}
        await self.send(sid, "executing", {"node": None, "prompt_id": pid})

    @staticmethod
    def order(prompt: dict[str, Any]) -> list[str]:
        seen: list[str] = []

        def visit(nid: str) -> None:
            if nid in seen:
                return
            for v in prompt[nid]["inputs"].values():
                if isinstance(v, list) and v[0] in prompt:
                    visit(v[0])
            seen.append(nid)

        for nid in prompt:
            visit(nid)
        return seen

    # ---- queue / history / jobs ----
    async def get_queue(self, _request: web.Request) -> web.Response:
        def tup(i: dict[str, Any]) -> list[Any]:
            return [i["number"], i["id"], i["prompt"], i["extra"], []]
        return web.json_response({"queue_running": [tup(self.running)] if self.running else [],
                                  "queue_pending": [tup(i) for i in self.pending]})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            if request.path.endswith("history"):
                self.history.clear()
            else:
                self.pending.clear()
        for pid in body.get("delete", []):
            self.pending = [i for i in self.pending if i["id"] != pid]
            self.history.pop(pid, None)
        return web.Response()

    async def get_history(self, _request: web.Request) -> web.Response:
        return web.json_response(self.history)

    async def jobs(self, _request: web.Request) -> web.Response:
        jobs = []
        for pid, entry in reversed(list(self.history.items())):
            preview = next(({**img, "nodeId": nid, "mediaType": "images"} for nid, o in entry["outputs"].items()
                            for img in o.get("images", [])), None)
            job = {"id": pid, "status": "completed", "priority": entry["prompt"][0], "outputs_count": len(entry["outputs"])}
            if preview:
                job["preview_output"] = preview
            jobs.append(job)
        return web.json_response({"jobs": jobs, "pagination": {"offset": 0, "limit": len(jobs), "total": len(jobs), "has_more": False}})

    async def job(self, request: web.Request) -> web.Response:
        entry = self.history.get(request.match_info["id"])
        if not entry:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response({"id": request.match_info["id"], "status": "completed",
                                  "workflow": {"prompt": entry["prompt"][2], "extra_data": entry["prompt"][3]}})

    # ---- files ----
    async def view(self, request: web.Request) -> web.StreamResponse:
        kind = request.query.get("type", "output")
        base = {"output": self.output, "input": self.input, "temp": self.root / "temp"}[kind]
        path = base / request.query.get("subfolder", "") / request.query["filename"]
        if not path.is_file():
            return web.Response(status=404)
        return web.FileResponse(path)

    async def upload(self, request: web.Request) -> web.Response:
        data = await request.post()
        image = data["image"]
        (self.input / image.filename).write_bytes(image.file.read())
        return web.json_response({"name": image.filename, "subfolder": "", "type": "input"})

    async def list_userdata(self, request: web.Request) -> web.Response:
        d = self.user / request.query["dir"]
        if not d.is_dir():
            return web.Response(status=404, text="Directory not found")
        return web.json_response(sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()))

    async def get_userdata(self, request: web.Request) -> web.StreamResponse:
        path = self.user / request.match_info["file"]
        return web.FileResponse(path) if path.is_file() else web.Response(status=404)

    async def post_userdata(self, request: web.Request) -> web.Response:
        path = self.user / request.match_info["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(await request.read())
        return web.json_response(request.match_info["file"])

    async def delete_userdata(self, request: web.Request) -> web.Response:
        (self.user / request.match_info["file"]).unlink(missing_ok=True)
        return web.Response(status=204)

    # ---- lifecycle ----
    def start(self) -> str:
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            runner = web.AppRunner(self.app())
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.runner = runner
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(runner.cleanup())

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.loop:
            for ws in list(self.sockets.values()):
                asyncio.run_coroutine_threadsafe(ws.close(), self.loop)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
