"""The composition root connects the memory manager's RAM-pressure hook to the executor's output cache:
when RAM runs short, models not in use are dropped first and then cached outputs of earlier prompts."""

from __future__ import annotations

import asyncio

import main
from comfy_core import runtime
from comfy_core.config import parse_args
from comfy_core.graph import DynamicPrompt


class _Sink:
    def send(self, *args, **kwargs) -> None:
        return None


async def _false(node_id):
    return False


def test_ram_pressure_hook_drops_earlier_prompts_outputs(tmp_path, monkeypatch) -> None:
    import comfy_core.memory.manager as mm

    config = parse_args(
        ["--cpu", "--cache-lru", "10", "--base-directory", str(tmp_path), "--disable-all-custom-nodes"]
    )
    services = main.build_services(config, lambda _s: _Sink())
    try:
        executor, memory = services.executor, services.memory
        assert memory.on_ram_pressure == executor.relieve_ram_pressure
        caches = executor.caches

        def start(value: int) -> None:
            prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": value}}}
            asyncio.run(caches.set_prompt(DynamicPrompt(prompt), ["1"], _false, lambda c: False))
            caches.outputs.set("1", f"out{value}")

        start(1)
        start(2)
        assert len(caches.outputs.cache) == 2
        memory.ram_headroom = 1
        monkeypatch.setattr(mm, "ram_available", lambda: 0)
        memory.load_models([])  # every load checks RAM first
        assert list(caches.outputs.cache.values()) == ["out2"]
    finally:
        runtime.uninstall()
