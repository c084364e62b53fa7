"""ComfyUI module names resolve to comfy_core.compat modules (one module object under both names)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from comfy_core.compat import PRELOADED, alias_target, aliases_installed, install_aliases


def test_install_is_idempotent_and_names_share_modules() -> None:
    install_aliases()
    install_aliases()
    assert aliases_installed()
    assert sum(type(f).__name__ == "AliasFinder" for f in sys.meta_path) == 1
    for name in PRELOADED:
        module = sys.modules[name]
        assert module is importlib.import_module(alias_target(name))
        assert module.__spec__.name == alias_target(name)


def test_parent_packages_expose_submodules() -> None:
    install_aliases()
    import comfy
    import comfy_execution

    assert comfy.utils.ProgressBar.__name__ == "ProgressBar"
    assert comfy.model_management.InterruptProcessingException.__module__ == "comfy_core.progress"
    assert comfy_execution.graph_utils.GraphBuilder.__module__ == "comfy_core.graph.builder"


def test_unknown_submodule_is_not_found() -> None:
    install_aliases()
    try:
        import comfy.no_such_module  # noqa: F401
    except ModuleNotFoundError as exc:
        assert exc.name == "comfy.no_such_module"
    else:
        raise AssertionError("import should fail")


def test_aliases_and_public_api_import_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from comfy_core.compat import install_aliases; install_aliases()\n"
        "import folder_paths, server, comfy.utils, comfy.model_management\n"
        "from comfy_api.latest import io, ui, ComfyExtension\n"
        "from comfy_api.v0_0_1 import ComfyAPI as A1\n"
        "from comfy_api.v0_0_2 import ComfyAPI as A2, ComfyAPISync\n"
        "from comfy_api.latest._io import ComfyNode\n"
        "from comfy.comfy_types.node_typing import IO, ComfyNodeABC\n"
        "from comfy_execution.graph import ExecutionBlocker, DynamicPrompt\n"
        "print(A1.VERSION, A2.VERSION, A2.STABLE, ComfyNode is io.ComfyNode)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0.0.1", "0.0.2", "True", "True"]
