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
    assert p.add_patches({"lin.weight": delta, "missing.key": delta}, strength_patch=0.25, strength_model=2.0) == [
        "lin.weight"
    ]
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
