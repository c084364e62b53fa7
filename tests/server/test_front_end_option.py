from __future__ import annotations

import os

import pytest

from comfy_core.config import parse_args
from comfy_core.server.app import REPO_ROOT, find_web_root, official_frontend_root


def test_default_front_end_is_our_editor() -> None:
    assert find_web_root(parse_args([])) == os.path.join(REPO_ROOT, "web")


def test_front_end_comfyui_serves_the_official_package() -> None:
    official = official_frontend_root()
    if official is None:
        pytest.skip("comfyui-frontend-package is not installed")
    root = find_web_root(parse_args(["--front-end", "comfyui"]))
    assert root == official and os.path.isfile(os.path.join(root, "index.html"))


def test_front_end_root_wins(tmp_path) -> None:
    assert find_web_root(parse_args(["--front-end", "comfyui", "--front-end-root", str(tmp_path)])) == str(tmp_path)


def test_unknown_front_end_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--front-end", "nope"])


def test_our_editor_gets_the_default_models_workflow_on_first_visit(server) -> None:
    """`/default_workflow.json` (fetched by web/scripts/app.js when nothing is stored) is
    workflows/default.json: the embedded default model's graph, in UI format."""
    import json

    r = server.get("/default_workflow.json")
    assert r.status_code == 200, r.text
    with open(os.path.join(REPO_ROOT, "workflows", "default.json"), encoding="utf-8") as f:
        assert r.json() == json.load(f)
    loader = next(n for n in r.json()["nodes"] if n["type"] == "CheckpointLoaderSimple")
    assert loader["widgets_values"] == ["comfy-core-shapes.safetensors"]
