"""LoCon, LoHa, LoKr, GLoRA, DoRA, full diffs, set_weight and diffusers/PEFT-named files, built from their
documented layouts for a reduced SD1 UNet: every key applies and each patched weight equals the format's
formula computed here by hand. Unknown keys are reported by name."""

from __future__ import annotations

import logging

import pytest
import torch

from comfy_core.memory.patcher import ModelPatcher
from comfy_core.models.unet import UNetModel
from comfy_core.patching import load_lora
from comfy_core.patching.keymaps import unet_key_map
from tests.fixtures.checkpoints import randomize_, reduced_configs

P = "diffusion_model."
CONV = "lora_unet_down_blocks_1_resnets_0_conv1"  # input_blocks.4.0.in_layers.2: 3x3 conv 32 -> 64
CONV_KEY = P + "input_blocks.4.0.in_layers.2.weight"
LIN = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"  # 48 -> 64 linear
LIN_KEY = P + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"
SQUARE = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q"  # LDM name, 64 -> 64
SQUARE_KEY = P + "input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight"


class Holder(torch.nn.Module):
    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.diffusion_model = unet


@pytest.fixture(scope="module")
def unet_patcher() -> ModelPatcher:
    _, params, _, _ = reduced_configs("sd15_v1-5-pruned-emaonly")
    return ModelPatcher(Holder(randomize_(UNetModel(params), 4)))


@pytest.fixture(scope="module")
def key_map(unet_patcher) -> dict[str, str]:
    m = unet_patcher.model
    return unet_key_map(m.state_dict().keys(), m.diffusion_model.params)


def rnd(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.2


def patched_weights(patcher: ModelPatcher, lora: dict, key_map, strength: float = 1.0) -> dict:
    patches, unmatched = load_lora(lora, key_map)
    assert unmatched == []
    p = patcher.clone()
    assert sorted(p.add_patches(patches, strength)) == sorted(patches)
    before = {k: v.clone() for k, v in patcher.model.state_dict().items()}
    with p.patched("cpu") as m:
        out = {k: v.clone() for k, v in m.state_dict().items() if k in patches}
    after = patcher.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    return out


def weight(patcher: ModelPatcher, key: str) -> torch.Tensor:
    return patcher.model.state_dict()[key].clone()


def test_locon_with_and_without_tucker_mid(unet_patcher, key_map) -> None:
    lora = {
        f"{CONV}.lora_down.weight": rnd(4, 32, 3, 3, seed=1),
        f"{CONV}.lora_up.weight": rnd(64, 4, 1, 1, seed=2),
        f"{CONV}.alpha": torch.tensor(2.0),
    }
    tucker = "lora_unet_down_blocks_1_resnets_0_conv2"  # 3x3 64 -> 64
    t_key = P + "input_blocks.4.0.out_layers.3.weight"
    down, mid, up = rnd(3, 64, 1, 1, seed=3), rnd(3, 3, 3, 3, seed=4), rnd(64, 3, 1, 1, seed=5)
    lora |= {
        f"{tucker}.lora_down.weight": down,
        f"{tucker}.lora_mid.weight": mid,
        f"{tucker}.lora_up.weight": up,
    }
    got = patched_weights(unet_patcher, lora, key_map, strength=0.7)
    plain = (lora[f"{CONV}.lora_up.weight"].flatten(1) @ lora[f"{CONV}.lora_down.weight"].flatten(1)).reshape(
        64, 32, 3, 3
    )
    torch.testing.assert_close(got[CONV_KEY], weight(unet_patcher, CONV_KEY) + 0.7 * 0.5 * plain)
    # Tucker: delta[o, i, k, l] = sum_ab up[o, a] mid[a, b, k, l] down[b, i]
    core = torch.tensordot(mid, down.flatten(1), dims=([1], [0]))  # [a, k, l, i]
    full = torch.tensordot(up.flatten(1), core, dims=([1], [0])).permute(0, 3, 1, 2)
    torch.testing.assert_close(got[t_key], weight(unet_patcher, t_key) + 0.7 * full, atol=1e-5, rtol=1e-5)


def test_loha_plain_and_tucker(unet_patcher, key_map) -> None:
    w1a, w1b, w2a, w2b = rnd(64, 4, seed=1), rnd(4, 48, seed=2), rnd(64, 4, seed=3), rnd(4, 48, seed=4)
    lora = {
        f"{LIN}.hada_w1_a": w1a,
        f"{LIN}.hada_w1_b": w1b,
        f"{LIN}.hada_w2_a": w2a,
        f"{LIN}.hada_w2_b": w2b,
    }
    lora[f"{LIN}.alpha"] = torch.tensor(8.0)
    t = {i: rnd(4, 4, 3, 3, seed=10 + i) for i in (1, 2)}
    f = {
        n: rnd(4, d, seed=20 + j)
        for j, (n, d) in enumerate([("w1a", 64), ("w1b", 32), ("w2a", 64), ("w2b", 32)])
    }
    lora |= {f"{CONV}.hada_t1": t[1], f"{CONV}.hada_t2": t[2]}
    lora |= {f"{CONV}.hada_{n[:2]}_{n[2]}": v for n, v in f.items()}
    got = patched_weights(unet_patcher, lora, key_map, strength=-0.5)
    torch.testing.assert_close(
        got[LIN_KEY], weight(unet_patcher, LIN_KEY) - 0.5 * 2.0 * ((w1a @ w1b) * (w2a @ w2b))
    )

    def rebuild(core, down, up):  # [p, r, k, l] = sum_ij core[i, j, k, l] down[j, r] up[i, p]
        tmp = torch.tensordot(core, down, dims=([1], [0]))  # [i, k, l, r]
        return torch.tensordot(up, tmp, dims=([0], [0])).permute(0, 3, 1, 2)

    expected = rebuild(t[1], f["w1b"], f["w1a"]) * rebuild(t[2], f["w2b"], f["w2a"])
    torch.testing.assert_close(
        got[CONV_KEY], weight(unet_patcher, CONV_KEY) - 0.5 * expected, atol=1e-5, rtol=1e-5
    )


def test_lokr_factor_forms(unet_patcher, key_map) -> None:
    w1, w2a, w2b = rnd(8, 4, seed=1), rnd(8, 2, seed=2), rnd(2, 12, seed=3)  # kron: [64, 48]
    lora = {
        f"{LIN}.lokr_w1": w1,
        f"{LIN}.lokr_w2_a": w2a,
        f"{LIN}.lokr_w2_b": w2b,
        f"{LIN}.alpha": torch.tensor(1.0),
    }
    v1a, v1b, v2 = rnd(4, 2, seed=4), rnd(2, 8, seed=5), rnd(16, 8, seed=6)  # [64, 64]
    lora |= {f"{SQUARE}.lokr_w1_a": v1a, f"{SQUARE}.lokr_w1_b": v1b, f"{SQUARE}.lokr_w2": v2}
    c1, c2 = rnd(8, 4, seed=7), rnd(8, 8, 3, 3, seed=8)  # conv [64, 32, 3, 3], both factors whole
    lora |= {f"{CONV}.lokr_w1": c1, f"{CONV}.lokr_w2": c2, f"{CONV}.alpha": torch.tensor(5.0)}
    got = patched_weights(unet_patcher, lora, key_map)
    torch.testing.assert_close(got[LIN_KEY], weight(unet_patcher, LIN_KEY) + 0.5 * torch.kron(w1, w2a @ w2b))
    torch.testing.assert_close(got[SQUARE_KEY], weight(unet_patcher, SQUARE_KEY) + torch.kron(v1a @ v1b, v2))
    expected = torch.kron(c1[:, :, None, None], c2)  # alpha unused when no factor is decomposed
    torch.testing.assert_close(got[CONV_KEY], weight(unet_patcher, CONV_KEY) + expected)


def test_glora_dora_diff_set(unet_patcher, key_map) -> None:
    a1, a2, b1, b2 = rnd(48, 4, seed=1), rnd(4, 48, seed=2), rnd(64, 4, seed=3), rnd(4, 48, seed=4)
    lora = {f"{LIN}.a1.weight": a1, f"{LIN}.a2.weight": a2, f"{LIN}.b1.weight": b1, f"{LIN}.b2.weight": b2}
    lora[f"{LIN}.alpha"] = torch.tensor(2.0)
    down, up, scale = rnd(4, 64, seed=5), rnd(64, 4, seed=6), 1.0 + rnd(1, 64, seed=7)
    lora |= {
        f"{SQUARE}.lora_down.weight": down,
        f"{SQUARE}.lora_up.weight": up,
        f"{SQUARE}.dora_scale": scale,
    }
    diff, diff_b = rnd(64, 32, 3, 3, seed=8), rnd(64, seed=9)
    lora |= {f"{CONV}.diff": diff, f"{CONV}.diff_b": diff_b}
    setw = rnd(64, 64, seed=10)
    set_name = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_k"
    lora[f"{set_name}.set_weight"] = setw
    got = patched_weights(unet_patcher, lora, key_map, strength=0.6)
    w = weight(unet_patcher, LIN_KEY)
    torch.testing.assert_close(got[LIN_KEY], w + 0.6 * 0.5 * (w @ a1 @ a2 + b1 @ b2), atol=1e-5, rtol=1e-5)
    w = weight(unet_patcher, SQUARE_KEY)
    calc = w + up @ down
    norm = calc.norm(dim=0, keepdim=True)  # per input channel
    torch.testing.assert_close(got[SQUARE_KEY], w + 0.6 * (calc * scale / norm - w), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[CONV_KEY], weight(unet_patcher, CONV_KEY) + 0.6 * diff)
    bias = CONV_KEY.replace(".weight", ".bias")
    torch.testing.assert_close(got[bias], weight(unet_patcher, bias) + 0.6 * diff_b)
    set_key = P + "input_blocks.4.1.transformer_blocks.0.attn1.to_k.weight"
    assert torch.equal(got[set_key], setw)


@pytest.mark.parametrize(
    "module, up, down",
    [
        ("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", ".lora_B.weight", ".lora_A.weight"),
        ("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", ".lora_B.default.weight", ".lora_A.default.weight"),
        ("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_k", "_lora.up.weight", "_lora.down.weight"),
        ("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", ".lora.up.weight", ".lora.down.weight"),
        ("lycoris_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", ".lora_up.weight", ".lora_down.weight"),
        ("diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k", ".lora_B", ".lora_A"),
        ("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", ".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
    ],
)  # fmt: skip
def test_diffusers_and_peft_names(unet_patcher, key_map, module: str, up: str, down: str) -> None:
    d, u = rnd(4, 48, seed=1), rnd(64, 4, seed=2)
    got = patched_weights(unet_patcher, {module + up: u, module + down: d}, key_map)
    torch.testing.assert_close(got[LIN_KEY], weight(unet_patcher, LIN_KEY) + u @ d)  # no alpha: scale 1


def test_processor_to_out_name(key_map) -> None:
    target = P + "input_blocks.4.1.transformer_blocks.0.attn1.to_out.0.weight"
    assert key_map["unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_out"] == target
    assert key_map["unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0"] == target
    assert key_map["lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0"] == target


def test_unmatched_keys_are_reported_by_name(key_map, caplog) -> None:
    lora = {
        f"{LIN}.lora_up.weight": rnd(64, 4, seed=1),
        f"{LIN}.lora_down.weight": rnd(4, 48, seed=2),
        "lora_unet_no_such_module.lora_up.weight": rnd(4, 4, seed=3),
        "lora_unet_no_such_module.lora_down.weight": rnd(4, 4, seed=4),
        f"{SQUARE}.alpha": torch.tensor(1.0),
        "totally_unrelated": torch.zeros(1),
    }
    with caplog.at_level(logging.WARNING):
        patches, unmatched = load_lora(lora, key_map)
    assert list(patches) == [LIN_KEY]
    assert unmatched == sorted(
        [
            "lora_unet_no_such_module.lora_down.weight",
            "lora_unet_no_such_module.lora_up.weight",
            f"{SQUARE}.alpha",
            "totally_unrelated",
        ]
    )
    assert "lora key not loaded: totally_unrelated" in caplog.text
