"""Reading and writing weight files: safetensors (memory-mapped) and restricted torch pickles.

safetensors: header = 8-byte little-endian length + JSON {name: {dtype, shape, data_offsets}, "__metadata__":
{str: str}}; tensors are read through `safetensors.safe_open`, which maps the file instead of copying it.
`.ckpt/.pt/.pth/.bin` are torch pickles and are only ever opened with `torch.load(weights_only=True)`; a file
that needs arbitrary classes is refused, never executed.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import torch

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pt2")


class CheckpointLoadError(RuntimeError):
    """A weight file could not be read safely."""


def _is_safetensors(path: Path) -> bool:
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        return True
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return False
    # Unknown suffix: sniff the header (8-byte length followed by '{').
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def read_safetensors_header(path: str | os.PathLike) -> tuple[dict[str, dict], dict[str, str]]:
    """Return ({name: {"dtype", "shape", "data_offsets"}}, metadata) without touching tensor data."""
    with open(path, "rb") as f:
        raw_len = f.read(8)
        if len(raw_len) != 8:
            raise CheckpointLoadError(f"{path}: file too short for a safetensors header")
        (n,) = struct.unpack("<Q", raw_len)
        if n > 100 * 1024 * 1024:
            raise CheckpointLoadError(f"{path}: implausible safetensors header length {n}")
        header = json.loads(f.read(n))
    metadata = header.pop("__metadata__", None) or {}
    return header, dict(metadata)


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `__metadata__` string map of a safetensors file ({} if absent)."""
    return read_safetensors_header(path)[1]


def _load_safetensors(
    path: Path, device: str | torch.device
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    dev = str(device)
    out: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=dev) as f:
            metadata = f.metadata() or {}
            for key in f.keys():
                out[key] = f.get_tensor(key)
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointLoadError(f"{path}: not a readable safetensors file ({e})") from e
    return out, dict(metadata)


def _unwrap_pickle(obj: object) -> dict[str, torch.Tensor]:
    # Lightning/LDM checkpoints wrap the weights: {"state_dict": {...}, "global_step": ...}.
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model", "module"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                if any(isinstance(v, torch.Tensor) for v in inner.values()):
                    obj = inner
                    break
        return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    raise CheckpointLoadError(f"pickle holds a {type(obj).__name__}, not a state dict")


def _load_pickle(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(path), map_location=device, weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise
        obj = torch.load(str(path), map_location=device, weights_only=True)
    return _unwrap_pickle(obj)


def load_state_dict_file(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load every tensor of a weight file. Returns (state_dict, metadata); pickles have no metadata.

    Tensors keep their on-disk dtype (fp32/fp16/bf16/fp8/int); casting is the loader's job.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weight file not found: {p}")
    if _is_safetensors(p):
        return _load_safetensors(p, device)
    try:
        return _load_pickle(p, device), {}
    except CheckpointLoadError as e:
        raise CheckpointLoadError(f"{p}: {e}") from e
    except Exception as e:  # UnpicklingError for weights_only refusals, zip errors...
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointLoadError(
            f"{p}: refused to load this pickle with torch.load(weights_only=True): {msg}. "
            "It needs code beyond plain tensors; convert it to .safetensors with a tool you trust."
        ) from e


def save_safetensors(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write tensors (made contiguous, moved to CPU) and string metadata; shared storage is fine."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for k, v in state_dict.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{k}: not a tensor ({type(v).__name__})")
        # clone so tensors sharing storage (tied weights) serialise independently
        tensors[k] = v.detach().to("cpu").contiguous().clone()
    meta = None
    if metadata:
        meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
