"""Custom-node discovery (contract section 5.2) and registration of the built-in `nodes` package.

Each entry of each custom-node directory is a candidate pack: a `*.py` file or a package directory.
Skipped: other files, `__pycache__`, dot-names, names ending `.disabled`, and with `disable_all` everything
not in `whitelist`. Packs import as `custom_nodes.<name>`; their `NODE_CLASS_MAPPINGS` (or, failing that,
`comfy_entrypoint()` -> `ComfyExtension` -> V3 classes) are registered. Built-in names are never overridden;
a later pack overrides an earlier one. A pack that raises is logged as IMPORT FAILED with its traceback,
kept in `registry.failed_imports` and skipped. Torch-free (packs may of course import torch themselves).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from comfy_core.registry.registry import NodeRegistry

log = logging.getLogger(__name__)

PACKAGE_PARENT = "custom_nodes"
EXAMPLE_WORKFLOW_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
_DEFAULT = object()


@dataclass
class PackResult:
    name: str  # directory name or file stem
    path: str
    module_name: str  # sys.modules key, `custom_nodes.<name>`
    ok: bool
    seconds: float
    nodes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class LoadReport:
    packs: list[PackResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # candidate paths not imported (disabled / whitelist)
    prestartup: dict[str, bool] = field(default_factory=dict)  # script path -> ran without error

    @property
    def loaded(self) -> list[PackResult]:
        return [p for p in self.packs if p.ok]

    @property
    def failed(self) -> dict[str, str]:
        return {p.path: p.error or "" for p in self.packs if not p.ok}


def candidate_packs(
    dirs: Iterable[str], *, disable_all: bool = False, whitelist: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """`(paths to import, paths skipped by the disable/whitelist switches)`, in directory then name order."""
    allowed = set(whitelist)
    chosen: list[str] = []
    skipped: list[str] = []
    for directory in dirs:
        root = os.path.realpath(directory)
        if not os.path.isdir(root):
            continue
        for entry in sorted(os.listdir(root)):
            path = os.path.join(root, entry)
            if entry == "__pycache__" or entry.startswith(".") or entry.endswith(".disabled"):
                continue
            if os.path.isfile(path) and not entry.endswith(".py"):
                continue
            if disable_all and entry not in allowed:
                log.info("Skipping %s due to disable_all_custom_nodes and whitelist_custom_nodes", entry)
                skipped.append(path)
                continue
            chosen.append(path)
    return chosen, skipped


def run_prestartup_scripts(
    dirs: Iterable[str], *, disable_all: bool = False, whitelist: Iterable[str] = ()
) -> dict[str, bool]:
    """Execute every package's `prestartup_script.py` (main.py calls this before importing torch)."""
    packs, _ = candidate_packs(dirs, disable_all=disable_all, whitelist=whitelist)
    results: dict[str, bool] = {}
    for pack in packs:
        script = os.path.join(pack, "prestartup_script.py")
        if not os.path.isdir(pack) or not os.path.isfile(script):
            continue
        started = time.perf_counter()
        try:
            name = f"{PACKAGE_PARENT}_prestartup.{_safe(os.path.basename(pack))}"
            spec = importlib.util.spec_from_file_location(name, script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            results[script] = True
        except Exception:
            log.error("Failed to execute startup-script: %s\n%s", script, traceback.format_exc())
            results[script] = False
        log.info("%6.1f seconds: %s (prestartup)", time.perf_counter() - started, pack)
    return results


def load_custom_nodes(
    registry: NodeRegistry,
    dirs: Iterable[str],
    *,
    disable_all: bool = False,
    whitelist: Iterable[str] = (),
    builtin_names: Iterable[str] | Any = _DEFAULT,
    run_prestartup: bool = True,
) -> LoadReport:
    """Import every custom-node pack in `dirs` into `registry`.

    `builtin_names` defaults to the names registered when the call starts (load built-ins first).
    Set `run_prestartup=False` when `run_prestartup_scripts` already ran at start-up.
    """
    coro = load_custom_nodes_async(
        registry,
        dirs,
        disable_all=disable_all,
        whitelist=whitelist,
        builtin_names=builtin_names,
        run_prestartup=run_prestartup,
    )
    return _run_coroutine(coro)


async def load_custom_nodes_async(
    registry: NodeRegistry,
    dirs: Iterable[str],
    *,
    disable_all: bool = False,
    whitelist: Iterable[str] = (),
    builtin_names: Iterable[str] | Any = _DEFAULT,
    run_prestartup: bool = True,
) -> LoadReport:
    dirs = list(dirs)
    whitelist = list(whitelist)
    protected = set(registry.classes) if builtin_names is _DEFAULT else set(builtin_names)
    report = LoadReport()
    if run_prestartup:
        report.prestartup = run_prestartup_scripts(dirs, disable_all=disable_all, whitelist=whitelist)
    packs, report.skipped = candidate_packs(dirs, disable_all=disable_all, whitelist=whitelist)
    _ensure_parent_package(dirs)
    for path in packs:
        result = await _load_pack(registry, path, protected)
        report.packs.append(result)
        if result.ok:
            registry.failed_imports.pop(path, None)
        else:
            registry.failed_imports[path] = result.error or ""
            log.warning("IMPORT FAILED: %s\n%s", path, result.error)
    if report.packs:
        lines = [
            f"{p.seconds:6.1f} seconds{'' if p.ok else ' (IMPORT FAILED)'}: {p.path}"
            for p in sorted(report.packs, key=lambda p: p.seconds)
        ]
        log.info("Import times for custom nodes:\n%s", "\n".join(lines))
    return report


def load_builtin_nodes(registry: NodeRegistry) -> list[str]:
    """Register every class exported by the built-in `nodes` package; returns the registered names."""
    nodes = importlib.import_module("nodes")
    display = getattr(nodes, "NODE_DISPLAY_NAME_MAPPINGS", {}) or {}
    names = []
    for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
        title = display.get(name)
        if title is None and getattr(cls, "_COMFY_V3", False):
            title = cls.GET_SCHEMA().display_name
        registry.register(name, cls, display_name=title, python_module="nodes")
        names.append(name)
    return names


async def _load_pack(registry: NodeRegistry, path: str, protected: set[str]) -> PackResult:
    is_dir = os.path.isdir(path)
    name = os.path.basename(path) if is_dir else os.path.splitext(os.path.basename(path))[0]
    module_name = f"{PACKAGE_PARENT}.{_safe(name)}"
    started = time.perf_counter()
    result = PackResult(name=name, path=path, module_name=module_name, ok=False, seconds=0.0)
    try:
        module = _import_pack(path, module_name, is_dir)
        module_dir = path if is_dir else os.path.dirname(path)
        registry.pack_directories[name] = os.path.abspath(module_dir)
        _record_directories(registry, name, path, module, is_dir)
        result.nodes = await _register_exports(registry, module, name, protected)
        result.ok = True
    except Exception:
        sys.modules.pop(module_name, None)
        result.error = traceback.format_exc()
    result.seconds = time.perf_counter() - started
    return result


def _import_pack(path: str, module_name: str, is_dir: bool) -> types.ModuleType:
    if is_dir:
        init = os.path.join(path, "__init__.py")
        if not os.path.isfile(init):
            raise ImportError(f"{path} has no __init__.py")
        spec = importlib.util.spec_from_file_location(module_name, init, submodule_search_locations=[path])
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    parent = sys.modules.get(PACKAGE_PARENT)
    if parent is not None:
        setattr(parent, module_name.rsplit(".", 1)[1], module)
    return module


async def _register_exports(
    registry: NodeRegistry, module: types.ModuleType, name: str, protected: set[str]
) -> list[str]:
    python_module = f"{PACKAGE_PARENT}.{name}"
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if mappings is not None:
        titles = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
        return [
            node_name
            for node_name, cls in mappings.items()
            if _register_one(registry, node_name, cls, titles.get(node_name), python_module, protected)
        ]
    entrypoint = getattr(module, "comfy_entrypoint", None)
    if entrypoint is None:
        raise ImportError(f"{name} defines neither NODE_CLASS_MAPPINGS nor comfy_entrypoint")
    if not callable(entrypoint):
        raise TypeError(f"comfy_entrypoint in {name} is not callable")
    extension = entrypoint()
    if inspect.isawaitable(extension):
        extension = await extension
    from comfy_core.registry.v3.api import ComfyExtension

    if not isinstance(extension, ComfyExtension):
        raise TypeError(f"comfy_entrypoint in {name} did not return a ComfyExtension")
    await extension.on_load()
    node_list = await extension.get_node_list()
    if not isinstance(node_list, list):
        raise TypeError(f"comfy_entrypoint in {name} did not return a list of nodes")
    registered = []
    for cls in node_list:
        schema = cls.GET_SCHEMA()
        if _register_one(registry, schema.node_id, cls, schema.display_name, python_module, protected):
            registered.append(schema.node_id)
    return registered


def _register_one(
    registry: NodeRegistry,
    node_name: str,
    cls: type,
    title: str | None,
    python_module: str,
    protected: set[str],
) -> bool:
    if node_name in protected:
        log.warning(
            "Custom node %s from %s cannot override a built-in node; ignored", node_name, python_module
        )
        return False
    cls.RELATIVE_PYTHON_MODULE = python_module
    registry.register(node_name, cls, display_name=title, python_module=python_module)
    return True


def _record_directories(
    registry: NodeRegistry, name: str, path: str, module: types.ModuleType, is_dir: bool
) -> None:
    module_dir = path if is_dir else os.path.dirname(path)
    if is_dir:
        project = _pyproject_web(path)
        if project is not None:
            registry.web_directories[project[0]] = project[1]
    web = getattr(module, "WEB_DIRECTORY", None)
    if web is not None:
        web_dir = os.path.abspath(os.path.join(module_dir, web))
        if os.path.isdir(web_dir):
            registry.web_directories[name] = web_dir
    if not is_dir:
        return
    locales = os.path.join(path, "locales")
    if os.path.isdir(locales):
        registry.locales_directories[name] = os.path.abspath(locales)
    for folder in EXAMPLE_WORKFLOW_FOLDERS:
        candidate = os.path.join(path, folder)
        if os.path.isdir(candidate):
            registry.example_workflow_directories[name] = os.path.abspath(candidate)
            break
    subgraphs = os.path.join(path, "subgraphs")
    if os.path.isdir(subgraphs):
        registry.subgraph_directories[name] = os.path.abspath(subgraphs)


def _pyproject_web(pack_dir: str) -> tuple[str, str] | None:
    """`(project name, absolute web dir)` from `pyproject.toml` `[tool.comfy] web = "<dir>"`."""
    pyproject = os.path.join(pack_dir, "pyproject.toml")
    if not os.path.isfile(pyproject):
        return None
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        log.warning("Cannot read %s: tomllib needs Python 3.11", pyproject)
        return None
    try:
        with open(pyproject, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.warning("Unable to parse %s: %s", pyproject, exc)
        return None
    web = data.get("tool", {}).get("comfy", {}).get("web")
    project = data.get("project", {}).get("name")
    if not web or not project:
        return None
    web_dir = os.path.abspath(os.path.join(pack_dir, web))
    return (project, web_dir) if os.path.isdir(web_dir) else None


def _ensure_parent_package(dirs: list[str]) -> None:
    """Packs import as `custom_nodes.<name>`: make sure the parent package exists."""
    roots = [os.path.realpath(d) for d in dirs if os.path.isdir(d)]
    existing = sys.modules.get(PACKAGE_PARENT)
    if existing is not None:
        search = getattr(existing, "__path__", None)
        if isinstance(search, list):
            search.extend(r for r in roots if r not in search)
        return
    parent = types.ModuleType(PACKAGE_PARENT)
    parent.__path__ = roots
    parent.__package__ = PACKAGE_PARENT
    sys.modules[PACKAGE_PARENT] = parent


def _safe(name: str) -> str:
    return name.replace(".", "_x_")


def _run_coroutine(coro: Any) -> Any:
    """Run `coro` to completion from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker, name="custom-node-loader")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
