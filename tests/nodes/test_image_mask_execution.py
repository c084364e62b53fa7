"""The V3 image/mask nodes run through the real executor: validation, hidden values bound to a class clone,
list inputs/outputs, ui results in the history and files on disk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import nodes.image as image_nodes
import nodes.mask as mask_nodes
from comfy_core import runtime
from comfy_core.events import RecordingSink
from comfy_core.graph import validate_prompt
from comfy_core.io.metadata import read_workflow_metadata
from comfy_core.paths import Paths
from comfy_core.registry import NodeRegistry
from execution import CacheConfig, PromptExecutor

EXTRA_PNGINFO = {"workflow": {"nodes": [{"id": 1, "type": "SolidMask"}], "links": []}}

PROMPT = {
    "1": {"class_type": "SolidMask", "inputs": {"value": 0.5, "width": 4, "height": 3}},
    "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 0]}},
    "8": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 4, "height": 3}},
    "9": {"class_type": "MaskToImage", "inputs": {"mask": ["8", 0]}},
    "10": {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["9", 0]}},  # a V1 node
    "3": {"class_type": "RepeatImageBatch", "inputs": {"image": ["10", 0], "amount": 2}},
    "4": {
        "class_type": "SaveAnimatedPNG",
        "inputs": {"images": ["3", 0], "filename_prefix": "exec/anim", "fps": 5.0, "compress_level": 1},
    },
    "5": {"class_type": "MaskPreview", "inputs": {"mask": ["1", 0]}},
    "6": {"class_type": "RebatchImages", "inputs": {"images": ["3", 0], "batch_size": 2}},
    "7": {
        "class_type": "SaveAnimatedPNG",
        "inputs": {"images": ["6", 0], "filename_prefix": "exec/re", "fps": 2.0, "compress_level": 1},
    },
}


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    runtime.install(runtime.Services(paths=Paths(tmp_path), config=SimpleNamespace(disable_metadata=False)))
    yield tmp_path
    runtime.uninstall()


def _registry() -> NodeRegistry:
    registry = NodeRegistry()
    for module in (image_nodes, mask_nodes):
        for name, cls in module.NODE_CLASS_MAPPINGS.items():
            registry.register(name, cls, display_name=module.NODE_DISPLAY_NAME_MAPPINGS.get(name))
    return registry


def _frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.array(im.convert("RGB")))
        return frames


def test_mask_to_animated_png_through_executor(base: Path) -> None:
    registry = _registry()
    sink = RecordingSink()
    executor = PromptExecutor(registry, sink, CacheConfig("classic"))
    prompt = json.loads(json.dumps(PROMPT))
    valid, error, outputs, node_errors = asyncio.run(validate_prompt(registry, "p1", prompt, None))
    assert valid, (error, node_errors)
    assert sorted(outputs) == ["4", "5", "7"]

    executor.execute(prompt, "p1", {"client_id": "c", "extra_pnginfo": EXTRA_PNGINFO}, outputs)
    assert executor.success, executor.status_messages
    history = executor.history_result["outputs"]

    anim = history["4"]
    assert anim["images"] == [{"filename": "anim_00001_.png", "subfolder": "exec", "type": "output"}]
    assert list(anim["animated"]) == [True]
    path = base / "output" / "exec" / "anim_00001_.png"
    frames = _frames(path)  # grey 0.5 (255 * 0.5 truncates to 127), white, grey, white
    assert [f.shape for f in frames] == [(3, 4, 3)] * 4
    assert [int(f.min()) for f in frames] == [127, 255, 127, 255] and all(f.min() == f.max() for f in frames)
    # hidden PROMPT / EXTRA_PNGINFO reached the node through its class clone
    assert read_workflow_metadata(path) == {"prompt": PROMPT, "workflow": EXTRA_PNGINFO["workflow"]}
    with Image.open(path) as im:
        assert im.info.get("duration") == 200  # 5 fps

    (preview,) = history["5"]["images"]
    assert preview["type"] == "temp" and list(history["5"]["animated"]) == [False]
    with Image.open(base / "temp" / preview["filename"]) as im:  # the first mask only
        assert np.all(np.array(im) == 127) and im.size == (4, 3)

    # RebatchImages (input list, output list) maps the saver over two 2-frame batches. (Uneven batches would
    # fail in the ui merge, as in ComfyUI: a 1-frame save has no "animated" key.)
    saved = history["7"]["images"]
    assert [e["filename"] for e in saved] == ["re_00001_.png", "re_00002_.png"]
    for entry in saved:
        frames = _frames(base / "output" / "exec" / entry["filename"])
        assert [int(f.max()) for f in frames] == [127, 255]

    executed = {data["node"] for event, data, _ in sink.events if event == "executing" and data["node"]}
    assert executed == set(PROMPT)
