"""The memory manager: one instance (built by main.py) that decides which models sit on the compute
device, in which part, and which are evicted (ComfyUI's load_models_gpu / free_memory, contract §12).

* Loaded models are kept most-recently-used first and stay resident across prompts while they fit.
* Loading asks for the models' missing bytes plus the inference estimate (x1.1) plus the minimum
  headroom; least-recently-used models not needed now are unloaded (partially when that suffices) until
  that much is free.
* A model that still does not fit is loaded partially: as many modules as the budget allows, the rest
  streamed per forward (comfy_core.memory.partial).
* The manager holds models weakly: what keeps a model alive is the executor's cache; a model nobody
  holds is forgotten. Under RAM pressure, models not in use are unloaded and forgotten.
* Out of memory: `on_oom()` unloads everything and makes the next load use a lower footprint.
"""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from comfy_core.memory.budget import DeviceMemory, RamMemory, ram_available
from comfy_core.memory.estimates import MiB
from comfy_core.memory.oom import is_oom
from comfy_core.memory.patcher import ModelPatcher, restore_weights, weight_state

log = logging.getLogger("comfy_core.memory")


@dataclass
class MemoryStats:
    """Counters for tests, benches and logs."""

    loads: int = 0  # weight placements (full or partial) that did work
    partial_loads: int = 0
    reuses: int = 0  # requests served by weights already in place
    unloads: int = 0
    partial_unloads: int = 0
    ram_drops: int = 0
    oom_frees: int = 0
    events: list[tuple[str, str]] = field(default_factory=list)  # (action, model name), capped

    def note(self, action: str, name: str) -> None:
        self.events.append((action, name))
        del self.events[:-200]


def same_device(a: torch.device, b: torch.device) -> bool:
    """`cuda` and `cuda:0` are the same device when 0 is the current one."""
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" and torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index


class LoadedModel:
    """One module known to the manager; the patcher is the clone whose patches were last placed."""

    def __init__(self, patcher: ModelPatcher, device: torch.device, serial: int) -> None:
        self._module = weakref.ref(patcher.model)
        self._patcher = weakref.ref(patcher)
        self.device = device
        self.offload_device = patcher.offload_device
        self.size = patcher.model_size()
        self.name = f"{type(patcher.model).__name__}#{serial}"
        self.last_used = 0
        self.in_use = 0

    @property
    def module(self) -> torch.nn.Module | None:
        return self._module()

    @property
    def patcher(self) -> ModelPatcher | None:
        return self._patcher()

    def set_patcher(self, patcher: ModelPatcher) -> None:
        self._patcher = weakref.ref(patcher)

    @property
    def device_bytes(self) -> int:
        module = self.module
        if module is None:
            return 0
        st = weight_state(module)
        return st.device_bytes if st.device == self.device else 0

    @property
    def streamed_bytes(self) -> int:
        module = self.module
        return weight_state(module).streamed_bytes if module is not None else 0

    def unload(self) -> None:
        module = self.module
        if module is not None:
            restore_weights(module, self.offload_device)
            if self.offload_device == self.device:
                weight_state(module).device_bytes = 0


class MemoryManager:
    """Construct with the compute device's `DeviceMemory`; other devices are treated as plain RAM."""

    def __init__(
        self,
        memory: DeviceMemory,
        *,
        minimum_inference: int = 0,
        reserved: int = 0,
        novram: bool = False,
        smart_memory: bool = True,
        ram_headroom: int = 0,
        on_ram_pressure: Callable[[], None] | None = None,
    ) -> None:
        self.memory = memory
        self.device = memory.device
        self.minimum_inference = minimum_inference
        self.reserved = reserved
        self.novram = novram
        self.smart_memory = smart_memory
        self.ram_headroom = ram_headroom
        self.on_ram_pressure = on_ram_pressure
        self.loaded: list[LoadedModel] = []  # most recently used first
        self.stats = MemoryStats()
        self.low_footprint = False  # set by on_oom: the retry loads partially and decodes tiled
        self._clock = 0
        self._serial = 0

    # ---- queries ----------------------------------------------------------------------------------
    def get_torch_device(self) -> torch.device:
        return self.device

    def _memory_for(self, device: torch.device) -> DeviceMemory:
        return self.memory if same_device(device, self.device) else RamMemory(device)

    def get_total_memory(self, dev: Any = None, torch_total_too: bool = False) -> Any:
        """ComfyUI's name: the device's total (the budget when virtual)."""
        total = self._memory_for(torch.device(dev) if dev is not None else self.device).total()
        return (total, total) if torch_total_too else total

    def get_free_memory(self, dev: Any = None, torch_free_too: bool = False) -> Any:
        """ComfyUI's name: free bytes on the device (what the virtual budget has left)."""
        free = self.free_bytes(torch.device(dev) if dev is not None else None)
        return (free, free) if torch_free_too else free

    def minimum_inference_memory(self) -> int:
        return self.minimum_inference

    def soft_empty_cache(self, force: bool = False) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def used_bytes(self, device: torch.device | None = None) -> int:
        device = device or self.device
        return sum(lm.device_bytes for lm in self.loaded if lm.device == device)

    def free_bytes(self, device: torch.device | None = None) -> int:
        device = torch.device(device) if device is not None else self.device
        return self._memory_for(device).free(self.used_bytes(device))

    def device_stats(self) -> list[dict[str, Any]]:
        """Figures for /system_stats (`devices` list)."""
        return [self.memory.stats(self.used_bytes())]

    def loaded_models(self) -> list[LoadedModel]:
        self.cleanup()
        return list(self.loaded)

    def _find(self, module: torch.nn.Module) -> LoadedModel | None:
        return next((lm for lm in self.loaded if lm.module is module), None)

    def cleanup(self) -> None:
        """Forget models nobody holds any more."""
        self.loaded = [lm for lm in self.loaded if lm.module is not None]

    # ---- loading ----------------------------------------------------------------------------------
    def load_models(
        self,
        patchers: Sequence[ModelPatcher],
        memory_required: int = 0,
        minimum_memory_required: int | None = None,
        force_full_load: bool = False,
        device: torch.device | None = None,
    ) -> list[LoadedModel]:
        """Place every patcher's weights (with its patches) for inference; returns their entries."""
        self.cleanup()
        self._relieve_ram_pressure()
        self._clock += 1
        entries: list[tuple[LoadedModel, ModelPatcher]] = []
        for patcher in patchers:
            dev = torch.device(device) if device is not None else patcher.load_device
            dev = self.device if same_device(dev, self.device) else dev
            lm = self._find(patcher.model)
            if lm is None or lm.device != dev:
                if lm is not None:
                    self._unload(lm, "moved")
                    self.loaded.remove(lm)
                self._serial += 1
                lm = LoadedModel(patcher, dev, self._serial)
                self.loaded.insert(0, lm)
            lm.set_patcher(patcher)
            lm.last_used = self._clock
            entries.append((lm, patcher))
        keep = {id(lm) for lm, _ in entries}
        minimum = minimum_memory_required if minimum_memory_required is not None else memory_required
        for dev in {lm.device for lm, _ in entries}:
            mem = self._memory_for(dev)
            if mem.unlimited:
                continue
            missing = sum(
                lm.size - lm.device_bytes if p.weights_current(dev, weight_state(p.model).budget) else lm.size
                for lm, p in entries
                if lm.device == dev
            )
            headroom = max(self.minimum_inference, memory_required + self.reserved)
            if not self.smart_memory:
                self.free_memory(float("inf"), dev, keep)
            elif missing > 0:
                self.free_memory(missing * 1.1 + headroom, dev, keep)
        for lm, patcher in entries:
            self._place(lm, patcher, minimum, force_full_load)
        self.loaded.sort(key=lambda lm: -lm.last_used)
        return [lm for lm, _ in entries]

    def _budget_for(self, lm: LoadedModel, minimum_required: int, force_full_load: bool) -> int | None:
        """None: load fully; else the device bytes this model may take (the rest streams)."""
        mem = self._memory_for(lm.device)
        if mem.unlimited or force_full_load:
            return None
        if self.novram:
            return 0
        own = lm.device_bytes
        if getattr(mem, "accounts_models", False):  # free is derived from what the manager placed
            available = mem.free(self.used_bytes(lm.device) - own)
        else:
            available = mem.free(self.used_bytes(lm.device)) + own
        headroom = max(minimum_required + self.reserved, self.minimum_inference)
        budget = max(0, available - headroom)
        if self.low_footprint:
            budget = min(budget, lm.size // 2)
        return None if budget >= lm.size else budget

    def _place(self, lm: LoadedModel, patcher: ModelPatcher, minimum_required: int, force_full: bool) -> None:
        budget = self._budget_for(lm, minimum_required, force_full)
        st = weight_state(patcher.model)
        current = st.applied == patcher.patches_uuid and st.device == lm.device
        # A partially loaded model is kept as it is unless the new budget is clearly different (a re-plan
        # costs a full restore and re-patch).
        if current and st.budget is not None and budget is not None:
            if abs(budget - st.budget) < max(lm.size // 10, 1):
                budget = st.budget
        if patcher.weights_current(lm.device, budget):
            self.stats.reuses += 1
            return
        device_bytes = patcher.patch_weights(lm.device, budget)
        self.stats.loads += 1
        if budget is None:
            log.debug("memory: loaded %s fully on %s (%.1f MB)", lm.name, lm.device, device_bytes / MiB)
            self.stats.note("load", lm.name)
        else:
            self.stats.partial_loads += 1
            log.debug(
                "memory: loaded %s partially on %s: %.1f MB resident, %.1f MB streamed (budget %.1f MB)",
                lm.name,
                lm.device,
                device_bytes / MiB,
                st.streamed_bytes / MiB,
                budget / MiB,
            )
            self.stats.note("partial_load", lm.name)

    # ---- freeing ----------------------------------------------------------------------------------
    def free_memory(
        self, required: float, device: torch.device | None = None, keep: set[int] | None = None
    ) -> list[str]:
        """Unload models not in `keep` and not in use, least recently used first (models that are already
        partly streamed go before fully loaded ones), until `required` bytes are free."""
        device = device or self.device
        keep = keep or set()
        mem = self._memory_for(device)
        candidates = [
            lm
            for lm in self.loaded
            if lm.device == device and id(lm) not in keep and lm.in_use == 0 and lm.device_bytes > 0
        ]
        candidates.sort(key=lambda lm: (-lm.streamed_bytes, lm.last_used))
        freed = []
        for lm in candidates:
            free = mem.free(self.used_bytes(device))
            if free >= required:
                break
            shortfall = required - free
            patcher = lm.patcher
            if (
                self.smart_memory
                and shortfall != float("inf")
                and patcher is not None
                and patcher.weights_current(device, weight_state(patcher.model).budget)
                and lm.device_bytes > shortfall
            ):
                patcher.patch_weights(device, int(lm.device_bytes - shortfall))
                self.stats.partial_unloads += 1
                self.stats.note("partial_unload", lm.name)
                log.debug("memory: partially unloaded %s (%.1f MB freed)", lm.name, shortfall / MiB)
            else:
                self._unload(lm, "evict")
            freed.append(lm.name)
        if freed and device.type == "cuda":
            torch.cuda.empty_cache()
        return freed

    def _unload(self, lm: LoadedModel, why: str) -> None:
        had = lm.device_bytes
        lm.unload()
        self.stats.unloads += 1
        self.stats.note(why, lm.name)
        log.debug("memory: unloaded %s (%s, %.1f MB)", lm.name, why, had / MiB)

    def unload_all_models(self) -> None:
        """POST /free: every model off the device and its patches removed; nothing is forgotten."""
        self.cleanup()
        for lm in self.loaded:
            if lm.in_use == 0:
                self._unload(lm, "free")
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _relieve_ram_pressure(self) -> None:
        """Below `ram_headroom` of available RAM: unload and forget models not in use (LRU first), then
        let the owner drop cached outputs (`on_ram_pressure`)."""
        if self.ram_headroom <= 0 or ram_available() >= self.ram_headroom:
            return
        for lm in sorted(self.loaded, key=lambda lm: lm.last_used):
            if lm.in_use:
                continue
            self._unload(lm, "ram_pressure")
            self.loaded.remove(lm)
            self.stats.ram_drops += 1
            if ram_available() >= self.ram_headroom:
                break
        if self.on_ram_pressure is not None:
            self.on_ram_pressure()
        gc.collect()

    # ---- out of memory ----------------------------------------------------------------------------
    def is_oom(self, ex: BaseException) -> bool:
        return is_oom(ex)

    def on_oom(self) -> None:
        """Free everything; the next load (the retry) uses a lower footprint."""
        log.warning("memory: out of memory; unloading all models, retrying at a lower footprint")
        self.stats.oom_frees += 1
        self.unload_all_models()
        self.low_footprint = True

    # ---- the seam -----------------------------------------------------------------------------------
    @contextmanager
    def use(
        self,
        patchers: Sequence[ModelPatcher],
        device: torch.device | str | None = None,
        memory_required: int = 0,
        minimum_memory_required: int | None = None,
        force_full_load: bool = False,
    ) -> Iterator[list[LoadedModel]]:
        """Load, apply object patches for the block, release on exit (weights stay resident)."""
        dev = torch.device(device) if device is not None else None
        entries = self.load_models(patchers, memory_required, minimum_memory_required, force_full_load, dev)
        applied = []
        try:
            for lm, patcher in zip(entries, patchers, strict=True):
                lm.in_use += 1
                applied.append((lm, patcher))
                patcher.patch_objects()
            yield entries
        except BaseException as ex:
            if is_oom(ex):
                for lm, patcher in applied:
                    lm.in_use -= 1
                    patcher.unpatch_objects()
                applied = []
                self.stats.oom_frees += 1
                self.unload_all_models()
            raise
        else:
            self.low_footprint = False
        finally:
            for lm, patcher in applied:
                lm.in_use -= 1
                patcher.unpatch_objects()
