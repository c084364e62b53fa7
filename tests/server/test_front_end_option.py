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
