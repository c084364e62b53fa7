"""An API client written like ComfyUI's script_examples/websockets_api_example.py (urllib + websocket-client)."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
import uuid

import websocket
from PIL import Image

from tests.server.harness import save_prompt


def test_websockets_api_example_flow(server):
    address = f"127.0.0.1:{server.port}"
    client_id = str(uuid.uuid4())

    def queue_prompt(prompt):
        data = json.dumps({"prompt": prompt, "client_id": client_id}).encode("utf-8")
        req = urllib.request.Request(f"http://{address}/prompt", data=data)
        return json.loads(urllib.request.urlopen(req).read())

    def get_image(filename, subfolder, folder_type):
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
        with urllib.request.urlopen(f"http://{address}/view?{query}") as response:
            return response.read()

    def get_history(prompt_id):
        with urllib.request.urlopen(f"http://{address}/history/{prompt_id}") as response:
            return json.loads(response.read())

    ws = websocket.WebSocket()
    ws.connect(f"ws://{address}/ws?clientId={client_id}")
    prompt_id = queue_prompt(save_prompt(200, prefix="example"))["prompt_id"]
    ran = []
    while True:
        out = ws.recv()
        if isinstance(out, str):
            message = json.loads(out)
            if message["type"] == "executing":
                data = message["data"]
                if data["node"] is None and data["prompt_id"] == prompt_id:
                    break
                ran.append(data["node"])
    ws.close()
    assert ran == ["1", "2", "3"]
    history = get_history(prompt_id)[prompt_id]
    images = {}
    for node_id, node_output in history["outputs"].items():
        images[node_id] = [
            get_image(i["filename"], i["subfolder"], i["type"]) for i in node_output.get("images", [])
        ]
    (png,) = images["3"]
    assert Image.open(io.BytesIO(png)).getpixel((0, 0)) == (200, 7, 9)
