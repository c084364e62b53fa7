"""Read-only information routes: object_info, models, embeddings, system stats, features, extensions,
experiment models, custom-node i18n / templates / subgraphs, and UI->API workflow conversion."""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
import urllib.parse
from io import BytesIO
from typing import Any

from aiohttp import web

from comfy_core.server.keys import CONFIG, MODEL_LISTS, SERVICES, WEB_ROOT, json_error, read_json

log = logging.getLogger(__name__)

COMFYUI_VERSION = "0.8.0"
REQUIRED_FRONTEND_VERSION = "1.35.9"
REQUIRED_TEMPLATES_VERSION = "0.7.67"
EXTRA_LOCALE_FILES = ("nodeDefs", "commands", "settings")
HIDDEN_MODEL_FOLDERS = ("configs", "custom_nodes")


def _services(request: web.Request) -> Any:
    return request.config_dict[SERVICES]


def object_info_all(registry: Any) -> dict[str, Any]:
    if hasattr(registry, "object_info"):
        return registry.object_info()
    out = {}
    for name in registry.names():
        try:
            out[name] = _basic_node_info(registry, name)
        except Exception:
            log.exception("object_info failed for %s", name)
    return out


def object_info_one(registry: Any, name: str) -> dict[str, Any] | None:
    if name not in registry:
        return None
    if hasattr(registry, "node_info"):
        return registry.node_info(name)
    return _basic_node_info(registry, name)


def _basic_node_info(registry: Any, name: str) -> dict[str, Any]:
    """V1 node info, used only until the registry provides `node_info` itself."""
    cls = registry.get(name)
    types = cls.INPUT_TYPES()
    outputs = list(getattr(cls, "RETURN_TYPES", ()))
    return {
        "input": types,
        "input_order": {k: list(v.keys()) for k, v in types.items()},
        "output": outputs,
        "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(outputs))),
        "output_name": list(getattr(cls, "RETURN_NAMES", outputs)),
        "name": name,
        "display_name": registry.display_names.get(name, name),
        "description": getattr(cls, "DESCRIPTION", ""),
        "python_module": getattr(cls, "RELATIVE_PYTHON_MODULE", "nodes"),
        "category": getattr(cls, "CATEGORY", "sd"),
        "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
    }


async def get_object_info(request: web.Request) -> web.Response:
    return web.json_response(object_info_all(_services(request).registry))


async def get_object_info_node(request: web.Request) -> web.Response:
    name = request.match_info["node_class"]
    info = object_info_one(_services(request).registry, name)
    return web.json_response({name: info} if info is not None else {})


# models and files --------------------------------------------------------------------------------
def _folder_keys(paths: Any) -> list[str]:
    return list(paths.folder_names_and_paths.keys())


async def get_embeddings(request: web.Request) -> web.Response:
    names = _services(request).paths.get_filename_list("embeddings")
    return web.json_response([os.path.splitext(n)[0] for n in names])


async def list_model_types(request: web.Request) -> web.Response:
    return web.json_response(_folder_keys(_services(request).paths))


async def get_models(request: web.Request) -> web.Response:
    paths = _services(request).paths
    folder = request.match_info["folder"]
    if folder not in paths.folder_names_and_paths:
        return web.Response(status=404)
    return web.json_response(paths.get_filename_list(folder))


async def experiment_model_folders(request: web.Request) -> web.Response:
    paths = _services(request).paths
    return web.json_response(
        [
            {"name": key, "folders": paths.get_folder_paths(key)}
            for key in _folder_keys(paths)
            if key not in HIDDEN_MODEL_FOLDERS
        ]
    )


def _scan_models(folder: str, index: int, extensions: set[str]) -> list[dict[str, Any]]:
    out = []
    for dirpath, subdirs, files in os.walk(folder, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d != ".git")
        for name in sorted(files):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in extensions:
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            out.append(
                {
                    "name": os.path.relpath(full, folder).replace(os.sep, "/"),
                    "pathIndex": index,
                    "modified": st.st_mtime,
                    "created": st.st_ctime,
                    "size": st.st_size,
                }
            )
    return out


async def experiment_models(request: web.Request) -> web.Response:
    paths = _services(request).paths
    folder = request.match_info["folder"]
    if folder not in paths.folder_names_and_paths:
        return web.Response(status=404)
    extensions = set(paths.supported_pt_extensions)
    files: list[dict[str, Any]] = []
    for index, directory in enumerate(paths.get_folder_paths(folder)):
        if os.path.isdir(directory):
            files += _scan_models(directory, index, extensions)
    request.config_dict[MODEL_LISTS][folder] = files
    return web.json_response(files)


def _model_preview(model_path: str) -> Any:
    """Sibling `name.png` / `name.preview.*`, else the first safetensors `ssmd_cover_images` entry."""
    stem = os.path.splitext(model_path)[0]
    for candidate in sorted(glob.glob(glob.escape(stem) + ".*")):
        ext = os.path.splitext(candidate)[1].lower()
        base = os.path.splitext(candidate)[0]
        if ext in (".png", ".jpg", ".jpeg", ".webp", ".gif") and base in (stem, stem + ".preview"):
            return candidate
    if model_path.endswith(".safetensors"):
        from comfy_core.server.routes_files import read_safetensors_metadata

        covers = (read_safetensors_metadata(model_path) or {}).get("ssmd_cover_images")
        if covers:
            import base64

            try:
                return BytesIO(base64.b64decode(json.loads(covers)[0]))
            except (ValueError, IndexError, TypeError):
                return None
    return None


async def experiment_model_preview(request: web.Request) -> web.Response:
    from comfy_core.paths import safe_join

    paths = _services(request).paths
    folder = request.match_info["folder"]
    if folder not in paths.folder_names_and_paths:
        return web.Response(status=404)
    try:
        root = paths.get_folder_paths(folder)[int(request.match_info["path_index"])]
        model = str(safe_join(root, request.match_info["filename"]))
    except (ValueError, IndexError):
        return web.Response(status=404)
    preview = _model_preview(model)
    if preview is None:
        return web.Response(status=404)
    from PIL import Image

    try:
        with Image.open(preview) as img:
            buffer = BytesIO()
            img.save(buffer, format="WEBP")
    except Exception:
        return web.Response(status=404)
    return web.Response(body=buffer.getvalue(), content_type="image/webp")


# system -------------------------------------------------------------------------------------------
def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_stats_body(services: Any) -> dict[str, Any]:
    import psutil

    mem = psutil.virtual_memory()
    devices = None
    memory = services.memory
    if memory is not None and hasattr(memory, "device_stats"):
        devices = memory.device_stats()
    if not devices:
        devices = [
            {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": mem.total,
                "vram_free": mem.available,
                "torch_vram_total": mem.total,
                "torch_vram_free": mem.available,
            }
        ]
    return {
        "system": {
            "os": os.name,
            "ram_total": mem.total,
            "ram_free": mem.available,
            "comfyui_version": COMFYUI_VERSION,
            "comfy_core_version": _package_version("comfy-core") or "0.1.0",
            "required_frontend_version": REQUIRED_FRONTEND_VERSION,
            "installed_templates_version": _package_version("comfyui-workflow-templates"),
            "required_templates_version": REQUIRED_TEMPLATES_VERSION,
            "python_version": sys.version,
            "pytorch_version": _package_version("torch") or "",
            "embedded_python": os.path.split(os.path.split(sys.executable)[0])[1] == "python_embeded",
            "argv": sys.argv,
        },
        "devices": devices,
    }


async def system_stats(request: web.Request) -> web.Response:
    return web.json_response(system_stats_body(_services(request)))


def server_features(config: Any) -> dict[str, Any]:
    return {
        "supports_preview_metadata": True,
        "max_upload_size": config.max_upload_bytes,
        "extension": {"manager": {"supports_v4": True}},
    }


async def get_features(request: web.Request) -> web.Response:
    return web.json_response(server_features(request.config_dict[CONFIG]))


async def get_extensions(request: web.Request) -> web.Response:
    root = request.config_dict[WEB_ROOT]
    files = glob.glob(os.path.join(glob.escape(root), "extensions", "**", "*.js"), recursive=True)
    out = ["/" + os.path.relpath(f, root).replace(os.sep, "/") for f in sorted(files)]
    for name, directory in (_services(request).registry.web_directories or {}).items():
        for f in sorted(glob.glob(os.path.join(glob.escape(directory), "**", "*.js"), recursive=True)):
            out.append(
                f"/extensions/{urllib.parse.quote(name)}/"
                + os.path.relpath(f, directory).replace(os.sep, "/")
            )
    return web.json_response(out)


# custom-node assets ---------------------------------------------------------------------------------
def custom_node_packs(paths: Any) -> list[str]:
    """Every pack directory under the custom_nodes folders, sorted per folder."""
    out: list[str] = []
    try:
        folders = paths.get_folder_paths("custom_nodes")
    except Exception:
        return out
    for folder in folders:
        out += sorted(d for d in glob.glob(os.path.join(glob.escape(folder), "*", "")) if os.path.isdir(d))
    return [os.path.normpath(d) for d in out]


def _load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        log.error("cannot read %s", path)
        return {}


def merge_json(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_json(out[key], value)
        else:
            out[key] = value
    return out


def build_translations(paths: Any) -> dict[str, Any]:
    translations: dict[str, Any] = {}
    for pack in custom_node_packs(paths):
        for lang_dir in sorted(glob.glob(os.path.join(glob.escape(pack), "locales", "*", ""))):
            lang = os.path.basename(os.path.normpath(lang_dir))
            data = (
                _load_json(os.path.join(lang_dir, "main.json"))
                if os.path.exists(os.path.join(lang_dir, "main.json"))
                else {}
            )
            data = data if isinstance(data, dict) else {}
            for extra in EXTRA_LOCALE_FILES:
                path = os.path.join(lang_dir, extra + ".json")
                extra_data = _load_json(path) if os.path.exists(path) else {}
                if extra_data:
                    data[extra] = extra_data
            if data:
                translations[lang] = merge_json(translations.get(lang, {}), data)
    return translations


async def get_i18n(request: web.Request) -> web.Response:
    return web.json_response(build_translations(_services(request).paths))


def template_dirs(pack: str) -> list[str]:
    found = glob.glob(os.path.join(glob.escape(pack), "*example*")) + glob.glob(
        os.path.join(glob.escape(pack), "*workflow*")
    )
    return sorted({d for d in found if os.path.isdir(d)})


async def get_workflow_templates(request: web.Request) -> web.Response:
    out: dict[str, list[str]] = {}
    for pack in custom_node_packs(_services(request).paths):
        for directory in template_dirs(pack):
            for f in sorted(glob.glob(os.path.join(glob.escape(directory), "*.json"))):
                out.setdefault(os.path.basename(pack), []).append(os.path.splitext(os.path.basename(f))[0])
    return web.json_response(out)


def global_subgraphs(paths: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for pack in custom_node_packs(paths):
        for f in sorted(glob.glob(os.path.join(glob.escape(pack), "subgraphs", "*.json"))):
            sid = hashlib.sha256(f.encode()).hexdigest()
            out[sid] = {
                "source": "custom_node",
                "name": os.path.splitext(os.path.basename(f))[0],
                "info": {"node_pack": os.path.basename(pack)},
                "path": f,
            }
    return out


async def get_global_subgraphs(request: web.Request) -> web.Response:
    entries = global_subgraphs(_services(request).paths)
    return web.json_response({k: {x: y for x, y in v.items() if x != "path"} for k, v in entries.items()})


async def get_global_subgraph(request: web.Request) -> web.Response:
    entry = global_subgraphs(_services(request).paths).get(request.match_info["id"])
    if entry is None:
        return web.json_response(None)
    try:
        with open(entry.pop("path"), encoding="utf-8") as f:
            entry["data"] = f.read()
    except OSError:
        return web.json_response(None)
    return web.json_response(entry)


async def post_workflow_convert(request: web.Request) -> web.Response:
    from comfy_core.graph.convert import ConversionError, workflow_to_prompt

    body = await read_json(request)
    workflow = body.get("workflow", body) if isinstance(body, dict) else None
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        return json_error(400, "body must be a UI workflow (an object with a 'nodes' list)")
    try:
        prompt = workflow_to_prompt(workflow, object_info_all(_services(request).registry))
    except ConversionError as err:
        return json_error(400, str(err))
    return web.json_response({"prompt": prompt})
