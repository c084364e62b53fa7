"""The comfy_execution.jobs behaviour (ComfyUI's tests/execution/test_jobs.py cases, in our words)."""

from __future__ import annotations

from comfy_core.queue.jobs import (
    JobStatus,
    apply_sorting,
    get_all_jobs,
    get_outputs_summary,
    is_previewable,
    normalize_history_item,
    normalize_queue_item,
)


def test_statuses():
    assert JobStatus.ALL == ["pending", "in_progress", "completed", "failed"]


def test_is_previewable():
    assert all(is_previewable(m, {}) for m in ("images", "video", "audio"))
    assert not any(is_previewable(m, {}) for m in ("latents", "text", "files"))
    assert is_previewable("files", {"filename": "MODEL.GLB"})
    assert is_previewable("files", {"format": "video/mp4"}) and is_previewable(
        "files", {"format": "audio/wav"}
    )
    assert not is_previewable("files", {"format": "application/json"})


def test_outputs_summary_counts_and_prefers_output_type():
    outputs = {
        "a": {
            "images": [{"filename": "t.png", "type": "temp"}, {"filename": "o.png", "type": "output"}],
            "animated": [True],
            "meta": "x",
        },
        "b": {"latents": [{"filename": "l.safetensors"}]},
    }
    count, preview = get_outputs_summary(outputs)
    assert count == 3
    assert preview == {"filename": "o.png", "type": "output", "nodeId": "a", "mediaType": "images"}
    assert get_outputs_summary({}) == (0, None)
    assert (
        get_outputs_summary({"a": {"images": [{"filename": "t.png", "type": "temp"}]}})[1]["filename"]
        == "t.png"
    )


def test_sorting():
    jobs = [
        {"id": "a", "create_time": 100, "execution_start_time": 100, "execution_end_time": 5100},
        {"id": "b", "create_time": 300, "execution_start_time": None, "execution_end_time": None},
        {"id": "c", "create_time": 200, "execution_start_time": 200, "execution_end_time": 3200},
    ]
    assert [j["id"] for j in apply_sorting(jobs, "created_at", "desc")] == ["b", "c", "a"]
    assert [j["id"] for j in apply_sorting(jobs, "created_at", "asc")] == ["a", "c", "b"]
    assert [j["id"] for j in apply_sorting(jobs, "execution_duration", "desc")] == ["a", "c", "b"]
    assert apply_sorting(jobs, "execution_duration", "asc")[0]["id"] == "b"


def test_normalize_items():
    q = normalize_queue_item(
        (10, "p", {}, {"create_time": 5, "extra_pnginfo": {"workflow": {"id": "w"}}}, []), JobStatus.PENDING
    )
    assert q == {
        "id": "p",
        "status": "pending",
        "priority": 10,
        "create_time": 5,
        "outputs_count": 0,
        "workflow_id": "w",
    }
    h = {
        "prompt": (5, "p", {"1": {}}, {"create_time": 1}, ["1"]),
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [
                ("execution_start", {"timestamp": 10}),
                ("execution_error", {"node_id": "5", "timestamp": 20}),
            ],
        },
        "outputs": {},
    }
    job = normalize_history_item("p", h)
    assert job["status"] == "failed" and job["execution_start_time"] == 10 and job["execution_end_time"] == 20
    assert job["execution_error"]["node_id"] == "5" and "preview_output" not in job
    full = normalize_history_item("p", h, include_outputs=True)
    assert full["workflow"] == {"prompt": {"1": {}}, "extra_data": {"create_time": 1}}
    assert full["execution_status"]["status_str"] == "error" and full["outputs"] == {}


def test_get_all_jobs_filters_and_pages():
    running = [(0, "r", {}, {"create_time": 3}, [])]
    queued = [(1, "q", {}, {"create_time": 4}, [])]
    history = {
        "h": {
            "prompt": (0, "h", {}, {"create_time": 1}, []),
            "status": {"status_str": "success"},
            "outputs": {},
        }
    }
    jobs, total = get_all_jobs(running, queued, history)
    assert total == 3 and [j["id"] for j in jobs] == ["q", "r", "h"]
    jobs, total = get_all_jobs(running, queued, history, status_filter=["completed"])
    assert [j["id"] for j in jobs] == ["h"] and total == 1
    jobs, total = get_all_jobs(running, queued, history, limit=1, offset=1, sort_order="asc")
    assert [j["id"] for j in jobs] == ["r"] and total == 3
