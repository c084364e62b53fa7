"""ComfyUI's module names for custom nodes: `folder_paths`, `server`, `node_helpers`, `comfy.*`, `comfy_execution.*`,
`comfy_api.*`. Quarantined: nothing in comfy-core imports these; they delegate to the running instance
(`comfy_core.runtime.current()`) and to comfy-core modules.

`install_aliases()` (main.py calls it once at start-up, before custom nodes load) puts an import hook first
on `sys.meta_path` that maps `<name>[.sub]` to `comfy_core.compat.<name>[.sub]` (the same module object under
both names), then imports the names packs use most so `import comfy; comfy.utils.X` works as in ComfyUI.
Idempotent. Torch is only imported inside functions that need it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
from typing import Any

ALIASED_TOP_LEVEL = frozenset(
    {"folder_paths", "server", "node_helpers", "comfy", "comfy_execution", "comfy_api", "latent_preview"}
)
PRELOADED = (
    "folder_paths",
    "server",
    "node_helpers",
    "comfy",
    "comfy.utils",
    "comfy.model_management",
    "comfy.cli_args",
    "comfy.comfy_types",
    "comfy.comfy_types.node_typing",
    "comfy_execution",
    "comfy_execution.graph_utils",
    "comfy_execution.graph",
    "comfy_execution.utils",
    "comfy_execution.validation",
    "comfy_api",
    "comfy_api.latest",
    "comfy_api.latest._io",
    "comfy_api.latest._ui",
    "comfy_api.v0_0_1",
    "comfy_api.v0_0_2",
)
_TARGET_PACKAGE = __name__


def alias_target(fullname: str) -> str | None:
    """`comfy.utils` -> `comfy_core.compat.comfy.utils`; None for names we do not provide."""
    if fullname.split(".", 1)[0] not in ALIASED_TOP_LEVEL:
        return None
    return f"{_TARGET_PACKAGE}.{fullname}"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target
        self.original_spec: Any = None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = importlib.import_module(self.target)
        self.original_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system stamped the alias spec onto the shared module; give it its own back.
        module.__spec__ = self.original_spec


class AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        real = alias_target(fullname)
        if real is None:
            return None
        try:
            if importlib.util.find_spec(real) is None:
                return None
        except ModuleNotFoundError:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


def install_aliases() -> None:
    """Make ComfyUI's module names importable (idempotent)."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
    for name in PRELOADED:
        importlib.import_module(name)


def aliases_installed() -> bool:
    return any(isinstance(f, AliasFinder) for f in sys.meta_path)
