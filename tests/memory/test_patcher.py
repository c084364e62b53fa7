from __future__ import annotations

import torch

from comfy_core.memory.patcher import ModelPatcher


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.tag = "original"


def _patcher() -> ModelPatcher:
    torch.manual_seed(0)
    return ModelPatcher(_Tiny())


def test_clone_shares_weights_but_not_patches() -> None:
    base = _patcher()
    clone = base.clone()
    assert clone.model is base.model
    clone.add_patches({"lin.weight": torch.ones(3, 4)}, strength_patch=0.5)
    assert "lin.weight" in clone.patches and not base.patches
    assert clone.is_clone(base)


def test_diff_patch_applies_and_unpatch_restores_bit_for_bit() -> None:
    p = _patcher()
    before = p.model.lin.weight.detach().clone()
    delta = torch.randn(3, 4)
    assert p.add_patches(
        {"lin.weight": delta, "missing.key": delta}, strength_patch=0.25, strength_model=2.0
    ) == ["lin.weight"]
    with p.patched("cpu") as m:
        torch.testing.assert_close(m.lin.weight, before * 2.0 + 0.25 * delta)
    assert torch.equal(p.model.lin.weight, before)


def test_object_patch_is_scoped_to_use() -> None:
    p = _patcher().clone()
    p.add_object_patch("tag", "patched")
    assert p.get_model_object("tag") == "patched"
    with p.patched() as m:
        assert m.tag == "patched"
    assert p.model.tag == "original"


def test_model_options_are_copied_on_clone() -> None:
    a = _patcher()
    b = a.clone()
    b.set_model_sampler_cfg_function(lambda args: args["cond"], disable_cfg1_optimization=True)
    assert "sampler_cfg_function" not in a.model_options
    assert b.model_options["disable_cfg1_optimization"] is True


def test_comfy_patch_tuples_and_adapters() -> None:
    from comfy_core.patching import LoRAAdapter

    p = _patcher()
    w = p.model.lin.weight.detach().clone()
    d = torch.randn(3, 4)
    up, down = torch.randn(3, 2), torch.randn(2, 4)
    p.add_patches({"lin.weight": (d,)}, 0.5)
    p.add_patches({"lin.weight": ("diff", (d,))}, 0.25)
    p.add_patches({"lin.weight": LoRAAdapter(up, down, alpha=1.0)}, -1.0, strength_model=2.0)
    with p.patched("cpu") as m:
        expected = (w + 0.75 * d) * 2.0 - 0.5 * (up @ down)
        torch.testing.assert_close(m.lin.weight, expected)
    assert torch.equal(p.model.lin.weight, w)
    q = _patcher()
    q.add_patches({"lin.bias": ("set", (torch.ones(3),))}, 0.1)
    with q.patched("cpu") as m:
        assert torch.equal(m.lin.bias, torch.ones(3))  # set ignores strength


def test_weight_patch_function_matches_in_place_patching() -> None:
    from comfy_core.patching import LoRAAdapter

    p = _patcher()
    p.add_patches({"lin.weight": LoRAAdapter(torch.randn(3, 2), torch.randn(2, 4), alpha=4.0)}, 0.3)
    fn = p.weight_patch_function("lin.weight")
    assert p.weight_patch_function("lin.bias") is None
    on_the_fly = fn(p.model.lin.weight.detach())
    with p.patched("cpu") as m:
        assert torch.equal(m.lin.weight, on_the_fly)
    keyed = p.get_key_patches("lin.")
    assert set(keyed) == {"lin.weight", "lin.bias"} and len(keyed["lin.weight"]) == 2


def test_fp8_patching_rounds_stochastically_and_reproducibly() -> None:
    from comfy_core.memory.patcher import apply_weight_patches, stochastic_round

    e4 = torch.float8_e4m3fn
    w = torch.ones(20000).to(e4)
    out = apply_weight_patches(w, [(1.0, torch.full((20000,), 0.01), 1.0)], "k")
    assert out.dtype == e4
    # round-to-nearest would lose the whole +0.01; stochastic rounding keeps it on average
    assert abs(out.float().mean().item() - 1.01) < 0.002
    assert torch.equal(
        out.view(torch.uint8),
        apply_weight_patches(w, [(1.0, torch.full((20000,), 0.01), 1.0)], "k").view(torch.uint8),
    )
    x = torch.randn(5000) * 100
    r = stochastic_round(x, e4, 3).float()
    assert torch.isfinite(r).all() and r.abs().max() <= 448
    assert stochastic_round(x, torch.bfloat16).dtype == torch.bfloat16
