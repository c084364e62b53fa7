"""The `/api/jobs` view of queue and history items (ComfyUI's `comfy_execution.jobs` names and behaviour).

A job is a flat dict built from either a queue item (5-tuple `(number, prompt_id, prompt, extra_data,
outputs)`) or a history entry (`{"prompt": 5-tuple, "outputs", "status", "meta"}`); keys whose value is
None are left out. `comfy_execution.jobs` is an alias of this module for custom nodes and ComfyUI's tests.
"""

from __future__ import annotations

from typing import Any


class JobStatus:
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    ALL = [PENDING, IN_PROGRESS, COMPLETED, FAILED]


PREVIEWABLE_MEDIA_TYPES = frozenset({"images", "video", "audio"})
THREE_D_EXTENSIONS = frozenset({".obj", ".fbx", ".gltf", ".glb"})
END_EVENTS = ("execution_success", "execution_error", "execution_interrupted")


def prune_dict(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def has_3d_extension(filename: str) -> bool:
    name = filename.lower()
    return any(name.endswith(ext) for ext in THREE_D_EXTENSIONS)


def _job_metadata(extra_data: dict[str, Any]) -> tuple[Any, Any]:
    """(create_time, workflow_id) from a prompt's extra_data."""
    pnginfo = extra_data.get("extra_pnginfo") or {}
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    workflow_id = workflow.get("id") if isinstance(workflow, dict) else None
    return extra_data.get("create_time"), workflow_id


def is_previewable(media_type: str, item: dict[str, Any]) -> bool:
    """Frontend rule: media key images/video/audio, or a video/audio MIME format, or a 3D file name."""
    if media_type in PREVIEWABLE_MEDIA_TYPES:
        return True
    fmt = item.get("format") or ""
    if isinstance(fmt, str) and (fmt.startswith("video/") or fmt.startswith("audio/")):
        return True
    filename = item.get("filename") or ""
    return isinstance(filename, str) and has_3d_extension(filename)


def normalize_queue_item(item: tuple | list, status: str) -> dict[str, Any]:
    """Job dict of a queue item (sensitive data already removed: 5 elements)."""
    number, prompt_id, _prompt, extra_data, _outputs = item[:5]
    create_time, workflow_id = _job_metadata(extra_data or {})
    return prune_dict(
        {
            "id": prompt_id,
            "status": status,
            "priority": number,
            "create_time": create_time,
            "outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )


def _times_and_error(status_info: dict[str, Any]) -> tuple[Any, Any, Any]:
    start = end = error = None
    for entry in status_info.get("messages") or []:
        if not isinstance(entry, (list, tuple)) or len(entry) < 2 or not isinstance(entry[1], dict):
            continue
        name, data = entry[0], entry[1]
        if name == "execution_start":
            start = data.get("timestamp")
        elif name in END_EVENTS:
            end = data.get("timestamp")
            if name == "execution_error":
                error = data
    return start, end, error


def normalize_history_item(
    prompt_id: str, history_item: dict[str, Any], include_outputs: bool = False
) -> dict[str, Any]:
    """Job dict of a history entry; `include_outputs` adds outputs, execution_status and workflow."""
    number, _, prompt, extra_data, _ = history_item["prompt"][:5]
    create_time, workflow_id = _job_metadata(extra_data or {})
    status_info = history_item.get("status") or {}
    status = JobStatus.FAILED if status_info.get("status_str") == "error" else JobStatus.COMPLETED
    outputs = history_item.get("outputs") or {}
    outputs_count, preview_output = get_outputs_summary(outputs)
    start, end, error = _times_and_error(status_info)
    job = prune_dict(
        {
            "id": prompt_id,
            "status": status,
            "priority": number,
            "create_time": create_time,
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "outputs_count": outputs_count,
            "preview_output": preview_output,
            "workflow_id": workflow_id,
        }
    )
    if include_outputs:
        job["outputs"] = outputs
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def get_outputs_summary(outputs: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """(number of output items, preview item); the preview prefers items of type "output"."""
    count = 0
    preview = fallback = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                count += 1
                if preview is not None or not is_previewable(media_type, item):
                    continue
                enriched = {**item, "nodeId": node_id, "mediaType": media_type}
                if item.get("type") == "output":
                    preview = enriched
                elif fallback is None:
                    fallback = enriched
    return count, preview or fallback


def apply_sorting(jobs: list[dict[str, Any]], sort_by: str, sort_order: str) -> list[dict[str, Any]]:
    """Sort by create_time (`created_at`) or end - start (`execution_duration`, 0 when unknown)."""
    if sort_by == "execution_duration":

        def key(job: dict[str, Any]) -> float:
            start, end = job.get("execution_start_time"), job.get("execution_end_time")
            return end - start if start and end else 0
    else:

        def key(job: dict[str, Any]) -> float:
            return job.get("create_time") or 0

    return sorted(jobs, key=key, reverse=sort_order == "desc")


def get_job(prompt_id: str, running: list, queued: list, history: dict[str, Any]) -> dict[str, Any] | None:
    if prompt_id in history:
        return normalize_history_item(prompt_id, history[prompt_id], include_outputs=True)
    for item in running:
        if item[1] == prompt_id:
            return normalize_queue_item(item, JobStatus.IN_PROGRESS)
    for item in queued:
        if item[1] == prompt_id:
            return normalize_queue_item(item, JobStatus.PENDING)
    return None


def get_all_jobs(
    running: list,
    queued: list,
    history: dict[str, Any],
    status_filter: list[str] | None = None,
    workflow_id: str | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """(page of jobs, total before paging) over running, pending and history items."""
    wanted = set(status_filter if status_filter is not None else JobStatus.ALL)
    jobs: list[dict[str, Any]] = []
    if JobStatus.IN_PROGRESS in wanted:
        jobs += [normalize_queue_item(item, JobStatus.IN_PROGRESS) for item in running]
    if JobStatus.PENDING in wanted:
        jobs += [normalize_queue_item(item, JobStatus.PENDING) for item in queued]
    if wanted & {JobStatus.COMPLETED, JobStatus.FAILED}:
        for prompt_id, entry in history.items():
            failed = (entry.get("status") or {}).get("status_str") == "error"
            if (JobStatus.FAILED if failed else JobStatus.COMPLETED) in wanted:
                jobs.append(normalize_history_item(prompt_id, entry))
    if workflow_id:
        jobs = [j for j in jobs if j.get("workflow_id") == workflow_id]
    jobs = apply_sorting(jobs, sort_by, sort_order)
    total = len(jobs)
    if offset > 0:
        jobs = jobs[offset:]
    if limit is not None:
        jobs = jobs[:limit]
    return jobs, total
