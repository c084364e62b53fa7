"""Textual-inversion embedding files (`embedding:name` in prompts).

Formats read, as ComfyUI reads them: safetensors (`emb_params`, or `clip_l`/`clip_g` for SDXL),
A1111 `.pt` (`string_to_param`), lists of dicts, LoRA-bundled embeddings (`bundle_emb.*`), and legacy
pickles that only load as raw zip members. Lookup covers every directory below the given roots and
never leaves them.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable, Mapping

import torch

log = logging.getLogger(__name__)

EXTENSIONS = (".safetensors", ".pt", ".bin")


def expand_directories(roots: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The roots and all their sub-directories (ComfyUI searches nested folders too)."""
    found: list[str] = []
    for root in roots:
        root = os.fspath(root)
        if root not in found:
            found.append(root)
        for sub, _dirs, _files in os.walk(root, followlinks=True):
            if sub not in found:
                found.append(sub)
    return found


def find_embedding_file(name: str, roots: Iterable[str | os.PathLike[str]]) -> str | None:
    if not name:
        return None
    for directory in expand_directories(roots):
        base = os.path.abspath(directory)
        path = os.path.abspath(os.path.join(base, name))
        try:
            if os.path.commonpath((base, path)) != base:
                continue
        except ValueError:
            continue
        if os.path.isfile(path):
            return path
        for ext in EXTENSIONS:
            if os.path.isfile(path + ext):
                return path + ext
    return None


def _raw_zip_embedding(path: str) -> torch.Tensor | None:
    """Last resort for old pickles: take the float data member and guess the width (768 or 1024)."""
    with zipfile.ZipFile(path) as zf:
        for member in reversed([n for n in zf.namelist() if "data/" in n]):
            data = zf.read(member)
            count = len(data) // 4
            if count < 768:
                continue
            width = 768 if count % 768 == 0 else 1024
            return (
                torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(count // width, width).clone()
            )
    return None


def _bundled(data: Mapping[str, torch.Tensor], suffix: str) -> torch.Tensor | None:
    parts = [v for k, v in data.items() if k.startswith("bundle_emb.") and k.endswith(suffix)]
    return torch.cat(parts, dim=0) if parts else None


def _pick_tensor(data: object, width: int, key: str | None) -> torch.Tensor | None:
    if isinstance(data, list):
        rows = [t.reshape(-1, t.shape[-1]) for item in data for t in item.values() if t.shape[-1] == width]
        return torch.cat(rows, dim=0) if rows else None
    if not isinstance(data, Mapping):
        return None
    if "string_to_param" in data:
        return next(iter(data["string_to_param"].values()))
    if key is not None and key in data:
        return data[key]
    found = _bundled(data, ".string_to_param.*")
    if found is None:
        found = _bundled(data, f".{key}")
    if found is None and data:
        found = next(iter(data.values()))
    return found


def load_embedding(
    name: str, roots: Iterable[str | os.PathLike[str]], width: int, key: str | None = None
) -> torch.Tensor | None:
    """The embedding vectors `[n, width']` for `name`, or None when no readable file exists.

    `width` filters list-style files; `key` picks `clip_l`/`clip_g` from SDXL files. A file whose
    width differs from the encoder's is returned as is and rejected at encode time, as in ComfyUI.
    """
    path = find_embedding_file(name, roots)
    if path is None:
        return None
    try:
        if path.lower().endswith(".safetensors"):
            import safetensors.torch

            data: object = safetensors.torch.load_file(path, device="cpu")
        else:
            try:
                data = torch.load(path, weights_only=True, map_location="cpu")
            except Exception:
                return _raw_zip_embedding(path)
    except Exception:
        log.warning("error loading embedding %s, skipping it", name, exc_info=True)
        return None
    tensor = _pick_tensor(data, width, key)
    return None if tensor is None else tensor.detach().float()
