"""The tiny SD1 checkpoint setup shared by the browser tests that really sample: a base directory whose
models/ holds tests/fixtures/sd_env.py's reduced-width checkpoint, and the default text-to-image workflow
shrunk to 64x64 and 2 steps."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from web_support import REPO

SD_NODES = ("CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage")
# One OpenMP thread: the models are tiny and two threads fighting other test processes for 2 cores are slower.
SERVER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def build_sd_base(tmp: Path) -> tuple[Path, str]:
    """A --base-directory under `tmp` with the tiny SD1 checkpoint in models/checkpoints; (base, file name)."""
    from tests.fixtures.sd_env import CKPT, make_base

    return make_base(tmp, with_taesd=False), CKPT


def default_workflow() -> dict[str, Any]:
    return json.loads((REPO / "workflows" / "default.json").read_text())


def tiny_workflow(ckpt: str, prefix: str, seed: int = 42) -> dict[str, Any]:
    """workflows/default.json (UI format, the editor's first-visit workflow) at 64x64, 2 steps, a fixed seed, on `ckpt`."""
    wf = copy.deepcopy(default_workflow())
    for node in wf["nodes"]:
        values = node.get("widgets_values")
        if node["type"] == "CheckpointLoaderSimple":
            values[0] = ckpt
        elif node["type"] == "EmptyLatentImage":
            values[0:2] = [64, 64]
        elif node["type"] == "KSampler":
            values[0:3] = [seed, "fixed", 2]
        elif node["type"] == "SaveImage":
            values[0] = prefix
    return wf
