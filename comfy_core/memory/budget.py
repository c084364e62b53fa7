"""Where free device memory figures come from: a real CUDA device, the CPU's RAM, or a virtual budget.

The manager asks one `DeviceMemory` per device how much is free; it never probes hardware itself.
A `VirtualMemory` makes any device (the CPU in tests and benches) behave like a GPU of N bytes: what is
"used" is the sum of the device bytes the manager has placed there, so eviction, partial loading and
streaming run exactly as they would on a small GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

MiB = 1024**2


def ram_available() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def ram_total() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


class DeviceMemory(Protocol):
    device: torch.device
    unlimited: bool  # eviction never helps (RAM of the CPU device): only RAM pressure unloads

    def total(self) -> int: ...

    def free(self, used_by_models: int) -> int: ...

    def stats(self, used_by_models: int) -> dict[str, Any]: ...


class RamMemory:
    """The CPU as a compute device with no virtual budget: models live in RAM; nothing to evict into."""

    unlimited = True

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def total(self) -> int:
        return ram_total()

    def free(self, used_by_models: int) -> int:
        return ram_available()

    def stats(self, used_by_models: int) -> dict[str, Any]:
        total, free = ram_total(), ram_available()
        return {
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": total,
            "vram_free": free,
            "torch_vram_total": total,
            "torch_vram_free": free,
        }


class CudaMemory:
    """A CUDA (or ROCm) device: driver free memory plus what torch's allocator holds but does not use."""

    unlimited = False

    def __init__(self, device: torch.device | str, name: str = "") -> None:
        self.device = torch.device(device)
        self.name = name or torch.cuda.get_device_name(self.device)

    def _figures(self) -> tuple[int, int, int, int]:
        free_cuda, total_cuda = torch.cuda.mem_get_info(self.device)
        stats = torch.cuda.memory_stats(self.device)
        reserved = int(stats.get("reserved_bytes.all.current", 0))
        active = int(stats.get("active_bytes.all.current", 0))
        return int(free_cuda), int(total_cuda), reserved, active

    def total(self) -> int:
        return self._figures()[1]

    def free(self, used_by_models: int) -> int:
        free_cuda, _, reserved, active = self._figures()
        return free_cuda + max(0, reserved - active)

    def stats(self, used_by_models: int) -> dict[str, Any]:
        free_cuda, total_cuda, reserved, active = self._figures()
        return {
            "name": f"{self.device} {self.name}",
            "type": self.device.type,
            "index": self.device.index,
            "vram_total": total_cuda,
            "vram_free": free_cuda,
            "torch_vram_total": reserved,
            "torch_vram_free": max(0, reserved - active),
        }


class VirtualMemory:
    """A budget of `total_bytes` on `device`: free = budget - bytes the manager placed - `transient()`.

    Over a real device (`backing`), free memory is also capped by what the device really has."""

    unlimited = False
    accounts_models = True

    def __init__(
        self,
        total_bytes: int,
        device: torch.device | str = "cpu",
        backing: DeviceMemory | None = None,
        transient: Callable[[], int] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.total_bytes = int(total_bytes)
        self.backing = backing if backing is not None and not backing.unlimited else None
        self.transient = transient or (lambda: 0)

    def total(self) -> int:
        return self.total_bytes

    def free(self, used_by_models: int) -> int:
        free = self.total_bytes - used_by_models - self.transient()
        if self.backing is not None:
            free = min(free, self.backing.free(used_by_models))
        return max(0, free)

    def stats(self, used_by_models: int) -> dict[str, Any]:
        free = self.free(used_by_models)
        return {
            "name": f"{self.device} (virtual {self.total_bytes // MiB} MB)",
            "type": self.device.type,
            "index": self.device.index,
            "vram_total": self.total_bytes,
            "vram_free": free,
            "torch_vram_total": self.total_bytes,
            "torch_vram_free": free,
        }


def device_memory(device: torch.device, virtual_bytes: int | None = None) -> DeviceMemory:
    """The memory source for the compute device: virtual when a budget is set, else the real one."""
    real: DeviceMemory = CudaMemory(device) if device.type == "cuda" else RamMemory(device)
    if virtual_bytes is not None:
        return VirtualMemory(virtual_bytes, device, backing=real)
    return real
