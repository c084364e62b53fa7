"""What the Stable Diffusion node modules share: services access, widget specs and the loading seam."""

from __future__ import annotations

from typing import Any

from comfy_core import runtime

MAX_RESOLUTION = 16384
SEED_MAX = 0xFFFFFFFFFFFFFFFF


def paths() -> Any:
    """The running instance's `comfy_core.paths.Paths`."""
    p = runtime.current().paths
    if p is None:
        raise RuntimeError("no Paths installed in comfy_core.runtime services")
    return p


def config_flag(name: str, default: Any = None) -> Any:
    services = runtime.maybe_current()
    config = getattr(services, "config", None) if services is not None else None
    value = getattr(config, name, None)
    return default if value is None else value


def filenames(folder: str) -> list[str]:
    return paths().get_filename_list(folder)


def full_path(folder: str, name: str) -> str:
    return paths().get_full_path_or_raise(folder, name)


def embedding_dirs() -> list[str]:
    return list(paths().get_folder_paths("embeddings"))


def int_spec(
    default: int, lo: int, hi: int, step: int | None = None, **extra: Any
) -> tuple[str, dict[str, Any]]:
    opts: dict[str, Any] = {"default": default, "min": lo, "max": hi}
    if step is not None:
        opts["step"] = step
    opts.update(extra)
    return ("INT", opts)


def float_spec(default: float, lo: float, hi: float, step: float, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step, **extra})


def seed_spec() -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True})


def cfg_spec() -> tuple[str, dict[str, Any]]:
    return ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01})
