"""Cache policies: classic pruning, LRU generations, RAM pressure eviction, none; subcaches."""

from __future__ import annotations

import asyncio

import pytest

from comfy_core.cache import CacheSet, estimate_ram_usage
from comfy_core.cache.policies import RAMPressureCache
from comfy_core.cache.signature import KeyInterner, SignatureBuilder, SignatureKeySet
from comfy_core.graph import DynamicPrompt


def prompt_with(value):
    return {
        "1": {"class_type": "Src", "inputs": {"value": value}},
        "2": {"class_type": "Out", "inputs": {"x": ["1", 0]}},
    }


async def _false(node_id):
    return False


def start(caches: CacheSet, prompt: dict) -> DynamicPrompt:
    dp = DynamicPrompt(prompt)
    asyncio.run(caches.set_prompt(dp, list(prompt), _false, lambda c: False))
    return dp


def test_classic_keeps_only_current_prompt_entries():
    caches = CacheSet("classic")
    start(caches, prompt_with(1))
    caches.outputs.set("1", "one")
    caches.outputs.set("2", "two")
    start(caches, prompt_with(1))
    assert caches.outputs.get("1") == "one" and caches.outputs.get("2") == "two"
    start(caches, prompt_with(2))
    assert caches.outputs.get("1") is None and len(caches.outputs.cache) == 0
    start(caches, prompt_with(1))
    assert caches.outputs.get("1") is None  # classic forgot it


def test_lru_keeps_recent_generations():
    caches = CacheSet("lru", lru_size=2)
    start(caches, prompt_with(1))
    caches.outputs.set("1", "a1")
    caches.outputs.set("2", "a2")
    start(caches, prompt_with(2))
    caches.outputs.set("1", "b1")
    caches.outputs.set("2", "b2")
    start(caches, prompt_with(1))  # 4 entries > 2: the oldest generation goes ... unless reused now
    assert caches.outputs.get("1") == "a1"
    start(caches, prompt_with(3))
    assert len(caches.outputs.cache) <= 2
    assert CacheSet("lru", lru_size=0).mode == "classic"


def test_none_caches_nothing():
    caches = CacheSet("none")
    start(caches, prompt_with(1))
    caches.outputs.set("1", "x")
    caches.objects.set("1", object())
    assert caches.outputs.get("1") is None and caches.objects.get("1") is None


def test_object_cache_by_id_and_class():
    caches = CacheSet("classic")
    start(caches, prompt_with(1))
    obj = object()
    caches.objects.set("1", obj)
    start(caches, prompt_with(2))
    assert caches.objects.get("1") is obj  # same (id, class): instance reused
    p = prompt_with(2)
    p["1"]["class_type"] = "Other"
    start(caches, p)
    assert caches.objects.get("1") is None


def test_fragment_subcache():
    caches = CacheSet("classic")
    dp = start(caches, prompt_with(1))
    dp.add_ephemeral_node("2.0.0.1", {"class_type": "Src", "inputs": {"value": 7}}, "2", "2")
    asyncio.run(caches.add_fragment("2", {"2.0.0.1"}))
    caches.outputs.set("2.0.0.1", "frag")
    assert caches.outputs.get("2.0.0.1") == "frag"
    assert "2.0.0.1" in caches.outputs.all_node_ids()


class FakeTensor:
    def __init__(self, nbytes):
        self.device = type("D", (), {"type": "cpu"})()
        self._n = nbytes

    def numel(self):
        return self._n

    def element_size(self):
        return 1


class Reporting:
    def get_ram_usage(self):
        return 1000


def test_ram_estimate_is_duck_typed():
    assert estimate_ram_usage([[FakeTensor(100)], Reporting(), None]) == pytest.approx(0.1 + 50 + 1000)


def test_ram_pressure_evicts_largest_oldest_until_headroom():
    interner = KeyInterner()
    dp = DynamicPrompt({str(i): {"class_type": "S", "inputs": {"v": i}} for i in range(3)})
    builder = SignatureBuilder(dp, interner, _false, lambda c: False)
    cache = RAMPressureCache(lambda d: SignatureKeySet(d, builder), available_gb=lambda: 1.0)
    asyncio.run(cache.set_prompt(dp, list(dp.original_prompt)))
    sizes = {"0": 10, "1": 1000, "2": 100}
    for node_id, size in sizes.items():
        cache.set(node_id, type("E", (), {"outputs": [[FakeTensor(size)]]})())
    cache.poll(ram_headroom=0.5)  # plenty of RAM: nothing happens
    assert len(cache.cache) == 3
    # RAM is short until one entry goes: the largest (same age) is evicted first
    cache._available_gb = lambda: 1.0 if len(cache.cache) < 3 else 0.1
    cache.poll(ram_headroom=0.5)
    assert cache.get("1") is None and cache.get("0") is not None and cache.get("2") is not None


@pytest.mark.parametrize("mode", ["lru", "ram"])
def test_relieve_pressure_drops_earlier_prompts_but_keeps_the_running_one(mode):
    caches = CacheSet(mode, lru_size=100)
    start(caches, prompt_with(1))
    caches.outputs.set("1", "a1")
    caches.outputs.set("2", "a2")
    start(caches, prompt_with(2))
    caches.outputs.set("1", "b1")
    assert len(caches.outputs.cache) == 3
    assert caches.relieve_pressure() == 2
    assert caches.outputs.get("1") == "b1"
    start(caches, prompt_with(1))
    assert caches.outputs.get("1") is None  # prompt 1's entries went under pressure


def test_relieve_pressure_is_a_no_op_for_classic_and_none():
    for mode in ("classic", "none"):
        caches = CacheSet(mode)
        start(caches, prompt_with(1))
        caches.outputs.set("1", "a1")
        assert caches.relieve_pressure() == 0
