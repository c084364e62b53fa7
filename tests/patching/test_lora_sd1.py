"""A kohya LoRA with the exact module names of a real SD1.5 file (UNet in diffusers names, CLIP-L), at the
reduced widths of the test checkpoint: every key applies, the patched UNet and text encoder compute what
hand-merged weights compute, and unpatching restores every weight bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch

from comfy_core.families.loader import load_checkpoint
from comfy_core.memory.loading import load_for_inference
from comfy_core.patching.models import clip_key_map_of, load_lora_for_models, model_key_map
from tests.fixtures.sd_env import CKPT, sd_files, single_thread
from tests.patching.lora_files import expected_lora_delta, kohya_from_manifest, manifest_modules

MANIFEST = "lora_sd15_kohya_rank8"


@pytest.fixture(scope="module")
def loaded():
    with single_thread():
        model, clip, _ = load_checkpoint(sd_files() / "models" / "checkpoints" / CKPT, output_vae=False)
    return model, clip


@pytest.fixture(scope="module")
def key_map(loaded) -> dict[str, str]:
    model, clip = loaded
    return {**model_key_map(model), **clip_key_map_of(clip)}


@pytest.fixture(scope="module")
def lora(loaded, key_map) -> dict[str, torch.Tensor]:
    model, clip = loaded
    weights = {**model.model.state_dict(), **clip.get_sd()}
    return kohya_from_manifest(MANIFEST, key_map, weights, seed=3)


def _unet_out(model, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 4, 8, 8, generator=g)
    ctx = torch.randn(1, 77, 48, generator=g)
    with single_thread(), load_for_inference([model], device="cpu") as (m,), torch.no_grad():
        return m.apply_model(x, torch.tensor([3.0]), c_crossattn=ctx)


def _merged(module: torch.nn.Module, lora, key_map, strength: float) -> torch.nn.Module:
    merged = copy.deepcopy(module)
    sd = merged.state_dict()
    with torch.no_grad():
        for name in manifest_modules(MANIFEST):
            w = sd.get(key_map[name])
            if w is not None:
                w += strength * expected_lora_delta(lora, name, w.shape)
    return merged


def test_real_module_names_all_apply(loaded, lora) -> None:
    model, clip = loaded
    assert len(manifest_modules(MANIFEST)) == 264
    new_model, new_clip, unmatched = load_lora_for_models(model, clip, lora, 1.0, 1.0)
    assert unmatched == []
    assert len(new_model.patches) == 192 and len(new_clip.patches) == 72
    assert not model.patches and not clip.patches  # inputs untouched
    assert new_model.model is model.model and new_clip.cond_stage_model is clip.cond_stage_model


def test_known_targets(key_map) -> None:
    assert key_map["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"] == (
        "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"
    )
    assert (
        key_map["lora_unet_up_blocks_3_attentions_2_proj_out"]
        == "diffusion_model.output_blocks.11.1.proj_out.weight"
    )
    assert key_map["lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj"] == (
        "diffusion_model.middle_block.1.transformer_blocks.0.ff.net.0.proj.weight"
    )
    assert key_map["lora_te_text_model_encoder_layers_11_mlp_fc2"] == (
        "clip_l.transformer.text_model.encoder.layers.11.mlp.fc2.weight"
    )


@pytest.mark.parametrize("strength", [0.8, -1.3])
def test_patched_unet_equals_hand_merged(loaded, lora, key_map, strength: float) -> None:
    model, clip = loaded
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    patched, _, unmatched = load_lora_for_models(model, clip, lora, strength, 0.0)
    assert unmatched == []
    out = _unet_out(patched)
    reference = model.clone()
    reference.model = _merged(model.model, lora, key_map, strength)
    expected = _unet_out(reference)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out, _unet_out(model), atol=1e-4)  # the LoRA changed something
    after = model.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit for bit


def test_patched_clip_equals_hand_merged(loaded, lora, key_map) -> None:
    model, clip = loaded
    plain = clip.encode("a photo of a cat")
    _, patched, _ = load_lora_for_models(model, clip, lora, 0.0, -0.6)
    with single_thread():
        got = patched.encode("a photo of a cat")
    reference = clip.clone()
    reference.cond_stage_model = _merged(clip.cond_stage_model, lora, key_map, -0.6)
    reference.patcher.model = reference.cond_stage_model
    torch.testing.assert_close(got, reference.encode("a photo of a cat"), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(got, plain, atol=1e-4)
    assert torch.equal(clip.encode("a photo of a cat"), plain)  # the shared encoder was restored


def test_two_loras_stack_and_strengths_add(loaded, lora, key_map) -> None:
    model, clip = loaded
    a, _, _ = load_lora_for_models(model, clip, lora, 0.5, 0.0)
    ab, _, _ = load_lora_for_models(a, clip, lora, 0.25, 0.0)
    once, _, _ = load_lora_for_models(model, clip, lora, 0.75, 0.0)
    assert len(a.patches) == 192 and all(len(v) == 2 for v in ab.patches.values())
    torch.testing.assert_close(_unet_out(ab), _unet_out(once), rtol=1e-4, atol=1e-5)


def test_zero_strength_returns_inputs(loaded, lora) -> None:
    model, clip = loaded
    m, c, unmatched = load_lora_for_models(model, clip, lora, 0.0, 0.0)
    assert m is model and c is clip and unmatched == []
