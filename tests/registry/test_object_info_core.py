"""Yardstick for built-in nodes: our `/object_info` record of every built-in node that stock ComfyUI v0.8.0
also has must equal the reference record, key order included, once the prose the reference leaves out
(`tooltip`, `description`, `output_tooltips`) is removed from ours.

File combos list the reference machine's files (`LoadImage` inputs, `CheckpointLoader` configs): the test
creates files with those names in a private base directory so the lists can match.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nodes
from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.paths import Paths
from comfy_core.registry import NodeRegistry
from comfy_core.registry.discovery import load_builtin_nodes

_NAME = "comfy-object-info-core.json"
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "tests" / "fixtures" / _NAME,
    Path(__file__).resolve().parents[3] / "shared" / "docs" / _NAME,
    Path("/work/shared/docs") / _NAME,
)
REFERENCE_PATH = next((p for p in _CANDIDATES if p.exists()), None)
REFERENCE: dict[str, Any] = json.loads(REFERENCE_PATH.read_text()) if REFERENCE_PATH else {}
PROSE_KEYS = ("description", "output_tooltips")
# (node, input) -> the folder whose files the reference listed
FILE_COMBOS = {("LoadImage", "image"): "input", ("CheckpointLoader", "config_name"): "configs"}
SHARED = sorted(name for name in nodes.NODE_CLASS_MAPPINGS if name in REFERENCE)


def strip_prose(info: dict[str, Any]) -> dict[str, Any]:
    """JSON form of a record without the prose fields the reference file omits."""
    out = json.loads(json.dumps(info))
    for key in PROSE_KEYS:
        out.pop(key, None)
    out["input"] = _without_tooltips(out.get("input"))
    return out


def _without_tooltips(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_tooltips(v) for k, v in value.items() if k != "tooltip"}
    if isinstance(value, list):
        return [_without_tooltips(v) for v in value]
    return value


def diff_text(expected: Any, actual: Any) -> str:
    """A unified diff of the two records as indented JSON (key order preserved)."""
    a = json.dumps(expected, indent=1).splitlines()
    b = json.dumps(actual, indent=1).splitlines()
    lines = list(difflib.unified_diff(a, b, "ComfyUI v0.8.0", "comfy-core", lineterm="", n=2))
    if not lines and list(expected) != list(actual):
        lines = [f"key order differs: expected {list(expected)}, got {list(actual)}"]
    return "\n".join(lines[:200])


def _seed_reference_files(paths: Paths) -> None:
    for (node, name), folder in FILE_COMBOS.items():
        spec = REFERENCE.get(node, {}).get("input", {}).get("required", {}).get(name)
        if not spec:
            continue
        options = spec[0] if isinstance(spec[0], list) else spec[1].get("options", [])
        root = Path(paths.get_input_directory() if folder == "input" else paths.get_folder_paths(folder)[0])
        root.mkdir(parents=True, exist_ok=True)
        for filename in options:
            (root / filename).write_bytes(b"")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRegistry]:
    paths = Paths(tmp_path_factory.mktemp("object_info_base"))
    _seed_reference_files(paths)
    runtime.install(runtime.Services(paths=paths, config=Config()))
    reg = NodeRegistry()
    load_builtin_nodes(reg)
    yield reg
    runtime.uninstall()


@pytest.mark.skipif(not REFERENCE, reason="reference object_info JSON not available")
@pytest.mark.parametrize("name", SHARED)
def test_builtin_node_matches_comfyui(registry: NodeRegistry, name: str) -> None:
    ours = strip_prose(registry.node_info(name))
    expected = REFERENCE[name]
    if json.dumps(ours) != json.dumps(expected):
        pytest.fail(
            f"/object_info of {name} differs from ComfyUI's:\n{diff_text(expected, ours)}", pytrace=False
        )


def test_reference_comparison_is_order_sensitive() -> None:
    expected = {"a": 1, "b": {"x": ["INT", {"default": 1, "min": 0}]}}
    reordered = {"a": 1, "b": {"x": ["INT", {"min": 0, "default": 1}]}}
    assert expected == reordered
    assert json.dumps(expected) != json.dumps(reordered)
    assert "-" in diff_text(expected, reordered)


def test_strip_prose_removes_only_prose() -> None:
    info = {
        "input": {
            "required": {"a": ["INT", {"default": 1, "tooltip": "x"}], "b": ["MODEL", {"tooltip": "y"}]}
        },
        "description": "d",
        "output_tooltips": ["t"],
        "name": "N",
    }
    assert strip_prose(info) == {
        "input": {"required": {"a": ["INT", {"default": 1}], "b": ["MODEL", {}]}},
        "name": "N",
    }


def test_every_builtin_record_is_json_and_named(tmp_path: Path) -> None:
    """Built-in nodes absent from the reference still produce well-formed records."""
    previous = runtime.maybe_current()
    runtime.install(runtime.Services(paths=Paths(tmp_path), config=Config()))
    try:
        reg = NodeRegistry()
        names = load_builtin_nodes(reg)
        info = reg.object_info()
    finally:
        runtime.install(previous) if previous is not None else runtime.uninstall()
    assert sorted(info) == sorted(names)
    for name, record in info.items():
        json.dumps(record)
        assert list(record)[:5] == ["input", "input_order", "output", "output_is_list", "output_name"], name
