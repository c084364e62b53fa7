"""Building the one MemoryManager from the configuration and the device policy (called by main.py)."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from comfy_core.memory.budget import RamMemory, device_memory, ram_total
from comfy_core.memory.estimates import GiB, MiB, minimum_inference_memory
from comfy_core.memory.manager import MemoryManager

log = logging.getLogger("comfy_core.memory")
VIRTUAL_ENV = "COMFY_CORE_VIRTUAL_VRAM_MB"


def virtual_budget_mb(config: Any) -> int | None:
    """`--virtual-vram-mb N`, else $COMFY_CORE_VIRTUAL_VRAM_MB, else None."""
    value = getattr(config, "virtual_vram_mb", None)
    if value is None:
        env = os.environ.get(VIRTUAL_ENV, "").strip()
        value = int(float(env)) if env else None
    return int(value) if value is not None else None


def build_memory_manager(config: Any, policy: Any = None, virtual_mb: int | None = None) -> MemoryManager:
    """The manager for the policy's compute device (CPU when no policy). A virtual budget (argument,
    flag or environment) caps the device at N MB, on the CPU too."""
    from comfy_core.device import VRAMState

    device = policy.get_torch_device() if policy is not None else torch.device("cpu")
    virtual_mb = virtual_mb if virtual_mb is not None else virtual_budget_mb(config)
    vram_state = getattr(policy, "vram_state", VRAMState.DISABLED)
    if virtual_mb is not None:
        memory = device_memory(device, virtual_mb * MiB)
        flag = getattr(config, "reserve_vram", None)
        reserved = int(flag * GiB) if flag is not None else 0
        minimum = minimum_inference_memory(reserved, virtual=True)
    elif vram_state == VRAMState.DISABLED or device.type == "cpu":
        memory, reserved, minimum = RamMemory(device), 0, 0
    else:
        memory = device_memory(device)
        reserved = int(getattr(policy, "reserved_vram", 0))
        minimum = minimum_inference_memory(reserved)
    manager = MemoryManager(
        memory,
        minimum_inference=minimum,
        reserved=reserved,
        novram=vram_state == VRAMState.NO_VRAM,
        smart_memory=not getattr(config, "disable_smart_memory", False),
        ram_headroom=max(512 * MiB, ram_total() // 20),
    )
    stats = memory.stats(0)
    log.info(
        "memory manager: %s, %.0f MB total, %.0f MB free%s",
        stats["name"],
        stats["vram_total"] / MiB,
        stats["vram_free"] / MiB,
        f", virtual budget {virtual_mb} MB" if virtual_mb is not None else "",
    )
    return manager
