"""MemoryManager on tiny layer-ops models under a virtual budget: residency, LRU eviction, partial
loading with streaming (same output as full loading), clone switches, /free, RAM pressure, OOM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from comfy_core.memory.budget import RamMemory, VirtualMemory
from comfy_core.memory.manager import MemoryManager
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.ops import PLAIN

KB = 1024


class Net(nn.Module):
    """Four linear layers of different sizes (float32): 64x64, 64x32, 32x32, 32x8 + biases."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a = PLAIN.Linear(64, 64)
        self.b = PLAIN.Linear(64, 32)
        self.c = PLAIN.Linear(32, 32)
        self.d = PLAIN.Linear(32, 8)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d(torch.relu(self.c(torch.relu(self.b(torch.relu(self.a(x)))))))


def net_bytes() -> int:
    return sum(p.numel() * 4 for p in Net().parameters())


def patcher(seed: int = 0) -> ModelPatcher:
    return ModelPatcher(Net(seed), load_device="cpu", offload_device="cpu")


def manager(budget: int | None) -> MemoryManager:
    memory = RamMemory() if budget is None else VirtualMemory(budget)
    return MemoryManager(memory)


def lora(p: ModelPatcher, seed: int, strength: float = 1.0) -> ModelPatcher:
    from comfy_core.patching import LoRAAdapter

    g = torch.Generator().manual_seed(seed)
    q = p.clone()
    patches = {}
    for name in ("a", "b", "c", "d"):
        w = getattr(q.model, name).weight
        patches[f"{name}.weight"] = LoRAAdapter(
            torch.randn(w.shape[0], 2, generator=g), torch.randn(2, w.shape[1], generator=g), alpha=2.0
        )
    assert len(q.add_patches(patches, strength)) == 4
    return q


X = torch.randn(3, 64, generator=torch.Generator().manual_seed(9))


def run(m: MemoryManager, p: ModelPatcher, **kw) -> torch.Tensor:  # noqa: ANN003
    with m.use([p], **kw) as (lm,), torch.no_grad():
        assert lm.module is p.model
        return p.model(X)


def test_resident_across_uses_and_lru_eviction_order() -> None:
    size = net_bytes()
    m = manager(int(size * 2.5))  # fits two of three
    a, b, c = patcher(0), patcher(1), patcher(2)
    run(m, a)
    run(m, a)
    assert m.stats.loads == 1 and m.stats.reuses == 1
    run(m, b)
    run(m, a)  # a is now most recently used
    run(m, c)  # evicts b (least recently used), not a
    names = {lm.module: lm.name for lm in m.loaded}
    # smart memory: b only loses what c needs (partially unloaded), a is untouched
    assert [e for e in m.stats.events if e[0] in ("evict", "partial_unload")] == [
        ("partial_unload", names[b.model])
    ]
    resident = {lm.module for lm in m.loaded if lm.device_bytes == size}
    assert resident == {a.model, c.model}
    assert m.used_bytes() <= m.memory.total()
    m.smart_memory = False
    run(m, b)  # without smart memory every other model is unloaded fully
    assert {lm.module for lm in m.loaded if lm.device_bytes} == {b.model}


def test_a_b_a_under_a_budget_that_fits_one() -> None:
    size = net_bytes()
    m = manager(int(size * 1.05))
    a, b = patcher(0), patcher(1)
    out_a = run(m, a)
    run(m, b)
    again = run(m, a)
    assert torch.equal(out_a, again)
    name = {lm.module: lm.name for lm in m.loaded}
    na, nb = name[a.model], name[b.model]
    assert m.stats.events == [("load", na), ("evict", na), ("load", nb), ("evict", nb), ("load", na)]
    assert m.stats.loads == 3 and m.stats.partial_loads == 0


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6])
def test_partial_loading_matches_full_loading(fraction: float) -> None:
    base = patcher(0)
    patched = lora(base, 5, 0.7)
    full = run(manager(None), patched)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    base.unpatch_weights()
    for k, v in base.model.state_dict().items():
        assert torch.equal(v, before[k]) is False or k.startswith(("a.bias", "b.bias", "c.bias", "d.bias"))
    m = manager(int(net_bytes() * fraction))
    out = run(m, patched)
    st = patched.weight_state
    assert st.budget is not None and st.streamed_bytes > 0 and m.stats.partial_loads == 1
    assert st.device_bytes <= int(net_bytes() * fraction)
    torch.testing.assert_close(out, full, rtol=0, atol=1e-6)
    # streamed weights were never modified; the resident ones come back bit for bit
    m.unload_all_models()
    unpatched = run(manager(None), base)
    clean = patcher(0)
    assert torch.equal(unpatched, run(manager(None), clean))


def test_clone_switch_repatches_shared_weights_without_reloading() -> None:
    m = manager(None)
    base = patcher(0)
    l1, l2 = lora(base, 1), lora(base, 2, -0.5)
    o1 = run(m, l1)
    o2 = run(m, l2)
    o0 = run(m, base)
    assert not torch.equal(o1, o2) and not torch.equal(o1, o0)
    assert torch.equal(run(m, l1), o1)
    assert torch.equal(o0, run(manager(None), patcher(0)))
    assert len(m.loaded) == 1  # one module, whatever clone is in place


def test_smart_partial_unload_frees_only_the_shortfall() -> None:
    size = net_bytes()
    m = manager(int(size * 1.6))
    a, b = patcher(0), patcher(1)
    run(m, a)
    freed = m.free_memory(size * 0.9)
    assert freed and m.stats.partial_unloads == 1
    lm = m.loaded[0]
    assert 0 < lm.device_bytes < size
    assert torch.equal(run(m, a, force_full_load=True), run(manager(None), patcher(0)))
    run(m, b)
    assert m.used_bytes() <= m.memory.total()


def test_unload_all_restores_weights_and_object_patches_are_scoped() -> None:
    m = manager(None)
    base = patcher(0)
    base.model.tag = "original"
    l1 = lora(base, 3)
    l1.add_object_patch("tag", "patched")
    with m.use([l1]):
        assert base.model.tag == "patched"
    assert base.model.tag == "original"
    m.unload_all_models()
    assert base.weight_state.applied is None and not base.weight_state.backup
    assert torch.equal(run(m, base), run(manager(None), patcher(0)))


def test_models_are_held_weakly() -> None:
    import gc

    m = manager(None)
    run(m, patcher(0))
    gc.collect()
    assert m.loaded_models() == []


def test_ram_pressure_unloads_and_forgets(monkeypatch: pytest.MonkeyPatch) -> None:
    import comfy_core.memory.manager as mm

    dropped = []
    m = MemoryManager(RamMemory(), ram_headroom=10 * KB, on_ram_pressure=lambda: dropped.append(1))
    a, b = lora(patcher(0), 1), patcher(1)
    run(m, a)
    run(m, b)
    monkeypatch.setattr(mm, "ram_available", lambda: 0)
    run(m, b)
    assert m.stats.ram_drops >= 1 and dropped
    assert [lm.module for lm in m.loaded] == [b.model]
    assert a.weight_state.applied is None and not a.weight_state.backup


def test_oom_inside_use_unloads_everything_and_retry_is_partial() -> None:
    m = manager(net_bytes() * 4)
    a = patcher(0)
    run(m, a)
    with pytest.raises(MemoryError), m.use([a]):
        raise MemoryError("out of memory")
    assert m.used_bytes() == 0
    m.on_oom()
    assert m.low_footprint
    out = run(m, a)
    assert m.stats.partial_loads == 1 and not m.low_footprint
    assert torch.equal(out, run(manager(None), patcher(0)))


def test_virtual_stats() -> None:
    m = manager(8 * 1024 * KB)
    p = patcher(0)
    run(m, p)
    (stats,) = m.device_stats()
    assert stats["vram_total"] == 8 * 1024 * KB
    assert stats["vram_free"] == 8 * 1024 * KB - net_bytes()
    assert "virtual 8 MB" in stats["name"]
