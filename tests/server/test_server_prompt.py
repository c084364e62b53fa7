"""/prompt, /queue, /history, /interrupt, /free, /api/jobs and the websocket event flow."""

from __future__ import annotations

import json
import time
import uuid

from tests.server.harness import read_until_done, save_prompt


def _types(frames):
    return [f["type"] for f in frames if isinstance(f, dict)]


def test_event_sequence_and_history(server):
    ws = server.ws("c1")
    hello = json.loads(ws.recv())
    assert hello == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "c1"}}
    r = server.queue_prompt(save_prompt(7), client_id="c1")
    assert r["number"] == 0 and r["node_errors"] == {}
    frames = read_until_done(ws, r["prompt_id"])
    types = _types(frames)
    assert types[:2] == ["status", "status"]
    assert types.index("execution_start") < types.index("execution_cached") < types.index("executing")
    assert types[-3:] == ["execution_success", "status", "executing"]
    executed = [f for f in frames if isinstance(f, dict) and f["type"] == "executed"]
    assert executed and executed[0]["data"]["node"] == "3"
    image = executed[0]["data"]["output"]["images"][0]

    entry = server.get(f"/history/{r['prompt_id']}").json()[r["prompt_id"]]
    assert entry["prompt"][0] == 0 and entry["prompt"][1] == r["prompt_id"] and entry["prompt"][4] == ["3"]
    assert entry["prompt"][3]["client_id"] == "c1" and isinstance(entry["prompt"][3]["create_time"], int)
    assert entry["outputs"]["3"]["images"][0] == image
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]][0] == "execution_start"
    assert "3" in entry["meta"]

    view = server.get("/view", params={"filename": image["filename"], "type": "output", "subfolder": ""})
    assert view.status_code == 200 and view.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        server.get("/api/history/" + r["prompt_id"]).json() == server.get("/history/" + r["prompt_id"]).json()
    )
    ws.close()


def test_two_clients_receive_only_their_events(server):
    a, b = server.ws("ca"), server.ws("cb")
    a.recv(), b.recv()
    ra = server.queue_prompt(save_prompt(1), client_id="ca")
    rb = server.queue_prompt(save_prompt(2), client_id="cb")
    fa = read_until_done(a, ra["prompt_id"])
    fb = read_until_done(b, rb["prompt_id"])
    ids_a = {f["data"].get("prompt_id") for f in fa if isinstance(f, dict) and f["type"] != "status"}
    ids_b = {f["data"].get("prompt_id") for f in fb if isinstance(f, dict) and f["type"] != "status"}
    assert ids_a == {ra["prompt_id"]} and ids_b == {rb["prompt_id"]}


def test_prompt_options_front_number_prompt_id_sensitive(server):
    server.queue.put((-100, "blocker", save_prompt(0, seconds=1.0), {"create_time": 1}, ["3"], {}))
    time.sleep(0.3)  # the worker is now busy with the blocker
    r1 = server.queue_prompt(save_prompt(1))
    r2 = server.queue_prompt(save_prompt(2), front=True)
    r3 = server.queue_prompt(
        save_prompt(3),
        number=0.5,
        prompt_id="my-own-id",
        extra_data={"api_key_comfy_org": "SECRET", "extra_pnginfo": {"workflow": {"id": "wf"}}},
    )
    assert r3["prompt_id"] == "my-own-id" and r3["number"] == 0.5
    assert r2["number"] == -1
    q = server.get("/queue").json()
    pending = q["queue_pending"]
    assert [p[1] for p in pending] == [r2["prompt_id"], r1["prompt_id"], "my-own-id"]
    assert all(len(p) == 5 for p in pending) and "SECRET" not in json.dumps(q)
    assert [p[1] for p in q["queue_running"]] == ["blocker"]
    assert server.get("/prompt").json() == {"exec_info": {"queue_remaining": 4}}
    job = server.get("/api/jobs/my-own-id").json()
    assert job == {
        "id": "my-own-id",
        "status": "pending",
        "priority": 0.5,
        "create_time": job["create_time"],
        "outputs_count": 0,
        "workflow_id": "wf",
    }
    dup = server.post("/prompt", {"prompt": save_prompt(1), "prompt_id": "my-own-id"})
    assert dup.status_code == 400


def test_prompt_errors_are_4xx(server):
    r = server.post("/prompt", {"client_id": "x"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "no_prompt"
    r = server.post("/prompt", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = server.post("/prompt", {"prompt": {"1": {"class_type": "NoSuchNode", "inputs": {}}}})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_prompt"
    r = server.post("/prompt", {"prompt": save_prompt(1), "partial_execution_targets": []})
    assert r.status_code == 400
    r = server.post("/prompt", {"prompt": "nope"})
    assert r.status_code == 400
    r = server.post("/prompt", {"prompt": {"1": {"class_type": "ServerTestInt", "inputs": {"value": 1}}}})
    assert r.status_code == 400 and r.json()["error"]["type"] == "prompt_no_outputs"
    for path in ("/queue", "/history", "/free"):
        assert server.post(path, data=b"[[", headers={"Content-Type": "application/json"}).status_code == 400


def test_execution_error_reaches_client_and_history(server):
    ws = server.ws("ce")
    ws.recv()
    prompt = {
        "1": {"class_type": "ServerTestFail", "inputs": {"value": 3}},
        "2": {"class_type": "ServerTestSave", "inputs": {"value": ["1", 0], "filename_prefix": "x"}},
    }
    r = server.queue_prompt(prompt, client_id="ce")
    frames = read_until_done(ws, r["prompt_id"])
    err = [f for f in frames if isinstance(f, dict) and f["type"] == "execution_error"][0]["data"]
    assert (
        err["prompt_id"] == r["prompt_id"]
        and err["node_id"] == "1"
        and err["exception_type"] == "RuntimeError"
    )
    entry = server.get(f"/history/{r['prompt_id']}").json()[r["prompt_id"]]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    job = server.get(f"/api/jobs/{r['prompt_id']}").json()
    assert job["status"] == "failed" and job["execution_error"]["node_id"] == "1"


def _wait_running(server, prompt_id, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if [p[1] for p in server.get("/queue").json()["queue_running"]] == [prompt_id]:
            return
        time.sleep(0.02)
    raise AssertionError("prompt never started")


def test_interrupt_global_and_by_prompt_id(server):
    ws = server.ws("ci")
    ws.recv()
    r = server.queue_prompt(save_prompt(1, seconds=20), client_id="ci")
    _wait_running(server, r["prompt_id"])
    assert server.post("/interrupt", {"prompt_id": "not-running"}).status_code == 200
    time.sleep(0.3)
    assert [p[1] for p in server.get("/queue").json()["queue_running"]] == [r["prompt_id"]]
    t0 = time.time()
    assert server.post("/api/interrupt", {"prompt_id": r["prompt_id"]}).status_code == 200
    frames = read_until_done(ws, r["prompt_id"])
    assert time.time() - t0 < 5
    assert "execution_interrupted" in _types(frames)
    r2 = server.queue_prompt(save_prompt(2, seconds=20), client_id="ci")
    _wait_running(server, r2["prompt_id"])
    assert server.post("/interrupt", data=b"").status_code == 200  # empty body: global interrupt
    assert "execution_interrupted" in _types(read_until_done(ws, r2["prompt_id"]))
    assert (
        server.get(f"/history/{r2['prompt_id']}").json()[r2["prompt_id"]]["status"]["status_str"] == "error"
    )


def test_queue_delete_clear_and_job_cancel(server):
    blocker = server.queue_prompt(save_prompt(0, seconds=20))
    _wait_running(server, blocker["prompt_id"])
    ids = [server.queue_prompt(save_prompt(i))["prompt_id"] for i in range(4)]
    assert server.post("/queue", {"delete": [ids[1]]}).status_code == 200
    assert [p[1] for p in server.get("/queue").json()["queue_pending"]] == [ids[0], ids[2], ids[3]]
    c = server.post(f"/api/jobs/{ids[0]}/cancel")
    assert c.status_code == 200 and c.json()["previous_status"] == "pending"
    assert server.post("/api/jobs/nope/cancel").status_code == 404
    assert server.post("/api/queue", {"clear": True}).status_code == 200
    q = server.get("/queue").json()
    assert q["queue_pending"] == [] and [p[1] for p in q["queue_running"]] == [blocker["prompt_id"]]
    assert server.post(f"/api/jobs/{blocker['prompt_id']}/cancel").json()["previous_status"] == "in_progress"
    deadline = time.time() + 10
    while server.get("/queue").json()["queue_running"] and time.time() < deadline:
        time.sleep(0.05)
    assert server.get("/api/jobs/" + blocker["prompt_id"]).json()["status"] == "failed"


def test_history_query_params_and_post(server):
    ws = server.ws("ch")
    ws.recv()
    ids = []
    for i in range(4):
        r = server.queue_prompt(save_prompt(i), client_id="ch")
        read_until_done(ws, r["prompt_id"])
        ids.append(r["prompt_id"])
    assert list(server.get("/history", params={"max_items": 2}).json()) == ids[2:]
    assert list(server.get("/history", params={"max_items": 2, "offset": 1}).json()) == ids[1:3]
    assert server.get("/history", params={"max_items": "x"}).status_code == 400
    assert server.get("/history/unknown").json() == {}
    assert server.post("/history", {"delete": [ids[0]]}).status_code == 200
    assert list(server.get("/history").json()) == ids[1:]
    assert server.post("/history", {"clear": True}).status_code == 200
    assert server.get("/history").json() == {}


def test_jobs_listing_and_errors(server):
    ws = server.ws("cj")
    ws.recv()
    done = []
    for i in range(3):
        r = server.queue_prompt(save_prompt(i), client_id="cj")
        read_until_done(ws, r["prompt_id"])
        done.append(r["prompt_id"])
    body = server.get("/api/jobs", params={"limit": 2, "sort_order": "asc"}).json()
    assert [j["id"] for j in body["jobs"]] == done[:2]
    assert body["pagination"] == {"offset": 0, "limit": 2, "total": 3, "has_more": True}
    assert server.get("/api/api/jobs").json()["pagination"]["total"] == 3
    body = server.get("/api/jobs", params={"offset": -5, "status": "completed,failed"}).json()
    assert body["pagination"]["offset"] == 0 and len(body["jobs"]) == 3
    assert all(j["preview_output"]["mediaType"] == "images" and j["outputs_count"] == 1 for j in body["jobs"])
    for params in (
        {"status": "bogus"},
        {"sort_by": "name"},
        {"sort_order": "up"},
        {"limit": 0},
        {"limit": "x"},
        {"offset": "y"},
    ):
        r = server.get("/api/jobs", params=params)
        assert r.status_code == 400 and "error" in r.json(), params
    r = server.get("/api/jobs/does-not-exist")
    assert r.status_code == 404 and r.json() == {"error": "Job not found"}
    full = server.get(f"/api/jobs/{done[0]}").json()
    assert full["workflow"]["prompt"]["1"]["class_type"] == "ServerTestInt" and "outputs" in full


def test_free_sets_flags(server):
    assert server.post("/free", {"unload_models": True, "free_memory": True}).status_code == 200
    assert server.post("/api/free", {}).status_code == 200


def test_reconnect_gets_executing_and_feature_flags(server):
    sid = uuid.uuid4().hex
    ws = server.ws(sid)
    ws.recv()
    ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    flags = json.loads(ws.recv())
    assert flags["type"] == "feature_flags" and flags["data"]["supports_preview_metadata"] is True
    assert flags["data"]["max_upload_size"] == 100 * 1024 * 1024
    r = server.queue_prompt(save_prompt(1, seconds=20), client_id=sid)
    _wait_running(server, r["prompt_id"])
    time.sleep(0.2)
    ws.close()
    ws2 = server.ws(sid)
    assert json.loads(ws2.recv())["data"]["sid"] == sid
    again = json.loads(ws2.recv())
    assert again["type"] == "executing" and again["data"]["node"] in ("1", "2")
    server.post("/interrupt")
    read_until_done(ws2, r["prompt_id"])
