"""Output and instance caches: input signatures and the classic / LRU / RAM-pressure / none policies."""

from comfy_core.cache.cache_set import MODES, CacheSet
from comfy_core.cache.policies import BasicCache, HierarchicalCache, LRUCache, NullCache, RAMPressureCache
from comfy_core.cache.signature import KeyInterner, SignatureBuilder, Unhashable, to_hashable
from comfy_core.cache.sizes import estimate_ram_usage

__all__ = [
    "MODES",
    "BasicCache",
    "CacheSet",
    "HierarchicalCache",
    "KeyInterner",
    "LRUCache",
    "NullCache",
    "RAMPressureCache",
    "SignatureBuilder",
    "Unhashable",
    "estimate_ram_usage",
    "to_hashable",
]
