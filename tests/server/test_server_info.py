"""Information routes, /api aliases, the internal sub-app, users/settings/userdata."""

from __future__ import annotations

import json
import os

from tests.server.harness import FIXTURE_NODES


def test_api_aliases_and_internal_has_none(server):
    for path in ("/object_info", "/queue", "/prompt", "/features", "/embeddings", "/models", "/history"):
        assert server.get(path).json() == server.get("/api" + path).json(), path
    assert server.get("/internal/logs").status_code == 200
    assert server.get("/api/internal/logs").status_code == 404
    assert server.get("/api/api/jobs").status_code == 200


def test_object_info(server):
    info = server.get("/object_info").json()
    assert {"ServerTestInt", "ServerTestSleep", "ServerTestSave"} <= set(info)
    save = server.get("/object_info/ServerTestSave").json()["ServerTestSave"]
    assert save["output_node"] is True and save["display_name"] == "Server Test Save"
    assert save["input_order"] == {"required": ["value", "filename_prefix"]}
    assert server.get("/object_info/Nope").json() == {}


def test_models_embeddings_and_experiment(server):
    paths = server.services.paths
    lora_dir = paths.get_folder_paths("loras")[0]
    os.makedirs(os.path.join(lora_dir, "sub"), exist_ok=True)
    for name in ("a.safetensors", "sub/b.pt", "ignored.txt"):
        open(os.path.join(lora_dir, name), "wb").close()
    emb = paths.get_folder_paths("embeddings")[0]
    os.makedirs(emb, exist_ok=True)
    open(os.path.join(emb, "bad_hands.pt"), "wb").close()
    models = server.get("/models").json()
    assert "checkpoints" in models and "loras" in models
    assert server.get("/models/loras").json() == ["a.safetensors", "sub/b.pt"]
    assert server.get("/models/nope").status_code == 404
    assert server.get("/embeddings").json() == ["bad_hands"]
    folders = server.get("/experiment/models").json()
    names = [f["name"] for f in folders]
    assert "loras" in names and "configs" not in names and "custom_nodes" not in names
    files = server.get("/experiment/models/loras").json()
    assert [f["name"] for f in files] == ["a.safetensors", "sub/b.pt"] and files[0]["pathIndex"] == 0
    assert server.get("/experiment/models/nope").status_code == 404
    assert server.get("/experiment/models/preview/loras/0/a.safetensors").status_code == 404
    from PIL import Image

    Image.new("RGB", (4, 4)).save(os.path.join(lora_dir, "a.png"))
    r = server.get("/experiment/models/preview/loras/0/a.safetensors")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert server.get("/experiment/models/preview/loras/9/a.safetensors").status_code == 404


def test_system_stats_features_extensions(server):
    stats = server.get("/system_stats").json()
    assert set(stats["system"]) >= {
        "os",
        "ram_total",
        "ram_free",
        "comfyui_version",
        "python_version",
        "pytorch_version",
        "embedded_python",
        "argv",
        "required_frontend_version",
    }
    dev = stats["devices"][0]
    assert set(dev) == {
        "name",
        "type",
        "index",
        "vram_total",
        "vram_free",
        "torch_vram_total",
        "torch_vram_free",
    }
    assert server.get("/features").json() == {
        "supports_preview_metadata": True,
        "max_upload_size": 100 * 1024 * 1024,
        "extension": {"manager": {"supports_v4": True}},
    }
    assert isinstance(server.get("/extensions").json(), list)


def test_internal_logs_and_folder_paths(server):
    import logging

    logging.getLogger("comfy_core.test").warning("hello from the log test")
    assert "hello from the log test" in server.get("/internal/logs").json()
    raw = server.get("/internal/logs/raw").json()
    assert raw["entries"][-1]["m"].startswith("hello from the log test") and "cols" in raw["size"]
    req = server.url("/internal/logs/subscribe")
    import requests

    assert requests.patch(req, json={"clientId": "x", "enabled": True}, timeout=10).status_code == 200
    assert requests.patch(req, data=b"oops", timeout=10).status_code == 400
    fp = server.get("/internal/folder_paths").json()
    assert fp["checkpoints"] == server.services.paths.get_folder_paths("checkpoints")


def test_logs_subscription_over_websocket(server):
    import logging

    import requests

    ws = server.ws("logger")
    ws.recv()
    requests.patch(
        server.url("/internal/logs/subscribe"), json={"clientId": "logger", "enabled": True}, timeout=10
    )
    logging.getLogger("comfy_core.test").warning("streamed line")
    for _ in range(20):
        msg = json.loads(ws.recv())
        if msg["type"] == "logs" and "streamed line" in msg["data"]["entries"][0]["m"]:
            break
    else:
        raise AssertionError("no logs message")


def test_custom_node_assets(server, tmp_path):
    pack = tmp_path / "custom_nodes" / "mypack"
    (pack / "locales" / "en").mkdir(parents=True)
    (pack / "locales" / "en" / "main.json").write_text(json.dumps({"hello": "Hello"}))
    (pack / "locales" / "en" / "nodeDefs.json").write_text(json.dumps({"N": {"display_name": "En"}}))
    (pack / "example_workflows").mkdir()
    (pack / "example_workflows" / "demo.json").write_text("{}")
    (pack / "subgraphs").mkdir()
    (pack / "subgraphs" / "blur.json").write_text('{"nodes": []}')
    server.services.paths.add_model_folder_path("custom_nodes", str(tmp_path / "custom_nodes"))
    assert server.get("/i18n").json()["en"] == {"hello": "Hello", "nodeDefs": {"N": {"display_name": "En"}}}
    assert server.get("/workflow_templates").json()["mypack"] == ["demo"]
    subs = server.get("/global_subgraphs").json()
    ((sid, entry),) = subs.items()
    assert entry == {"source": "custom_node", "name": "blur", "info": {"node_pack": "mypack"}}
    assert server.get(f"/global_subgraphs/{sid}").json()["data"] == '{"nodes": []}'
    assert server.get("/global_subgraphs/unknown").json() is None


def test_users_and_settings(server):
    assert server.get("/users").json()["storage"] == "server"
    assert server.get("/settings").json() == {}
    assert server.post("/settings", {"Comfy.A": 1, "Comfy.B": "x"}).status_code == 200
    assert server.post("/settings/Comfy.C", [1, 2]).status_code == 200
    assert server.get("/settings").json() == {"Comfy.A": 1, "Comfy.B": "x", "Comfy.C": [1, 2]}
    assert server.get("/settings/Comfy.B").json() == "x"
    assert server.get("/settings/Nope").json() is None
    assert (
        server.post("/settings", data=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    )


def test_userdata_roundtrip(server):
    import requests

    wf = json.dumps({"nodes": []}).encode()
    r = server.post("/userdata/workflows%2Fa.json", data=wf)
    assert r.status_code == 200 and r.json() == "workflows/a.json"
    assert (
        server.post("/userdata/workflows%2Fa.json", data=wf, params={"overwrite": "false"}).status_code == 409
    )
    info = server.post("/userdata/workflows%2Fb.json", data=b"{}", params={"full_info": "true"}).json()
    assert info["path"] == "workflows/b.json" and info["size"] == 2 and "modified" in info
    got = server.get("/userdata/workflows%2Fa.json")
    assert got.content == wf and got.headers["Content-Disposition"] == "attachment"
    assert server.get("/userdata", params={"dir": "workflows"}).json() == ["a.json", "b.json"]
    full = server.get(
        "/api/userdata", params={"dir": "workflows", "recurse": "true", "full_info": "true"}
    ).json()
    assert [f["path"] for f in full] == ["a.json", "b.json"]
    split = server.get("/userdata", params={"dir": "workflows", "split": "true"}).json()
    assert split[0] == ["a.json", "a.json"]
    assert server.get("/userdata").status_code == 400
    assert server.get("/userdata", params={"dir": "nope"}).status_code == 404
    assert server.get("/userdata", params={"dir": "../.."}).status_code == 403
    assert server.get("/userdata/..%2F..%2Fsecret").status_code == 403
    moved = server.post("/userdata/workflows%2Fb.json/move/workflows%2Fc.json")
    assert moved.status_code == 200 and moved.json() == "workflows/c.json"
    assert (
        server.post(
            "/userdata/workflows%2Fa.json/move/workflows%2Fc.json", params={"overwrite": "false"}
        ).status_code
        == 409
    )
    v2 = server.get("/v2/userdata").json()
    assert v2[0] == {"name": "workflows", "path": "workflows", "type": "directory"}
    assert {e["name"] for e in v2 if e["type"] == "file"} >= {"a.json", "c.json", "comfy.settings.json"} - {
        "comfy.settings.json"
    }
    assert server.get("/v2/userdata", params={"path": "nope"}).status_code == 404
    assert server.get("/v2/userdata", params={"path": "workflows/a.json"}).status_code == 400
    assert requests.delete(server.url("/userdata/workflows%2Fa.json"), timeout=10).status_code == 204
    assert requests.delete(server.url("/userdata/workflows%2Fa.json"), timeout=10).status_code == 404


def test_multi_user(tmp_path):
    from comfy_core import runtime
    from tests.server.harness import start_server

    srv = start_server(tmp_path, multi_user=True)
    try:
        r = srv.post("/users", {"username": "alice"})
        uid = r.json()
        assert r.status_code == 200 and uid.startswith("alice_")
        assert srv.post("/users", {"username": "alice"}).json() == {"error": "Duplicate username."}
        assert srv.post("/users", {"username": "__sys"}).status_code == 400
        assert srv.get("/users").json()["users"] == {uid: "alice"}
        assert srv.get("/settings").status_code == 401
        assert srv.get("/settings", headers={"Comfy-User": "__sys"}).status_code == 401
        assert srv.post("/settings", {"a": 1}, headers={"Comfy-User": uid}).status_code == 200
        assert srv.get("/settings", headers={"Comfy-User": uid}).json() == {"a": 1}
        assert srv.get("/userdata", params={"dir": "x"}, headers={"Comfy-User": "bob"}).status_code == 403
    finally:
        srv.stop()
        runtime.uninstall()


def test_fixture_pack_is_a_real_custom_node_dir():
    assert os.path.isfile(os.path.join(FIXTURE_NODES, "server_test_nodes", "__init__.py"))
