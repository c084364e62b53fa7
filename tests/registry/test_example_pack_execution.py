"""The example pack's V1 and V3 nodes run through the real executor: progress, V3 hidden values, Autogrow
inputs, GraphBuilder expansion, ExecutionBlocker, folder_paths combos and PromptServer events."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from comfy_core.compat import install_aliases
from comfy_core.events import BinaryEvent
from comfy_core.registry import NodeRegistry
from comfy_core.registry.discovery import load_custom_nodes

execution = pytest.importorskip("execution")
validation = pytest.importorskip("comfy_core.graph.validation")

FIXTURE_PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "custom_nodes"

PROMPT = {
    "1": {"class_type": "ExampleNumber", "inputs": {"value": 3, "steps": 2}},
    "2": {"class_type": "ExampleScale", "inputs": {"value": ["1", 0], "factor": 4}},
    "3": {"class_type": "ExampleDoubleExpand", "inputs": {"value": ["2", 0], "factor": 2}},
    "4": {"class_type": "ExampleSum", "inputs": {"numbers.n0": ["3", 0], "numbers.n1": ["1", 0]}},
    "5": {"class_type": "ExampleShow", "inputs": {"number": ["4", 0]}},
    "6": {"class_type": "ExampleLabel", "inputs": {"number": ["2", 0], "prefix": "v="}},
    "7": {"class_type": "ExampleGate", "inputs": {"value": ["1", 0], "open": False}},
    "8": {"class_type": "ExampleShow", "inputs": {"number": ["7", 0]}},
    "9": {"class_type": "ExampleCheckpointList", "inputs": {"ckpt_name": "tiny.safetensors"}},
    "10": {"class_type": "ExampleShow", "inputs": {"number": ["9", 0]}},
}


@pytest.fixture
def registry(tmp_path: Path, services) -> NodeRegistry:
    install_aliases()
    checkpoints = Path(services.paths.get_folder_paths("checkpoints")[0])
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / "tiny.safetensors").write_bytes(b"")
    root = tmp_path / "custom_nodes"
    shutil.copytree(FIXTURE_PACKS / "example_pack", root / "example_pack")
    reg = NodeRegistry()
    load_custom_nodes(reg, [str(root)], run_prestartup=False)
    assert not reg.failed_imports, reg.failed_imports
    services.registry = reg
    return reg


def test_example_graph_runs(registry: NodeRegistry, services) -> None:
    valid, error, outputs, node_errors = asyncio.run(validation.validate_prompt(registry, "p1", PROMPT, None))
    assert valid, (error, node_errors)
    executor = execution.PromptExecutor(registry, services.sink, execution.CacheConfig(mode="classic"))
    services.executor = executor
    executor.execute(PROMPT, "p1", {"client_id": "c1"}, outputs)

    assert executor.success, executor.status_messages
    ui = executor.history_result["outputs"]
    assert ui["5"] == {"text": ["51"]}  # (3*4)*2*2 + 3
    assert ui["6"] == {"text": ["v=12@6"]}  # V3 hidden unique_id
    assert ui["10"] == {"text": ["1"]}  # folder_paths sees the checkpoint
    assert "8" not in ui  # blocked by ExampleGate

    events = services.sink.events
    shown = sorted(data["number"] for event, data, _ in events if event == "example_pack.shown")
    assert shown == [1, 51]
    texts = [data for event, data, _ in events if event == BinaryEvent.TEXT]
    assert ("5", "number 51") in texts
    progress = [data for event, data, _ in events if event == "progress" and data.get("node") == "1"]
    assert [(p["value"], p["max"]) for p in progress] == [(1, 2), (2, 2)]
