"""PNG workflow metadata: `tEXt` chunks for stills, private `comf` chunks for animated PNG (section 10.4).

Reading scans raw chunks (tEXt, zTXt, iTXt, comf) so it works on bytes from an upload or a file, the way
the UI's drag-and-drop reader does.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNK_TYPES = (b"tEXt", b"zTXt", b"iTXt", b"comf")


def iter_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) for each chunk; stops quietly at a truncated tail. ValueError if not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        start = pos + 8
        end = start + length
        if end + 4 > len(data):
            return
        yield ctype, data[start:end]
        pos = end + 4  # skip CRC
        if ctype == b"IEND":
            return


def _decode_text_chunk(ctype: bytes, payload: bytes) -> tuple[str, str] | None:
    key, sep, rest = payload.partition(b"\0")
    if not sep:
        return None
    name = key.decode("latin-1")
    if ctype == b"tEXt":
        return name, rest.decode("latin-1")
    if ctype == b"comf":
        # ComfyUI writes JSON encoded as latin-1; UTF-8 is accepted too since ASCII is common to both
        try:
            return name, rest.decode("utf-8")
        except UnicodeDecodeError:
            return name, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest:
            return None
        return name, zlib.decompress(rest[1:]).decode("latin-1")
    if ctype == b"iTXt":
        if len(rest) < 2:
            return None
        compressed, _method = rest[0], rest[1]
        _lang, _, rest = rest[2:].partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        if compressed:
            text = zlib.decompress(text)
        return name, text.decode("utf-8")
    return None


def read_png_text(data: bytes) -> dict[str, str]:
    """Every text entry of a PNG (tEXt, zTXt, iTXt and `comf`), later chunks winning on duplicate keys."""
    out: dict[str, str] = {}
    for ctype, payload in iter_chunks(data):
        if ctype in TEXT_CHUNK_TYPES:
            try:
                decoded = _decode_text_chunk(ctype, payload)
            except (zlib.error, UnicodeDecodeError):
                decoded = None
            if decoded is not None:
                out[decoded[0]] = decoded[1]
    return out


def read_png_text_file(path: str | os.PathLike[str]) -> dict[str, str]:
    with open(path, "rb") as f:
        return read_png_text(f.read())


def parse_workflow_entries(entries: Mapping[str, str]) -> dict[str, Any]:
    """{'prompt': obj, 'workflow': obj} for the entries that hold valid JSON (others are left out)."""
    out: dict[str, Any] = {}
    for key in ("prompt", "workflow"):
        raw = entries.get(key)
        if raw is None:
            continue
        try:
            out[key] = json.loads(raw)
        except ValueError:
            continue
    return out


def text_pnginfo(prompt: Any | None, extra_pnginfo: Mapping[str, Any] | None) -> PngInfo:
    """One tEXt chunk `prompt` (JSON) plus one per extra_pnginfo key (normally `workflow`)."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if extra_pnginfo is not None:
        for key in extra_pnginfo:
            info.add_text(key, json.dumps(extra_pnginfo[key]))
    return info


def comf_pnginfo(prompt: Any | None, extra_pnginfo: Mapping[str, Any] | None) -> PngInfo:
    """The same key/value pairs as private `comf` chunks (`key\\0json`) placed after the image data."""
    info = PngInfo()
    if prompt is not None:
        info.add(b"comf", b"prompt\0" + json.dumps(prompt).encode("latin-1"), after_idat=True)
    if extra_pnginfo is not None:
        for key in extra_pnginfo:
            payload = key.encode("latin-1") + b"\0" + json.dumps(extra_pnginfo[key]).encode("latin-1")
            info.add(b"comf", payload, after_idat=True)
    return info


def save_png(
    image: Image.Image,
    path: str | os.PathLike[str],
    *,
    prompt: Any | None = None,
    extra_pnginfo: Mapping[str, Any] | None = None,
    metadata: bool = True,
    compress_level: int = 4,
) -> None:
    info = text_pnginfo(prompt, extra_pnginfo) if metadata else None
    image.save(path, format="PNG", pnginfo=info, compress_level=compress_level)


def save_animated_png(
    frames: Sequence[Image.Image],
    path: str | os.PathLike[str],
    *,
    fps: float,
    compress_level: int = 4,
    prompt: Any | None = None,
    extra_pnginfo: Mapping[str, Any] | None = None,
    metadata: bool = True,
) -> None:
    """APNG with one frame per image, frame duration int(1000/fps) ms, metadata in `comf` chunks."""
    if not frames:
        raise ValueError("an animated PNG needs at least one frame")
    info = comf_pnginfo(prompt, extra_pnginfo) if metadata else None
    frames[0].save(
        path,
        format="PNG",
        pnginfo=info,
        compress_level=compress_level,
        save_all=True,
        duration=int(1000.0 / fps),
        append_images=list(frames[1:]),
    )
