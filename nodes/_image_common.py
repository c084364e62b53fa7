"""What the image, mask and animation node modules share: services access and saving helpers."""

from __future__ import annotations

import random
import string
from typing import Any

from comfy_core import runtime

MAX_RESOLUTION = 16384


def paths() -> Any:
    """The running instance's `comfy_core.paths.Paths`."""
    p = runtime.current().paths
    if p is None:
        raise RuntimeError("no Paths installed in comfy_core.runtime services")
    return p


def metadata_enabled() -> bool:
    """False only when `--disable-metadata` was given (config.disable_metadata truthy)."""
    services = runtime.maybe_current()
    config = getattr(services, "config", None) if services is not None else None
    return not bool(getattr(config, "disable_metadata", False))


def temp_prefix(base: str = "ComfyUI") -> str:
    """`ComfyUI_temp_<5 random lowercase letters>`: preview files of one node run share it."""
    return base + "_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))


def saved_result(filename: str, subfolder: str, folder_type: str) -> dict[str, str]:
    return {"filename": filename, "subfolder": subfolder, "type": folder_type}
