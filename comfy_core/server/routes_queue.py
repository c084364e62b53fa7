"""Prompt, queue, history, interrupt, free and jobs handlers (contract 1.2, 1.5, 3.1, 4.10, 4.11)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from aiohttp import web

from comfy_core.queue.jobs import JobStatus
from comfy_core.server.keys import QUEUE, SERVER, SERVICES, VALIDATE, json_error, read_json

log = logging.getLogger(__name__)

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd", "default")


def _no_prompt() -> web.Response:
    error = {
        "type": "no_prompt",
        "message": "No prompt provided",
        "details": "No prompt provided",
        "extra_info": {},
    }
    return web.json_response({"error": error, "node_errors": {}}, status=400)


def _invalid_body(message: str) -> web.Response:
    error = {"type": "invalid_prompt", "message": message, "details": message, "extra_info": {}}
    return web.json_response({"error": error, "node_errors": {}}, status=400)


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(request.config_dict[SERVER].get_queue_info())


async def post_prompt(request: web.Request) -> web.Response:
    server = request.config_dict[SERVER]
    queue = request.config_dict[QUEUE]
    body = await read_json(request, default=None)
    if not isinstance(body, dict):
        return _invalid_body("request body must be a JSON object")
    body = server.trigger_on_prompt(body)

    if "number" in body:
        try:
            number: float | int = float(body["number"])
        except (TypeError, ValueError):
            return _invalid_body("number must be a number")
    else:
        number = server.number
        if body.get("front"):
            number = -number
        server.number += 1

    if "prompt" not in body:
        return _no_prompt()
    prompt = body["prompt"]
    if not isinstance(prompt, dict):
        return _invalid_body("prompt must be a JSON object of nodes")
    prompt_id = str(body.get("prompt_id") or uuid.uuid4())
    if queue.contains(prompt_id):
        return _invalid_body(f"prompt_id {prompt_id!r} is already queued")
    targets = body.get("partial_execution_targets")
    if targets is not None and not isinstance(targets, list):
        return _invalid_body("partial_execution_targets must be a list of node ids")
    extra_data = body.get("extra_data") or {}
    if not isinstance(extra_data, dict):
        return _invalid_body("extra_data must be a JSON object")
    if "client_id" in body:
        extra_data["client_id"] = body["client_id"]

    registry = request.config_dict[SERVICES].registry
    valid, error, outputs, node_errors = await request.config_dict[VALIDATE](
        registry, prompt_id, prompt, targets
    )
    if not valid:
        log.warning("invalid prompt: %s", error)
        return web.json_response({"error": error, "node_errors": node_errors}, status=400)

    sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
    extra_data["create_time"] = int(time.time() * 1000)
    queue.put((number, prompt_id, prompt, extra_data, outputs, sensitive))
    return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})


async def get_queue(request: web.Request) -> web.Response:
    running, pending = request.config_dict[QUEUE].get_current_queue()
    return web.json_response({"queue_running": running, "queue_pending": pending})


def _id_list(body: dict[str, Any]) -> list[str]:
    ids = body.get("delete", [])
    if not isinstance(ids, list):
        raise web.HTTPBadRequest(
            text='{"error": "delete must be a list of prompt ids"}', content_type="application/json"
        )
    return [str(i) for i in ids]


async def post_queue(request: web.Request) -> web.Response:
    queue = request.config_dict[QUEUE]
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "request body must be a JSON object")
    if body.get("clear"):
        queue.wipe_queue()
    for prompt_id in _id_list(body):
        queue.delete_queue_item(lambda item, pid=prompt_id: item[1] == pid)
    return web.Response(status=200)


async def get_history(request: web.Request) -> web.Response:
    query = request.rel_url.query
    # One message per parameter, worded as ComfyUI's server words them (its tests compare the body).
    try:
        max_items = int(query["max_items"]) if "max_items" in query else None
    except ValueError:
        return json_error(400, "max_items must be an integer")
    try:
        offset = int(query.get("offset", -1))
    except ValueError:
        return json_error(400, "offset must be an integer")
    return web.json_response(request.config_dict[QUEUE].get_history(max_items=max_items, offset=offset))


async def get_history_item(request: web.Request) -> web.Response:
    return web.json_response(
        request.config_dict[QUEUE].get_history(prompt_id=request.match_info["prompt_id"])
    )


async def post_history(request: web.Request) -> web.Response:
    queue = request.config_dict[QUEUE]
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "request body must be a JSON object")
    if body.get("clear"):
        queue.wipe_history()
    for prompt_id in _id_list(body):
        queue.delete_history_item(prompt_id)
    return web.Response(status=200)


def interrupt_prompt(request: web.Request, prompt_id: str | None) -> bool:
    """Interrupt the running prompt (any, or only `prompt_id`); True when something was interrupted."""
    services = request.config_dict[SERVICES]
    running = request.config_dict[QUEUE].running_prompt_ids()
    if prompt_id is not None and prompt_id not in running:
        log.info("interrupt: prompt %s is not running", prompt_id)
        return False
    if services.executor is not None:
        services.executor.interrupt()
    return bool(running)


async def post_interrupt(request: web.Request) -> web.Response:
    body = await read_json(request, default={})
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    interrupt_prompt(request, str(prompt_id) if prompt_id is not None else None)
    return web.Response(status=200)


async def post_free(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "request body must be a JSON object")
    queue = request.config_dict[QUEUE]
    for flag in ("unload_models", "free_memory"):
        if body.get(flag):
            queue.set_flag(flag, body[flag])
    return web.Response(status=200)


# jobs ------------------------------------------------------------------------------------------
def _jobs_query(query: Any) -> dict[str, Any] | web.Response:
    status_filter = None
    if query.get("status"):
        status_filter = [s.strip() for s in query["status"].split(",") if s.strip()]
        invalid = [s for s in status_filter if s not in JobStatus.ALL]
        if invalid:
            return json_error(
                400,
                f"Invalid status value(s): {', '.join(invalid)}. Valid values: {', '.join(JobStatus.ALL)}",
            )
    sort_by = query.get("sort_by", "created_at")
    if sort_by not in ("created_at", "execution_duration"):
        return json_error(400, "sort_by must be 'created_at' or 'execution_duration'")
    sort_order = query.get("sort_order", "desc")
    if sort_order not in ("asc", "desc"):
        return json_error(400, "sort_order must be 'asc' or 'desc'")
    limit = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            return json_error(400, "limit must be an integer")
        if limit <= 0:
            return json_error(400, "limit must be a positive integer")
    offset = 0
    if "offset" in query:
        try:
            offset = max(int(query["offset"]), 0)
        except ValueError:
            return json_error(400, "offset must be an integer")
    return {
        "status_filter": status_filter,
        "workflow_id": query.get("workflow_id"),
        "sort_by": sort_by,
        "sort_order": sort_order,
        "limit": limit,
        "offset": offset,
    }


async def get_jobs(request: web.Request) -> web.Response:
    params = _jobs_query(request.rel_url.query)
    if isinstance(params, web.Response):
        return params
    jobs, total = request.config_dict[QUEUE].get_all_jobs(**params)
    offset, limit = params["offset"], params["limit"]
    pagination = {"offset": offset, "limit": limit, "total": total, "has_more": offset + len(jobs) < total}
    return web.json_response({"jobs": jobs, "pagination": pagination})


async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info.get("job_id")
    if not job_id:
        return json_error(400, "job_id is required")
    job = request.config_dict[QUEUE].get_job(job_id)
    if job is None:
        return json_error(404, "Job not found")
    return web.json_response(job)


async def cancel_job(request: web.Request) -> web.Response:
    """Pending: removed from the queue. Running: interrupted. Finished: 409."""
    job_id = request.match_info["job_id"]
    queue = request.config_dict[QUEUE]
    job = queue.get_job(job_id)
    if job is None:
        return json_error(404, "Job not found")
    if job["status"] == JobStatus.PENDING:
        queue.delete_queue_item(lambda item: item[1] == job_id)
    elif job["status"] == JobStatus.IN_PROGRESS:
        interrupt_prompt(request, job_id)
    else:
        return json_error(409, f"Job already finished ({job['status']})")
    return web.json_response({"id": job_id, "cancelled": True, "previous_status": job["status"]})
