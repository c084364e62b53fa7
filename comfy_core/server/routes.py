"""Every HTTP route of the server in one table (contract 1.2).

`API_ROUTES` are served at `P` and `/api` + `P` (the `/api` copies are added first, as ComfyUI does);
the jobs routes are declared with their `/api` prefix and so also answer at `/api/api/...`.
`/internal/*` is a sub-application with no `/api` alias. Static routes are never duplicated.
"""

from __future__ import annotations

import os
import urllib.parse

from aiohttp import web

from comfy_core.server import logs, routes_files, routes_info, routes_queue, users, ws
from comfy_core.server.keys import SERVER, SERVICES, WEB_ROOT

PLACEHOLDER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>comfy-core</title></head>
<body><h1>comfy-core</h1><p>The server is running. No web UI is installed in its web root; the API is
available at <code>/api/...</code> and the WebSocket at <code>/ws</code>.</p></body></html>
"""

API_ROUTES: list[web.RouteDef] = [
    web.get("/ws", ws.websocket_handler),
    web.get("/embeddings", routes_info.get_embeddings),
    web.get("/models", routes_info.list_model_types),
    web.get("/models/{folder}", routes_info.get_models),
    web.get("/extensions", routes_info.get_extensions),
    web.post("/upload/image", routes_files.upload_image),
    web.post("/upload/mask", routes_files.upload_mask),
    web.get("/view", routes_files.view),
    web.get("/view_metadata/{folder_name}", routes_files.view_metadata),
    web.get("/system_stats", routes_info.system_stats),
    web.get("/features", routes_info.get_features),
    web.get("/prompt", routes_queue.get_prompt),
    web.post("/prompt", routes_queue.post_prompt),
    web.get("/object_info", routes_info.get_object_info),
    web.get("/object_info/{node_class}", routes_info.get_object_info_node),
    web.get("/history", routes_queue.get_history),
    web.get("/history/{prompt_id}", routes_queue.get_history_item),
    web.post("/history", routes_queue.post_history),
    web.get("/queue", routes_queue.get_queue),
    web.post("/queue", routes_queue.post_queue),
    web.post("/interrupt", routes_queue.post_interrupt),
    web.post("/free", routes_queue.post_free),
    web.get("/api/jobs", routes_queue.get_jobs),
    web.get("/api/jobs/{job_id}", routes_queue.get_job),
    web.post("/api/jobs/{job_id}/cancel", routes_queue.cancel_job),
    web.get("/users", users.get_users),
    web.post("/users", users.post_users),
    web.get("/settings", users.get_settings),
    web.get("/settings/{id}", users.get_setting),
    web.post("/settings", users.post_settings),
    web.post("/settings/{id}", users.post_setting),
    web.get("/userdata", users.list_userdata),
    web.get("/v2/userdata", users.list_userdata_v2),
    web.get("/userdata/{file}", users.get_userdata),
    web.post("/userdata/{file}", users.post_userdata),
    web.delete("/userdata/{file}", users.delete_userdata),
    web.post("/userdata/{file}/move/{dest}", users.move_userdata),
    web.get("/experiment/models", routes_info.experiment_model_folders),
    web.get("/experiment/models/{folder}", routes_info.experiment_models),
    web.get(
        "/experiment/models/preview/{folder}/{path_index}/{filename:.*}", routes_info.experiment_model_preview
    ),
    web.get("/workflow_templates", routes_info.get_workflow_templates),
    web.get("/i18n", routes_info.get_i18n),
    web.get("/global_subgraphs", routes_info.get_global_subgraphs),
    web.get("/global_subgraphs/{id}", routes_info.get_global_subgraph),
    web.post("/workflow/convert", routes_info.post_workflow_convert),
]

INTERNAL_ROUTES: list[web.RouteDef] = [
    web.get("/logs", logs.get_logs),
    web.get("/logs/raw", logs.get_logs_raw),
    web.patch("/logs/subscribe", logs.subscribe_logs),
    web.get("/folder_paths", logs.get_folder_paths),
    web.get("/files/{directory_type}", routes_files.internal_files),
]


async def get_root(request: web.Request) -> web.StreamResponse:
    index = os.path.join(request.config_dict[WEB_ROOT], "index.html")
    headers = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}
    if os.path.isfile(index):
        return web.FileResponse(index, headers=headers)
    return web.Response(text=PLACEHOLDER_PAGE, content_type="text/html", headers=headers)


def default_workflow_path(web_root: str) -> str | None:
    """The editor's first-visit workflow: the repo's `workflows/default.json` (the embedded default model)
    when our editor is served; other front ends bring their own."""
    from comfy_core.server.app import REPO_ROOT

    if os.path.abspath(web_root) != os.path.join(REPO_ROOT, "web"):
        return None
    path = os.path.join(REPO_ROOT, "workflows", "default.json")
    return path if os.path.isfile(path) else None


def _with_api_copies(defs: list[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    copies = [
        web.route(d.method, "/api" + d.path, d.handler, **d.kwargs)
        for d in defs
        if isinstance(d, web.RouteDef)
    ]
    return copies + list(defs)


def setup_routes(app: web.Application) -> None:
    server = app[SERVER]
    services = app[SERVICES]
    custom = list(server.routes)  # routes custom nodes declared on PromptServer.instance.routes
    app.router.add_routes(_with_api_copies(API_ROUTES + [d for d in custom if isinstance(d, web.RouteDef)]))
    app.router.add_routes([d for d in custom if not isinstance(d, web.RouteDef)])

    internal = web.Application()
    internal.router.add_routes(INTERNAL_ROUTES)
    app.add_subapp("/internal", internal)

    for name, directory in (getattr(services.registry, "web_directories", None) or {}).items():
        if os.path.isdir(directory):
            app.router.add_static("/extensions/" + urllib.parse.quote(name), directory)
    for pack in routes_info.custom_node_packs(services.paths):
        for directory in routes_info.template_dirs(pack):
            app.router.add_static("/api/workflow_templates/" + os.path.basename(pack), directory)
            break

    app.router.add_get("/", get_root)
    root = app[WEB_ROOT]
    default_workflow = default_workflow_path(root)
    if default_workflow is not None:

        async def get_default_workflow(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(default_workflow, headers={"Cache-Control": "no-cache"})

        app.router.add_get("/default_workflow.json", get_default_workflow)
    if os.path.isdir(root):
        app.router.add_static("/", root, follow_symlinks=False)
