"""In-process executor over the built-in nodes (+ optional custom packs) and the reduced SD1 checkpoint."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from comfy_core import runtime
from comfy_core.compat import install_aliases
from comfy_core.config import Config
from comfy_core.events import RecordingSink
from comfy_core.graph import validate_prompt
from comfy_core.paths import Paths
from comfy_core.registry.discovery import load_builtin_nodes, load_custom_nodes
from comfy_core.registry.registry import NodeRegistry
from execution import CacheConfig, PromptExecutor

FIXTURE_PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "custom_nodes"


class SDRunner:
    def __init__(self, base: Path, packs: tuple[str, ...] = (), **config: Any) -> None:
        install_aliases()
        self.registry = NodeRegistry()
        load_builtin_nodes(self.registry)
        if packs:
            root = base / "custom_nodes"
            for pack in packs:
                shutil.copytree(FIXTURE_PACKS / pack, root / pack, dirs_exist_ok=True)
            load_custom_nodes(self.registry, [str(root)], run_prestartup=False)
            assert not self.registry.failed_imports, self.registry.failed_imports
        self.sink = RecordingSink()
        self.services = runtime.Services(
            paths=Paths(str(base)), registry=self.registry, sink=self.sink, config=Config(cpu=True, **config)
        )
        self.executor = PromptExecutor(self.registry, self.sink, CacheConfig("classic"))
        self.services.executor = self.executor

    def run(self, prompt: dict, extra_data: dict | None = None) -> tuple[dict, list]:
        """(history outputs, events) of one prompt; raises on validation or execution errors."""
        runtime.install(self.services)
        prompt = json.loads(json.dumps(prompt))
        prompt_id = uuid.uuid4().hex
        valid, error, outputs, node_errors = asyncio.run(
            validate_prompt(self.registry, prompt_id, prompt, None)
        )
        assert valid, (error, node_errors)
        start = len(self.sink.events)
        self.executor.execute(prompt, prompt_id, {"client_id": "c1", **(extra_data or {})}, outputs)
        events = self.sink.events[start:]
        errors = [data for event, data, _ in events if event == "execution_error"]
        assert not errors, errors
        return self.executor.history_result["outputs"], events


def txt2img_prompt(sampler: dict, seed: int = 5, steps: int = 3) -> dict:
    """Checkpoint -> two prompts -> empty 64x64 latent -> `sampler` node (class + extra inputs) -> probe."""
    node = {
        "class_type": sampler["class_type"],
        "inputs": {
            "model": ["1", 0],
            "seed": seed,
            "steps": steps,
            "cfg": 6.0,
            "positive": ["2", 0],
            "negative": ["3", 0],
            "latent_image": ["4", 0],
            **sampler.get("inputs", {}),
        },
    }
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": node,
        "6": {"class_type": "PackLatentProbe", "inputs": {"samples": ["5", 0]}},
    }
