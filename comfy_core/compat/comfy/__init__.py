"""ComfyUI's `comfy` package as custom nodes import it (`comfy.utils`, `comfy.model_management`, ...).

As in ComfyUI, where nodes.py has imported them all by the time packs load, `import comfy` followed by
`comfy.samplers.X` works: a submodule is imported on first attribute access.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    qualified = f"{__name__}.{name}"
    if importlib.util.find_spec(qualified) is None:
        raise AttributeError(f"module 'comfy' has no attribute {name!r}")
    return importlib.import_module(qualified)
