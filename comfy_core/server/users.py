"""Users, settings and user-data files (ComfyUI's app/user_manager.py and app/app_settings.py contract).

Without `--multi-user` every request is user `default`; with it, the `Comfy-User` header names one of
the users in `<user dir>/users.json`. Names starting with `__` are system users and never reachable.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import shutil
import tempfile
import uuid
from typing import Any
from urllib import parse

from aiohttp import web

from comfy_core.paths import safe_join
from comfy_core.server.keys import CONFIG, SERVICES, USERS, json_error, read_json

log = logging.getLogger(__name__)

DEFAULT_USER = "default"
SYSTEM_PREFIX = "__"
SETTINGS_FILE = "comfy.settings.json"
DANGEROUS_CONTENT_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "text/javascript",
    "application/javascript",
    "image/svg+xml",
    "text/xml",
    "application/xml",
}


class UserManager:
    def __init__(self, user_directory: str, multi_user: bool) -> None:
        self.user_directory = user_directory
        self.multi_user = multi_user
        os.makedirs(user_directory, exist_ok=True)
        self.users: dict[str, str] = {DEFAULT_USER: DEFAULT_USER}
        if multi_user:
            self.users = {}
            if os.path.isfile(self.users_file):
                try:
                    with open(self.users_file, encoding="utf-8") as f:
                        self.users = dict(json.load(f))
                except (OSError, ValueError, TypeError):
                    log.error("cannot read %s", self.users_file)

    @property
    def users_file(self) -> str:
        return os.path.join(self.user_directory, "users.json")

    def request_user(self, request: web.Request) -> str:
        user = DEFAULT_USER
        if self.multi_user and "comfy-user" in request.headers:
            user = request.headers["comfy-user"]
        if user.startswith(SYSTEM_PREFIX) or user not in self.users:
            raise KeyError("Unknown user: " + user)
        return user

    def user_root(self, request: web.Request) -> str | None:
        user = self.request_user(request)
        try:
            return str(safe_join(self.user_directory, user))
        except ValueError:
            return None

    def user_path(self, request: web.Request, file: str | None, create_dir: bool = True) -> str | None:
        """Absolute path of `file` inside the request user's folder, None when it would escape."""
        root = self.user_root(request)
        if root is None:
            return None
        path = root
        if file is not None:
            if "%" in file:
                file = parse.unquote(file)
            try:
                path = str(safe_join(root, file))
            except ValueError:
                return None
        if create_dir:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def add_user(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise ValueError("username not provided")
        if name.startswith(SYSTEM_PREFIX):
            raise ValueError("System User prefix not allowed")
        user_id = re.sub("[^a-zA-Z0-9-_]+", "-", name)
        if user_id.startswith(SYSTEM_PREFIX):
            raise ValueError("System User prefix not allowed")
        user_id = f"{user_id}_{uuid.uuid4()}"
        self.users[user_id] = name
        with open(self.users_file, "w", encoding="utf-8") as f:
            json.dump(self.users, f)
        return user_id

    # settings -------------------------------------------------------------------------------
    def settings_file(self, request: web.Request) -> str:
        try:
            path = self.user_path(request, SETTINGS_FILE)
        except KeyError as err:
            raise web.HTTPUnauthorized(text="Unknown user") from err
        if path is None:
            raise web.HTTPUnauthorized(text="Unknown user")
        return path

    def get_settings(self, request: web.Request) -> dict[str, Any]:
        path = self.settings_file(request)
        if not os.path.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            log.error("cannot read settings %s", path)
            return {}

    def save_settings(self, request: web.Request, settings: dict[str, Any]) -> None:
        _atomic_write(self.settings_file(request), json.dumps(settings, indent=4).encode())


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _users(request: web.Request) -> UserManager:
    return request.config_dict[USERS]


def file_info(path: str, root: str) -> dict[str, Any]:
    st = os.stat(path)
    return {
        "path": os.path.relpath(path, root).replace(os.sep, "/"),
        "size": st.st_size,
        "modified": int(st.st_mtime * 1000),
        "created": int(st.st_ctime * 1000),
    }


# users & settings routes ------------------------------------------------------------------------
async def get_users(request: web.Request) -> web.Response:
    users = _users(request)
    if users.multi_user:
        return web.json_response({"storage": "server", "users": users.users})
    path = users.user_path(request, None, create_dir=False)
    return web.json_response({"storage": "server", "migrated": bool(path and os.path.exists(path))})


async def post_users(request: web.Request) -> web.Response:
    users = _users(request)
    body = await read_json(request)
    name = body.get("username") if isinstance(body, dict) else None
    if not isinstance(name, str):
        return json_error(400, "username not provided")
    if name in users.users.values():
        return json_error(400, "Duplicate username.")
    try:
        return web.json_response(users.add_user(name))
    except ValueError as err:
        return json_error(400, str(err))


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_users(request).get_settings(request))


async def get_setting(request: web.Request) -> web.Response:
    return web.json_response(_users(request).get_settings(request).get(request.match_info["id"]))


async def post_settings(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "settings must be a JSON object")
    users = _users(request)
    settings = users.get_settings(request)
    settings.update(body)
    users.save_settings(request, settings)
    return web.Response(status=200)


async def post_setting(request: web.Request) -> web.Response:
    setting_id = request.match_info.get("id")
    if not setting_id:
        return json_error(400, "setting id missing")
    value = await read_json(request)
    users = _users(request)
    settings = users.get_settings(request)
    settings[setting_id] = value
    users.save_settings(request, settings)
    return web.Response(status=200)


# user data routes -------------------------------------------------------------------------------
def _data_path(request: web.Request, param: str = "file", check_exists: bool = False) -> str | web.Response:
    file = request.match_info.get(param)
    if not file:
        return web.Response(status=400, text="File not provided")
    try:
        path = _users(request).user_path(request, file)
    except KeyError:
        return web.Response(status=403, text="Unknown user")
    if not path:
        return web.Response(status=403, text="Invalid path")
    if check_exists and not os.path.exists(path):
        return web.Response(status=404, text="File not found")
    return path


def _flag(request: web.Request, name: str, default: str = "") -> bool:
    return request.rel_url.query.get(name, default).lower() == "true"


async def list_userdata(request: web.Request) -> web.Response:
    directory = request.rel_url.query.get("dir", "")
    if not directory:
        return web.Response(status=400, text="Directory not provided")
    try:
        path = _users(request).user_path(request, directory)
    except KeyError:
        return web.Response(status=403, text="Unknown user")
    if not path:
        return web.Response(status=403, text="Invalid directory")
    if not os.path.exists(path):
        return web.Response(status=404, text="Directory not found")
    recurse, full_info, split = (
        _flag(request, "recurse"),
        _flag(request, "full_info"),
        _flag(request, "split"),
    )
    files = []
    for dirpath, subdirs, names in os.walk(path):
        subdirs.sort()
        files += [os.path.join(dirpath, n) for n in sorted(names)]
        if not recurse:
            break
    out: list[Any] = []
    for full in files:
        rel = os.path.relpath(full, path).replace(os.sep, "/")
        if full_info:
            out.append(file_info(full, path))
        elif split:
            out.append([rel] + rel.split("/"))
        else:
            out.append(rel)
    return web.json_response(out)


async def list_userdata_v2(request: web.Request) -> web.Response:
    users = _users(request)
    rel = parse.unquote(request.rel_url.query.get("path", ""))
    try:
        base = users.user_path(request, None, create_dir=False)
        target = users.user_path(request, rel, create_dir=False) if rel else base
    except KeyError:
        return web.Response(status=403, text="Invalid user specified in request")
    if not target or not base:
        return web.Response(status=400, text="Invalid path requested")
    if not os.path.exists(target):
        if target == base:
            return web.json_response([])
        return web.Response(status=404, text="Requested path not found")
    if not os.path.isdir(target):
        return web.Response(status=400, text="Requested path is not a directory")
    results: list[dict[str, Any]] = []
    try:
        for root, dirs, files in os.walk(target):
            for d in dirs:
                results.append(
                    {
                        "name": d,
                        "path": os.path.relpath(os.path.join(root, d), base).replace(os.sep, "/"),
                        "type": "directory",
                    }
                )
            for name in files:
                full = os.path.join(root, name)
                entry: dict[str, Any] = {
                    "name": name,
                    "path": os.path.relpath(full, base).replace(os.sep, "/"),
                    "type": "file",
                }
                try:
                    st = os.stat(full)
                    entry.update(size=st.st_size, modified=st.st_mtime)
                except OSError:
                    pass
                results.append(entry)
    except OSError:
        return web.Response(status=500, text="Error reading directory contents")
    results.sort(key=lambda e: (e["type"] != "directory", e["name"].lower()))
    return web.json_response(results)


async def get_userdata(request: web.Request) -> web.StreamResponse:
    path = _data_path(request, check_exists=True)
    if not isinstance(path, str):
        return path
    if not os.path.isfile(path):
        return web.Response(status=404, text="File not found")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    root = _users(request).user_path(request, None, create_dir=False)
    disposition = "attachment"
    if path == os.path.join(root or "", "user.css"):
        content_type, disposition = "text/css", "inline"
    elif content_type in DANGEROUS_CONTENT_TYPES or content_type.startswith("text/html"):
        content_type = "application/octet-stream"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": disposition,
        },
    )


def _written(request: web.Request, path: str) -> web.Response:
    root = _users(request).user_path(request, None) or ""
    if _flag(request, "full_info", "false"):
        return web.json_response(file_info(path, root))
    return web.json_response(os.path.relpath(path, root).replace(os.sep, "/"))


async def post_userdata(request: web.Request) -> web.Response:
    path = _data_path(request)
    if not isinstance(path, str):
        return path
    overwrite = request.rel_url.query.get("overwrite", "true") != "false"
    if os.path.exists(path) and (not overwrite or os.path.isdir(path)):
        return web.Response(status=409, text="File already exists")
    body = await request.read()
    try:
        _atomic_write(path, body)
    except OSError as err:
        log.warning("cannot save %s: %s", path, err)
        return web.Response(
            status=400, text='Invalid filename. Please avoid special characters like :\\/*?"<>|'
        )
    return _written(request, path)


async def delete_userdata(request: web.Request) -> web.Response:
    path = _data_path(request, check_exists=True)
    if not isinstance(path, str):
        return path
    if not os.path.isfile(path):
        return web.Response(status=404, text="File not found")
    os.remove(path)
    return web.Response(status=204)


async def move_userdata(request: web.Request) -> web.Response:
    source = _data_path(request, check_exists=True)
    if not isinstance(source, str):
        return source
    dest = _data_path(request, param="dest")
    if not isinstance(dest, str):
        return dest
    overwrite = request.rel_url.query.get("overwrite", "true") != "false"
    if not overwrite and os.path.exists(dest):
        return web.Response(status=409, text="File already exists")
    shutil.move(source, dest)
    return _written(request, dest)


def make_user_manager(app: web.Application) -> UserManager:
    return UserManager(app[SERVICES].paths.get_user_directory(), app[CONFIG].multi_user)
