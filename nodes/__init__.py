"""Built-in nodes, one module per domain (`nodes/<domain>.py`), presented under ComfyUI's `nodes` API.

Custom packs use this package the way they use ComfyUI's `nodes.py`: `nodes.NODE_CLASS_MAPPINGS`,
`nodes.NODE_DISPLAY_NAME_MAPPINGS`, `nodes.MAX_RESOLUTION`, and core classes by name (`nodes.SaveImage`).
The domain modules are imported on first use of any of those names, not when the package is imported;
the aggregated dicts are then kept, so packs that add entries to them see their additions.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

MAX_RESOLUTION = 16384

# Every domain module, in registration order. Each defines NODE_CLASS_MAPPINGS and
# NODE_DISPLAY_NAME_MAPPINGS.
DOMAIN_MODULES: tuple[str, ...] = (
    "loaders",
    "lora",
    "sampling",
    "custom_sampling",
    "conditioning",
    "latent",
    "model_advanced",
    "image",
    "mask",
)

# Functions (not nodes) that custom packs import from ComfyUI's nodes.py -> the domain module defining each.
HELPERS: dict[str, str] = {"common_ksampler": "sampling"}

log = logging.getLogger(__name__)


def _aggregate() -> dict[str, Any]:
    classes: dict[str, type] = {}
    titles: dict[str, str] = {}
    for domain in DOMAIN_MODULES:
        qualified = f"{__name__}.{domain}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
            # Tolerated only while the project is being built: a domain module not written yet.
            log.warning("built-in node module %s is missing", qualified)
            continue
        classes.update(module.NODE_CLASS_MAPPINGS)
        titles.update(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}) or {})
    return {"NODE_CLASS_MAPPINGS": classes, "NODE_DISPLAY_NAME_MAPPINGS": titles}


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    if "NODE_CLASS_MAPPINGS" not in globals():
        globals().update(_aggregate())
        if name in ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"):
            return globals()[name]
    classes = globals()["NODE_CLASS_MAPPINGS"]
    if name in classes:
        return classes[name]
    if name in HELPERS:
        return getattr(importlib.import_module(f"{__name__}.{HELPERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    if "NODE_CLASS_MAPPINGS" not in globals():
        globals().update(_aggregate())
    return sorted(set(globals()) | set(globals()["NODE_CLASS_MAPPINGS"]))
