"""/system_stats reports the manager's device figures (virtual budget here); POST /free unloads models."""

from __future__ import annotations

import time

from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.memory.budget import VirtualMemory
from comfy_core.memory.manager import MemoryManager
from comfy_core.server.app import create_app
from tests.memory.test_manager import patcher, run
from tests.server.harness import RunningServer, build_services

MB = 1024 * 1024


def test_system_stats_and_free(tmp_path) -> None:
    config = Config()
    services = build_services(str(tmp_path), config)
    manager = MemoryManager(VirtualMemory(64 * MB))
    services.memory = manager
    runtime.install(services)
    srv = RunningServer(create_app(config, services), services).start()
    try:
        p = patcher(0)
        run(manager, p)
        used = manager.used_bytes()
        assert used == p.model_size()
        stats = srv.get("/system_stats").json()
        (device,) = stats["devices"]
        assert device["vram_total"] == 64 * MB and device["vram_free"] == 64 * MB - used
        assert "virtual 64 MB" in device["name"] and stats["system"]["ram_total"] > 0
        assert srv.post("/free", {"unload_models": True}).status_code == 200
        deadline = time.time() + 10
        while manager.used_bytes() and time.time() < deadline:
            time.sleep(0.05)
        assert manager.used_bytes() == 0 and p.weight_state.applied is None
        assert srv.get("/system_stats").json()["devices"][0]["vram_free"] == 64 * MB
    finally:
        srv.stop()
        runtime.uninstall()


def test_build_memory_manager_from_flags(monkeypatch) -> None:
    from comfy_core.config import parse_args
    from comfy_core.device import setup_devices
    from comfy_core.memory.budget import RamMemory
    from comfy_core.memory.setup import VIRTUAL_ENV, build_memory_manager

    config = parse_args(["--cpu", "--virtual-vram-mb", "300"])
    manager = build_memory_manager(config, setup_devices(config))
    assert isinstance(manager.memory, VirtualMemory) and manager.memory.total() == 300 * MB
    assert manager.device.type == "cpu" and manager.minimum_inference == 0
    monkeypatch.setenv(VIRTUAL_ENV, "128")
    config = parse_args(["--cpu", "--disable-smart-memory"])
    manager = build_memory_manager(config, setup_devices(config))
    assert manager.memory.total() == 128 * MB and not manager.smart_memory
    monkeypatch.delenv(VIRTUAL_ENV)
    manager = build_memory_manager(config, setup_devices(config))
    assert isinstance(manager.memory, RamMemory)
