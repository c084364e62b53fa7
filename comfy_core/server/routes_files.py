"""/view, /view_metadata, /upload/image, /upload/mask and /internal/files (contract 1.2, 1.3)."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import struct
from io import BytesIO
from typing import Any

from aiohttp import web

from comfy_core.paths import safe_join
from comfy_core.server.keys import CONFIG, SERVICES, json_error

DANGEROUS_CONTENT_TYPES = {
    "text/html",
    "text/html-sandboxed",
    "application/xhtml+xml",
    "text/javascript",
    "application/javascript",
    "text/css",
    "image/svg+xml",
}
SAFETENSORS_HEADER_LIMIT = 1024 * 1024


def _paths(request: web.Request) -> Any:
    return request.config_dict[SERVICES].paths


def _unsafe_name(name: str) -> bool:
    """ComfyUI refuses names starting with '/' or containing '..'; we also refuse drive/UNC/NUL names."""
    return (
        not name
        or name[0] in "/\\"
        or ".." in name
        or "\0" in name
        or os.path.isabs(name)
        or (len(name) > 1 and name[1] == ":")
    )


def resolve_view_path(paths: Any, query: Any) -> str | web.Response:
    """The file a /view-style query names, or the error response ComfyUI gives."""
    if "filename" not in query:
        return web.Response(status=404)
    name, base = paths.annotated_filepath(query["filename"])
    if _unsafe_name(name):
        return json_error(400, "invalid filename")
    if base is None:
        base = paths.get_directory_by_type(query.get("type", "output"))
        if base is None:
            return json_error(400, "invalid type")
    folder = base
    if query.get("subfolder"):
        try:
            folder = str(safe_join(base, query["subfolder"]))
        except ValueError:
            return json_error(403, "subfolder escapes its directory")
    try:
        return str(safe_join(base, os.path.join(folder, os.path.basename(name))))
    except ValueError:  # a symlink pointing out of the directory
        return json_error(403, "file escapes its directory")


def _open_image(file: str) -> Any:
    from PIL import Image

    return Image.open(file)


def _image_response(image: Any, fmt: str, filename: str, **save: Any) -> web.Response:
    buffer = BytesIO()
    image.save(buffer, format=fmt, **save)
    return web.Response(
        body=buffer.getvalue(),
        content_type=f"image/{fmt.lower()}",
        headers={"Content-Disposition": f'filename="{filename}"'},
    )


def _transcoded(file: str, filename: str, query: Any) -> web.Response | None:
    """Preview (webp/jpeg re-encode) and channel extraction; None means: stream the file as is."""
    channel = query.get("channel", "rgba")
    if "preview" not in query and channel not in ("rgb", "a"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with _open_image(file) as img:
            if "preview" in query:
                parts = query["preview"].split(";")
                fmt = (
                    parts[0]
                    if parts[0] in ("webp", "jpeg") and "a" not in query.get("channel", "")
                    else "webp"
                )
                quality = int(parts[-1]) if parts[-1].isdigit() else 90
                if fmt == "jpeg" or channel == "rgb":
                    img = img.convert("RGB")
                stem = os.path.splitext(filename)[0]
                return _image_response(img, fmt.upper(), f"{stem}.{fmt}", quality=quality)
            if channel == "rgb":
                return _image_response(img.convert("RGB"), "PNG", filename)
            alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
            out = Image.new("RGBA", img.size)
            out.putalpha(alpha)
            return _image_response(out, "PNG", filename)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as err:
        return json_error(400, f"cannot transcode this file: {err}")


async def view(request: web.Request) -> web.StreamResponse:
    file = resolve_view_path(_paths(request), request.rel_url.query)
    if isinstance(file, web.Response):
        return file
    if not os.path.isfile(file):
        return web.Response(status=404)
    filename = os.path.basename(file)
    transcoded = _transcoded(file, filename, request.rel_url.query)
    if transcoded is not None:
        return transcoded
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if content_type in DANGEROUS_CONTENT_TYPES:
        content_type = "application/octet-stream"
    return web.FileResponse(
        file, headers={"Content-Disposition": f'filename="{filename}"', "Content-Type": content_type}
    )


def read_safetensors_metadata(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > SAFETENSORS_HEADER_LIMIT:
                return None
            header = json.loads(f.read(length))
    except (OSError, struct.error, ValueError):
        return None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else None


async def view_metadata(request: web.Request) -> web.Response:
    folder = request.match_info["folder_name"]
    filename = request.rel_url.query.get("filename", "")
    if not filename.endswith(".safetensors"):
        return web.Response(status=404)
    try:
        path = _paths(request).get_full_path(folder, filename)
    except Exception:
        path = None
    meta = read_safetensors_metadata(path) if path else None
    if meta is None:
        return web.Response(status=404)
    return web.json_response(meta)


# uploads ---------------------------------------------------------------------------------------
def _same_content(path: str, data: bytes, hash_name: str) -> bool:
    with open(path, "rb") as f:
        return hashlib.new(hash_name, f.read()).digest() == hashlib.new(hash_name, data).digest()


def _check_pixels(data: bytes) -> str | None:
    """Refuse images beyond Pillow's decompression-bomb limit; non-images (video, audio) pass."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError as err:
        return str(err)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        return f"image of {width}x{height} pixels exceeds the limit of {limit} pixels"
    return None


class _Upload:
    def __init__(self, request: web.Request, post: Any) -> None:
        self.request, self.post = request, post

    def target(self) -> tuple[str, str, str, str] | web.Response:
        """(directory, subfolder, filename, type) with the name made unique unless overwrite."""
        image = self.post.get("image")
        if image is None or not hasattr(image, "file"):
            return json_error(400, "no file in field 'image'")
        filename = image.filename or ""
        if not filename or _unsafe_name(filename):
            return json_error(400, "invalid or empty filename")
        kind = self.post.get("type") or "input"
        base = _paths(self.request).get_directory_by_type(kind)
        if base is None:
            return json_error(400, f"invalid type {kind!r}")
        subfolder = self.post.get("subfolder", "") or ""
        try:
            folder = str(safe_join(base, subfolder))
            safe_join(folder, filename)
        except ValueError:
            return json_error(400, "path escapes the upload directory")
        return folder, subfolder, filename, kind

    def data(self) -> bytes:
        return self.post["image"].file.read()


def _unique_name(
    folder: str, filename: str, data: bytes, overwrite: bool, hash_name: str
) -> tuple[str, bool]:
    """(name to use, whether an identical file already holds that name)."""
    if overwrite:
        return filename, False
    stem, ext = os.path.splitext(filename)
    name, i = filename, 1
    while os.path.exists(os.path.join(folder, name)):
        if _same_content(os.path.join(folder, name), data, hash_name):
            return name, True
        name = f"{stem} ({i}){ext}"
        i += 1
    return name, False


async def _upload(request: web.Request, save: Any = None) -> web.Response:
    post = await request.post()
    up = _Upload(request, post)
    target = up.target()
    if isinstance(target, web.Response):
        return target
    folder, subfolder, filename, kind = target
    data = up.data()
    problem = _check_pixels(data)
    if problem:
        return json_error(400, problem)
    overwrite = post.get("overwrite") in ("true", "1")
    hash_name = request.config_dict[CONFIG].default_hashing_function
    os.makedirs(os.path.dirname(os.path.join(folder, filename)), exist_ok=True)
    name, duplicate = _unique_name(folder, filename, data, overwrite, hash_name)
    if not duplicate:
        path = os.path.join(folder, name)
        if save is not None:
            failure = save(post, data, path)
            if failure is not None:
                return failure
        else:
            with open(path, "wb") as f:
                f.write(data)
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})


async def upload_image(request: web.Request) -> web.Response:
    return await _upload(request)


async def upload_mask(request: web.Request) -> web.Response:
    paths = _paths(request)

    def save(post: Any, data: bytes, path: str) -> web.Response | None:
        try:
            ref = json.loads(post.get("original_ref") or "")
            if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
                raise ValueError
        except ValueError:
            return json_error(400, "original_ref must be JSON {filename, subfolder?, type?}")
        original = resolve_view_path(paths, {**ref, "filename": ref["filename"]})
        if isinstance(original, web.Response):
            return original
        if not os.path.isfile(original):
            return json_error(404, "original image not found")
        from PIL import Image, UnidentifiedImageError
        from PIL.PngImagePlugin import PngInfo

        try:
            with Image.open(original) as src, Image.open(BytesIO(data)) as mask:
                info = PngInfo()
                for key, value in getattr(src, "text", {}).items():
                    info.add_text(key, value)
                merged = src.convert("RGBA")
                merged.putalpha(mask.convert("RGBA").getchannel("A"))
                merged.save(path, compress_level=4, pnginfo=info)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            return json_error(400, f"cannot read image: {err}")
        return None

    return await _upload(request, save)


async def internal_files(request: web.Request) -> web.Response:
    kind = request.match_info["directory_type"]
    if kind not in ("output", "input", "temp"):
        return json_error(400, "Invalid directory type")
    directory = _paths(request).get_directory_by_type(kind)
    if not directory or not os.path.isdir(directory):
        return web.json_response([])
    entries = [e for e in os.scandir(directory) if e.is_file() and not e.name.startswith(".")]
    entries.sort(key=lambda e: -e.stat().st_mtime)
    return web.json_response([e.name for e in entries])
