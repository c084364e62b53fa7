"""A kohya SDXL LoRA with the exact module names of a real file (UNet in original SGM names, CLIP-L as te1,
bigG as te2), at reduced widths: every key applies, to the right weight, and unpatching restores them."""

from __future__ import annotations

import pytest
import torch

from comfy_core.memory.patcher import ModelPatcher
from comfy_core.models.unet import UNetModel
from comfy_core.patching.models import load_lora_for_models
from comfy_core.text.clip import CLIP
from comfy_core.text.clip_model import ClipTextParams
from comfy_core.text.encoder import ClipTextEncoder, TextEncoderStack
from comfy_core.text.kinds import CLIP_G_SDXL, CLIP_L_SDXL, KINDS
from tests.fixtures.checkpoints import randomize_, reduced_configs
from tests.fixtures.sd_env import single_thread
from tests.patching.lora_files import expected_lora_delta, kohya_from_manifest, manifest_modules

MANIFEST = "lora_sdxl_kohya_rank8"


class Holder(torch.nn.Module):
    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.diffusion_model = unet


@pytest.fixture(scope="module")
def models():
    _, params, _, te = reduced_configs("sdxl_sd_xl_base_1.0")
    with single_thread():
        model = ModelPatcher(Holder(randomize_(UNetModel(params), 1)))
        l_params = ClipTextParams(te["clip_l"], 12, 12, 4 * te["clip_l"], vocab_size=64)
        g_params = ClipTextParams(
            te["clip_g"],
            32,
            20,
            4 * te["clip_g"],
            vocab_size=64,
            projection_dim=te["clip_g"],
            activation="gelu",
        )
        stack = TextEncoderStack(
            KINDS["sdxl"],
            {
                "l": randomize_(ClipTextEncoder(CLIP_L_SDXL, l_params), 2),
                "g": randomize_(ClipTextEncoder(CLIP_G_SDXL, g_params), 3),
            },
        )
    return model, CLIP(KINDS["sdxl"], stack, tokenizer=None)


def test_real_sdxl_module_names_apply_to_the_right_weights(models) -> None:
    model, clip = models
    from comfy_core.patching.models import clip_key_map_of, model_key_map

    key_map = {**model_key_map(model), **clip_key_map_of(clip)}
    weights = {**model.model.state_dict(), **clip.get_sd()}
    assert key_map["lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q"] == (
        "diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight"
    )
    assert key_map["lora_te2_text_model_encoder_layers_31_mlp_fc1"] == (
        "clip_g.transformer.text_model.encoder.layers.31.mlp.fc1.weight"
    )
    assert key_map["lora_te1_text_model_encoder_layers_0_self_attn_q_proj"].startswith("clip_l.")
    with single_thread():
        lora = kohya_from_manifest(MANIFEST, key_map, weights, seed=5, alpha=4.0)
        before = {k: v.clone() for k, v in weights.items()}
        new_model, new_clip, unmatched = load_lora_for_models(model, clip, lora, 0.9, -0.4)
    assert len(lora) == 2958
    assert unmatched == []
    assert len(new_model.patches) == 722 and len(new_clip.patches) == 72 + 192
    with single_thread():
        with new_model.patched("cpu") as m:
            got_unet = {k: v.clone() for k, v in m.state_dict().items()}
        with new_clip.patcher.patched("cpu"):
            got_clip = {k: v.clone() for k, v in clip.get_sd().items()}
    got = {**got_unet, **got_clip}
    wrong = []
    with single_thread():
        wrong = _wrong_modules(lora, key_map, before, got)
    assert wrong == []
    after = {**model.model.state_dict(), **clip.get_sd()}
    assert all(torch.equal(before[k], after[k]) for k in before)


def _wrong_modules(lora, key_map, before, got) -> list[str]:
    wrong = []
    for name in manifest_modules(MANIFEST):
        key = key_map[name]
        strength = 0.9 if key.startswith("diffusion_model.") else -0.4
        expected = before[key] + strength * expected_lora_delta(lora, name, before[key].shape)
        if not torch.allclose(got[key], expected, rtol=1e-5, atol=1e-6) or torch.equal(got[key], before[key]):
            wrong.append(name)
    return wrong
