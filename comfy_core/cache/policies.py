"""Cache policies (contract 4.5): classic, LRU over prompts, RAM pressure, none.

A cache maps node ids of the current prompt to stored values through a key set built per prompt
(input signatures for outputs, (id, class) for node instances). Expansion fragments live in
subcaches keyed by their parent's (id, class) (classic) or in the flat LRU table.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from comfy_core.cache.signature import KeySet
from comfy_core.cache.sizes import estimate_ram_usage
from comfy_core.graph.prompt import DynamicPrompt

KeySetFactory = Callable[[DynamicPrompt], KeySet]

RAM_CACHE_HYSTERESIS = 1.1
RAM_CACHE_OLD_WORKFLOW_MULTIPLIER = 1.3


class BasicCache:
    def __init__(self, key_set_factory: KeySetFactory) -> None:
        self.key_set_factory = key_set_factory
        self.initialized = False
        self.dynprompt: DynamicPrompt | None = None
        self.key_set: KeySet | None = None
        self.cache: dict[Any, Any] = {}
        self.subcaches: dict[tuple[str, str], BasicCache] = {}

    async def set_prompt(self, dynprompt: DynamicPrompt, node_ids: Iterable[str]) -> None:
        self.dynprompt = dynprompt
        self.key_set = self.key_set_factory(dynprompt)
        await self.key_set.add_keys(node_ids)
        self.initialized = True

    def all_node_ids(self) -> set[str]:
        assert self.key_set is not None
        ids = self.key_set.all_node_ids()
        for sub in self.subcaches.values():
            ids |= sub.all_node_ids()
        return ids

    def _clean_cache(self) -> None:
        keep = set(self.key_set.get_used_keys())
        for key in [k for k in self.cache if k not in keep]:
            del self.cache[key]

    def _clean_subcaches(self) -> None:
        keep = set(self.key_set.get_used_subcache_keys())
        for key in [k for k in self.subcaches if k not in keep]:
            del self.subcaches[key]

    def clean_unused(self) -> None:
        assert self.initialized
        self._clean_cache()
        self._clean_subcaches()

    def poll(self, **kwargs: Any) -> None:
        return None

    def relieve_pressure(self) -> int:
        """Drop what the running prompt does not need (RAM is short); returns the number of entries
        dropped. A plain cache holds only the current prompt's entries, so there is nothing to give."""
        return 0

    def _get_immediate(self, node_id: str) -> Any:
        if not self.initialized:
            return None
        key = self.key_set.get_data_key(node_id)
        return self.cache.get(key) if key is not None else None

    def _set_immediate(self, node_id: str, value: Any) -> None:
        assert self.initialized
        self.cache[self.key_set.get_data_key(node_id)] = value

    async def _ensure_subcache(self, node_id: str, children_ids: Iterable[str]) -> BasicCache:
        key = self.key_set.get_subcache_key(node_id)
        sub = self.subcaches.get(key)
        if sub is None:
            sub = self.subcaches[key] = BasicCache(self.key_set_factory)
        await sub.set_prompt(self.dynprompt, children_ids)
        return sub

    def _get_subcache(self, node_id: str) -> BasicCache | None:
        key = self.key_set.get_subcache_key(node_id)
        return self.subcaches.get(key) if key is not None else None


class HierarchicalCache(BasicCache):
    """Classic policy: only entries usable by the current prompt survive `clean_unused`."""

    def _get_cache_for(self, node_id: str) -> BasicCache | None:
        parent = self.dynprompt.get_parent_node_id(node_id)
        if parent is None:
            return self
        chain = []
        while parent is not None:
            chain.append(parent)
            parent = self.dynprompt.get_parent_node_id(parent)
        cache: BasicCache | None = self
        for parent in reversed(chain):
            cache = cache._get_subcache(parent)
            if cache is None:
                return None
        return cache

    def get(self, node_id: str) -> Any:
        if not self.initialized:
            return None
        cache = self._get_cache_for(node_id)
        return cache._get_immediate(node_id) if cache is not None else None

    peek = get

    def set(self, node_id: str, value: Any) -> None:
        cache = self._get_cache_for(node_id)
        assert cache is not None
        cache._set_immediate(node_id, value)

    async def ensure_subcache_for(self, node_id: str, children_ids: Iterable[str]) -> BasicCache:
        cache = self._get_cache_for(node_id)
        assert cache is not None
        return await cache._ensure_subcache(node_id, children_ids)


class LRUCache(BasicCache):
    """Keeps entries of recent prompts: while over `max_size`, drop entries of the oldest generations."""

    def __init__(self, key_set_factory: KeySetFactory, max_size: int = 100) -> None:
        super().__init__(key_set_factory)
        self.max_size = max_size
        self.min_generation = 0
        self.generation = 0
        self.used_generation: dict[Any, int] = {}
        self.children: dict[Any, list] = {}

    async def set_prompt(self, dynprompt: DynamicPrompt, node_ids: Iterable[str]) -> None:
        node_ids = list(node_ids)
        await super().set_prompt(dynprompt, node_ids)
        self.generation += 1
        for node_id in node_ids:
            self._mark_used(node_id)

    def clean_unused(self) -> None:
        while len(self.cache) > self.max_size and self.min_generation < self.generation:
            self.min_generation += 1
            for key in [k for k in self.cache if self.used_generation.get(k, 0) < self.min_generation]:
                del self.cache[key]
                self.used_generation.pop(key, None)
                self.children.pop(key, None)
        self._clean_subcaches()

    def relieve_pressure(self) -> int:
        """Keep only the entries the current prompt has used or will use (earlier prompts' go)."""
        stale = [k for k in self.cache if self.used_generation.get(k, 0) < self.generation]
        for key in stale:
            del self.cache[key]
            self.used_generation.pop(key, None)
            self.children.pop(key, None)
        return len(stale)

    def _mark_used(self, node_id: str) -> None:
        key = self.key_set.get_data_key(node_id)
        if key is not None:
            self.used_generation[key] = self.generation

    def get(self, node_id: str) -> Any:
        if not self.initialized:
            return None
        self._mark_used(node_id)
        return self._get_immediate(node_id)

    def peek(self, node_id: str) -> Any:
        return self._get_immediate(node_id)

    def set(self, node_id: str, value: Any) -> None:
        self._mark_used(node_id)
        self._set_immediate(node_id, value)

    async def ensure_subcache_for(self, node_id: str, children_ids: Iterable[str]) -> BasicCache:
        children_ids = list(children_ids)
        await super()._ensure_subcache(node_id, children_ids)  # tracks which fragments are live
        await self.key_set.add_keys(children_ids)
        self._mark_used(node_id)
        key = self.key_set.get_data_key(node_id)
        self.children[key] = []
        for child in children_ids:
            self._mark_used(child)
            self.children[key].append(self.key_set.get_data_key(child))
        return self


class RAMPressureCache(LRUCache):
    """Keeps everything; when available RAM drops below the headroom, evicts by age x size."""

    def __init__(self, key_set_factory: KeySetFactory, available_gb: Callable[[], float] | None = None) -> None:
        super().__init__(key_set_factory, max_size=0)
        self.timestamps: dict[Any, float] = {}
        self._available_gb = available_gb or (lambda: psutil.virtual_memory().available / (1024**3))

    def clean_unused(self) -> None:
        self._clean_subcaches()

    def relieve_pressure(self) -> int:
        dropped = super().relieve_pressure()
        for key in [k for k in self.timestamps if k not in self.cache]:
            del self.timestamps[key]
        return dropped

    def set(self, node_id: str, value: Any) -> None:
        self.timestamps[self.key_set.get_data_key(node_id)] = time.time()
        super().set(node_id, value)

    def get(self, node_id: str) -> Any:
        if self.initialized:
            self.timestamps[self.key_set.get_data_key(node_id)] = time.time()
        return super().get(node_id)

    def poll(self, ram_headroom: float = 0.0, **kwargs: Any) -> None:
        if self._available_gb() > ram_headroom:
            return
        gc.collect()
        if self._available_gb() > ram_headroom:
            return
        ranked: list[tuple[float, float, int, Any]] = []
        for n, (key, entry) in enumerate(self.cache.items()):
            age = self.generation - self.used_generation.get(key, self.generation)
            score = RAM_CACHE_OLD_WORKFLOW_MULTIPLIER**age * estimate_ram_usage(getattr(entry, "outputs", entry))
            bisect.insort(ranked, (score, self.timestamps.get(key, 0.0), n, key))
        while self._available_gb() < ram_headroom * RAM_CACHE_HYSTERESIS and ranked:
            key = ranked.pop()[3]
            del self.cache[key]
            gc.collect()


class NullCache:
    """--cache-none: stores nothing."""

    def relieve_pressure(self) -> int:
        return 0

    initialized = True

    async def set_prompt(self, dynprompt: DynamicPrompt, node_ids: Iterable[str]) -> None:
        return None

    def all_node_ids(self) -> set[str]:
        return set()

    def clean_unused(self) -> None:
        return None

    def poll(self, **kwargs: Any) -> None:
        return None

    def get(self, node_id: str) -> Any:
        return None

    peek = get

    def set(self, node_id: str, value: Any) -> None:
        return None

    async def ensure_subcache_for(self, node_id: str, children_ids: Iterable[str]) -> NullCache:
        return self

