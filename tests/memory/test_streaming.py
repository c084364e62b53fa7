"""Streamed-weight copies: the copier selection (CUDA side streams only on cuda with async offload on),
the synchronous copier, pinned-memory fallback, and the copier hook in the layer ops. The CUDA path
itself runs only where a GPU is present."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from comfy_core.memory import patcher as patcher_mod
from comfy_core.memory.partial import install_streaming, remove_streaming
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.memory.streaming import (
    DEFAULT_STREAMS,
    SyncCopier,
    pin_module_tensors,
    select_copier,
    stream_count,
    use_pinned_memory,
)
from comfy_core.ops import PLAIN


class _FakeAsync:
    is_async = True

    def __init__(self, device: torch.device, n: int) -> None:
        self.device, self.n, self.calls = device, n, 0

    def cast(self, t, dtype, device):
        if t is None:
            return None
        self.calls += 1
        return t.to(device=device, dtype=dtype)


def _config(**kw) -> SimpleNamespace:
    base = dict(async_offload=None, disable_async_offload=False, disable_pinned_memory=False)
    base.update(kw)
    return SimpleNamespace(**base)


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = PLAIN.Linear(16, 32)
        self.b = PLAIN.Linear(32, 32)
        self.c = PLAIN.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


def _net() -> _Net:
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    return net


def test_sync_copier_is_the_plain_cast() -> None:
    c = SyncCopier()
    t = torch.randn(3, 4)
    assert c.is_async is False
    assert c.cast(None, torch.float32, torch.device("cpu")) is None
    assert c.cast(t, torch.float32, torch.device("cpu")) is t
    out = c.cast(t, torch.bfloat16, torch.device("cpu"))
    assert out.dtype == torch.bfloat16 and torch.equal(out, t.to(torch.bfloat16))


@pytest.mark.parametrize(
    ("device", "config", "expected"),
    [
        ("cpu", None, None),
        ("mps", None, None),
        ("cpu", _config(async_offload=2), None),
        ("cuda", None, DEFAULT_STREAMS),
        ("cuda:0", _config(), DEFAULT_STREAMS),
        ("cuda", _config(async_offload=1), 1),
        ("cuda", _config(async_offload=3), 3),
        ("cuda", _config(async_offload=0), None),
        ("cuda", _config(disable_async_offload=True), None),
        ("cuda", _config(disable_async_offload=True, async_offload=2), None),
    ],
)
def test_select_copier(device: str, config, expected: int | None) -> None:
    made: list[_FakeAsync] = []

    def factory(dev: torch.device, n: int) -> _FakeAsync:
        made.append(_FakeAsync(dev, n))
        return made[-1]

    copier = select_copier(device, config, cuda_factory=factory)
    if expected is None:
        assert isinstance(copier, SyncCopier) and made == []
    else:
        assert copier is made[0] and made[0].n == expected
        assert made[0].device == torch.device(device)


def test_stream_count_default_and_flags() -> None:
    assert stream_count(None) == DEFAULT_STREAMS
    assert stream_count(_config(async_offload=1)) == 1
    assert stream_count(_config(disable_async_offload=True)) == 0


def test_pinned_memory_choice() -> None:
    assert use_pinned_memory("cuda") is True
    assert use_pinned_memory("cuda", _config()) is True
    assert use_pinned_memory("cuda", _config(disable_pinned_memory=True)) is False
    assert use_pinned_memory("cpu") is False
    assert use_pinned_memory("mps") is False


def test_pinning_replaces_tensors_and_falls_back_silently() -> None:
    layer = PLAIN.Linear(4, 3)
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()
    w, b = layer.weight.data.clone(), layer.bias.data.clone()
    pinned: list[torch.Tensor] = []

    def fake_pin(t: torch.Tensor) -> torch.Tensor:
        pinned.append(t.clone())
        return pinned[-1]

    assert pin_module_tensors(layer, pin=fake_pin) is True
    assert len(pinned) == 2 and layer.weight.data_ptr() == pinned[0].data_ptr()
    assert layer.bias.data_ptr() == pinned[1].data_ptr()
    assert torch.equal(layer.weight, w) and torch.equal(layer.bias, b)

    def failing_pin(t: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no accelerator to pin for")

    other = PLAIN.Linear(4, 3)
    before = other.weight.data_ptr()
    assert pin_module_tensors(other, pin=failing_pin) is False
    assert other.weight.data_ptr() == before


def test_layer_ops_use_an_installed_copier_and_forget_it_on_removal() -> None:
    layer = PLAIN.Linear(4, 3)
    x = torch.randn(2, 4)
    expected = layer(x)
    copier = _FakeAsync(torch.device("cpu"), 1)
    hooks = install_streaming(layer, None, None, copier)
    assert torch.equal(layer(x), expected) and copier.calls == 2  # weight and bias
    remove_streaming(hooks)
    assert "comfy_weight_copier" not in layer.__dict__ and "comfy_cast_weights" not in layer.__dict__
    layer(x)
    assert copier.calls == 2


def test_cpu_partial_load_keeps_the_plain_cast(monkeypatch) -> None:
    monkeypatch.setattr(patcher_mod, "current_config", lambda: _config(async_offload=2))
    net = _net()
    p = ModelPatcher(net)
    p.patch_weights("cpu", budget=32 * 32 * 4 + 32 * 4)
    st = p.weight_state
    assert st.streamed and all("comfy_weight_copier" not in h.module.__dict__ for h in st.streamed)
    p.unpatch_weights()


def test_partial_load_with_an_async_copier_matches_full_load(monkeypatch) -> None:
    """The patcher wires the selected async copier into every streamed module, LoRA-style patches still
    apply on top of the copy, and unpatching removes it."""
    made: list[_FakeAsync] = []

    def fake_select(dev, config):
        made.append(_FakeAsync(torch.device(dev), 2))
        return made[-1]

    net = _net()
    x = torch.randn(5, 16)
    p = ModelPatcher(net)
    p.add_patches({"a.weight": torch.full((32, 16), 0.25)}, 0.5)
    p.patch_weights("cpu")
    full = net(x)
    p.unpatch_weights()

    monkeypatch.setattr(patcher_mod, "select_copier", fake_select)
    p.patch_weights("cpu", budget=32 * 32 * 4 + 32 * 4)  # only `b` resident
    st = p.weight_state
    assert {h.module for h in st.streamed} == {net.a, net.c}
    assert all(h.module.__dict__.get("comfy_weight_copier") is made[0] for h in st.streamed)
    assert torch.allclose(net(x), full, atol=1e-5)
    assert made[0].calls == 4
    p.unpatch_weights()
    assert all("comfy_weight_copier" not in m.__dict__ for m in (net.a, net.b, net.c))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_stream_partial_load_matches_full_load(monkeypatch) -> None:
    from comfy_core.memory.streaming import CudaStreamCopier

    monkeypatch.setattr(patcher_mod, "current_config", lambda: _config(async_offload=2))
    net = _net()
    x = torch.randn(5, 16, device="cuda")
    p = ModelPatcher(net, load_device="cuda", offload_device="cpu")
    p.add_patches({"c.weight": torch.full((8, 32), 0.1)}, 1.0)
    p.patch_weights("cuda")
    full = net(x)
    p.unpatch_weights("cpu")

    p.patch_weights("cuda", budget=32 * 32 * 4 + 32 * 4)
    st = p.weight_state
    assert st.streamed
    for hooks in st.streamed:
        assert isinstance(hooks.module.__dict__.get("comfy_weight_copier"), CudaStreamCopier)
        assert hooks.module.weight.device.type == "cpu" and hooks.module.weight.is_pinned()
    for _ in range(3):  # repeated forwards reuse the side streams
        out = net(x)
    torch.cuda.synchronize()
    assert torch.allclose(out, full, atol=1e-5)
    p.unpatch_weights("cpu")
