"""Prompts through the real executor and built-in nodes on the reduced SD1 checkpoint, with a memory
manager installed: two checkpoint names (A and B, distinct files), two LoRA files, a disk-load counter."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.events import RecordingSink
from comfy_core.graph.validation import validate_prompt
from comfy_core.io.checkpoint import save_safetensors
from comfy_core.memory.budget import RamMemory, VirtualMemory
from comfy_core.memory.manager import MemoryManager
from comfy_core.paths import Paths
from comfy_core.registry.discovery import load_builtin_nodes
from comfy_core.registry.registry import NodeRegistry
from execution import CacheConfig, PromptExecutor
from tests.fixtures.sd_env import CKPT, make_base

CKPT_B = "tiny_sd15_b.safetensors"
LORAS = ("style_a.safetensors", "style_b.safetensors")


def build_base(tmp: Path) -> Path:
    """Base dir with checkpoint A (the shared file), checkpoint B (a copy) and two kohya LoRA files."""
    from comfy_core.patching.models import clip_key_map_of, model_key_map
    from nodes.loaders import CheckpointLoaderSimple
    from tests.patching.lora_files import kohya_from_manifest

    base = make_base(tmp, with_taesd=False)
    ckpts = base / "models" / "checkpoints"
    shutil.copyfile((ckpts / CKPT).resolve(), ckpts / CKPT_B)
    runtime.install(runtime.Services(paths=Paths(str(base)), config=Config(cpu=True)))
    try:
        model, clip, _ = CheckpointLoaderSimple().load_checkpoint(CKPT)
    finally:
        runtime.uninstall()
    key_map = {**model_key_map(model), **clip_key_map_of(clip)}
    weights = {**model.model.state_dict(), **clip.get_sd()}
    folder = base / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(LORAS):
        lora = kohya_from_manifest("lora_sd15_kohya_rank8", key_map, weights, seed=seed + 3)
        save_safetensors(lora, folder / name)
    return base


class Runner:
    """An executor over the built-in nodes with `manager` installed as services.memory."""

    def __init__(self, base: Path, manager: MemoryManager, cache: str = "classic", lru: int = 0) -> None:
        self.registry = NodeRegistry()
        load_builtin_nodes(self.registry)
        self.sink = RecordingSink()
        self.manager = manager
        self.executor = PromptExecutor(
            self.registry,
            self.sink,
            CacheConfig(mode=cache, lru_size=lru),
            on_oom=manager.on_oom,
            is_oom=manager.is_oom,
        )
        self.services = runtime.Services(
            paths=Paths(str(base)),
            registry=self.registry,
            sink=self.sink,
            executor=self.executor,
            memory=manager,
            config=Config(cpu=True),
        )
        runtime.install(self.services)

    def run(self, prompt: dict[str, Any]) -> dict[str, Any]:
        pid = str(uuid.uuid4())
        valid, error, outputs, node_errors = asyncio.run(validate_prompt(self.registry, pid, prompt, None))
        assert valid, (error, node_errors)
        self.executor.execute(prompt, pid, {"client_id": None}, outputs)
        assert self.executor.success, [e for e in self.sink.events if "error" in str(e[0])][-1:]
        return self.executor.history_result["outputs"]


def graph(ckpt: str = CKPT, lora: str | None = None, strength: float = 1.0, seed: int = 1) -> dict:
    """Checkpoint [-> LoraLoader] -> 2x CLIPTextEncode -> KSampler (2 steps, 64x64) -> VAEDecode -> Preview."""
    model, clip = ["1", 0], ["1", 1]
    g: dict[str, Any] = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}}
    if lora is not None:
        g["8"] = {
            "class_type": "LoraLoader",
            "inputs": {
                "model": model,
                "clip": clip,
                "lora_name": lora,
                "strength_model": strength,
                "strength_clip": strength,
            },
        }
        model, clip = ["8", 0], ["8", 1]
    g.update(
        {
            "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red boat", "clip": clip}},
            "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip}},
            "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "5": {
                "class_type": "KSampler",
                "inputs": {
                    "model": model,
                    "seed": seed,
                    "steps": 2,
                    "cfg": 5.0,
                    "sampler_name": "euler",
                    "scheduler": "normal",
                    "positive": ["2", 0],
                    "negative": ["3", 0],
                    "latent_image": ["4", 0],
                    "denoise": 1.0,
                },
            },
            "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
            "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
        }
    )
    return g


def count_disk_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every checkpoint file the family loader reads, in order."""
    import comfy_core.families.loader as loader

    reads: list[str] = []
    original = loader.load_state_dict_file

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(loader, "load_state_dict_file", counting)
    return reads


def virtual(budget: int | None) -> MemoryManager:
    return MemoryManager(RamMemory() if budget is None else VirtualMemory(budget))
