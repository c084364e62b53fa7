"""The executor's caches for one cache mode: outputs (by input signature) and node instances."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from comfy_core.cache.policies import HierarchicalCache, LRUCache, NullCache, RAMPressureCache
from comfy_core.cache.signature import IdKeySet, KeyInterner, SignatureBuilder, SignatureKeySet
from comfy_core.graph.prompt import DynamicPrompt

MODES = ("classic", "lru", "ram", "none")


class CacheSet:
    def __init__(self, mode: str = "classic", lru_size: int = 0, ram_gb: float = 4.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown cache mode {mode!r}; expected one of {MODES}")
        if mode == "lru" and lru_size <= 0:
            mode = "classic"  # --cache-lru 0 means classic
        self.mode = mode
        self.ram_gb = ram_gb
        self.interner = KeyInterner()
        self._builder: SignatureBuilder | None = None

        def signatures(dp: DynamicPrompt) -> SignatureKeySet:
            assert self._builder is not None and self._builder.dynprompt is dp
            return SignatureKeySet(dp, self._builder)

        self.outputs: Any
        self.objects: Any
        if mode == "none":
            self.outputs = NullCache()
            self.objects = NullCache()
        elif mode == "lru":
            self.outputs = LRUCache(signatures, max_size=lru_size)
            self.objects = HierarchicalCache(IdKeySet)
        elif mode == "ram":
            self.outputs = RAMPressureCache(signatures)
            self.objects = HierarchicalCache(IdKeySet)
        else:
            self.outputs = HierarchicalCache(signatures)
            self.objects = HierarchicalCache(IdKeySet)
        self.all = (self.outputs, self.objects)

    async def set_prompt(
        self,
        dynprompt: DynamicPrompt,
        node_ids: Iterable[str],
        is_changed: Callable[[str], Awaitable[Any]],
        include_node_id: Callable[[str], bool],
    ) -> None:
        """Compute this prompt's keys and drop what the policy does not keep."""
        node_ids = list(node_ids)
        self._builder = SignatureBuilder(dynprompt, self.interner, is_changed, include_node_id)
        for cache in self.all:
            await cache.set_prompt(dynprompt, node_ids)
            cache.clean_unused()

    async def add_fragment(self, parent_id: str, children_ids: Iterable[str]) -> None:
        """Make room for an expansion's nodes under their parent."""
        children_ids = list(children_ids)
        for cache in self.all:
            sub = await cache.ensure_subcache_for(parent_id, children_ids)
            sub.clean_unused()

    def poll(self) -> None:
        if self.mode == "ram":
            self.outputs.poll(ram_headroom=self.ram_gb)

    def relieve_pressure(self) -> int:
        """RAM is short: drop cached outputs the running prompt does not need (node instances stay:
        they are small and custom nodes may keep state in them)."""
        return self.outputs.relieve_pressure()
