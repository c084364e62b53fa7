"""The CLIP object: tokenize/encode API, layers, clones, weighting, embeddings, fingerprints."""

from __future__ import annotations

import logging

import pytest
import safetensors.torch
import torch

from comfy_core.text.loader import load_text_encoders

from ._helpers import TINY_G, TINY_H, TINY_L, openclip_sd, prefixed, random_hf_sd

START, END = 49406, 49407


def make(kind: str, embedding_dirs=None):
    if kind == "sd1":
        sd = prefixed(random_hf_sd(TINY_L, 100), "cond_stage_model.transformer.")
    elif kind == "sd2":
        sd = prefixed(openclip_sd(TINY_H, 101), "cond_stage_model.model.")
    elif kind == "sdxl":
        sd = prefixed(random_hf_sd(TINY_L, 102), "conditioner.embedders.0.transformer.")
        sd.update(prefixed(openclip_sd(TINY_G, 103), "conditioner.embedders.1.model."))
    else:
        sd = prefixed(openclip_sd(TINY_G, 104), "conditioner.embedders.0.model.")
    return load_text_encoders(kind, sd, embedding_dirs)


@pytest.fixture(scope="module")
def sd1():
    return make("sd1")


@pytest.fixture(scope="module")
def sdxl():
    return make("sdxl")


def test_token_dict_keys():
    assert list(make("sd2").tokenize("x")) == ["h"]
    refiner = make("sdxl_refiner")
    assert list(refiner.tokenize("x")) == ["g", "l"]
    assert refiner.tokenizer.clip_g.pad_token == 0 and refiner.tokenizer.clip_l.pad_token == END


def test_conditioning_format_and_shapes(sd1, sdxl):
    cond = sd1.encode_from_tokens_scheduled(sd1.tokenize("a photo of a cat"))
    assert len(cond) == 1 and set(cond[0][1]) == {"pooled_output"}
    assert cond[0][0].shape == (1, 77, 32) and cond[0][1]["pooled_output"].shape == (1, 32)
    assert cond[0][0].dtype == torch.float32
    tokens = sdxl.tokenize("a photo of a cat")
    assert set(tokens) == {"g", "l"}
    c, pooled = sdxl.encode_from_tokens(tokens, return_pooled=True)
    assert c.shape == (1, 77, 32 + 48) and pooled.shape == (1, 48)
    d = sdxl.encode_from_tokens(tokens, return_dict=True)
    assert torch.equal(d["cond"], c) and torch.equal(d["pooled_output"], pooled)
    extra = sdxl.encode_from_tokens_scheduled(tokens, add_dict={"width": 1024})
    assert extra[0][1]["width"] == 1024


@torch.no_grad()
def test_sdxl_is_l_penultimate_then_g_penultimate_unnormed(sdxl):
    tokens = sdxl.tokenize("a photo of a cat")
    cond, pooled = sdxl.encode_from_tokens(tokens, return_pooled=True)
    l_enc, g_enc = sdxl.cond_stage_model.clip_l, sdxl.cond_stage_model.clip_g
    ids_l = torch.tensor([[t for t, _ in tokens["l"][0]]])
    ids_g = torch.tensor([[t for t, _ in tokens["g"][0]]])
    ref_l = l_enc.transformer(ids_l, hidden_layer=-2, norm_hidden=False)
    ref_g = g_enc.transformer(ids_g, hidden_layer=-2, norm_hidden=False)
    assert torch.allclose(cond[..., :32], ref_l.hidden, atol=1e-6)
    assert torch.allclose(cond[..., 32:], ref_g.hidden, atol=1e-6)
    assert torch.allclose(pooled, ref_g.projected, atol=1e-6)
    unprojected = sdxl.encode_from_tokens(tokens, return_pooled="unprojected")[1]
    assert torch.allclose(unprojected, ref_g.pooled, atol=1e-6)


@torch.no_grad()
def test_sd1_last_layer_and_clip_layer_clone(sd1):
    tokens = sd1.tokenize("a photo of a cat")
    ids = torch.tensor([[t for t, _ in tokens["l"][0]]])
    ref = sd1.cond_stage_model.clip_l.transformer(ids, hidden_layer=-2, norm_hidden=True)
    base, pooled = sd1.encode_from_tokens(tokens, return_pooled=True)
    assert torch.allclose(base, ref.last, atol=1e-6)
    assert torch.allclose(pooled, ref.pooled, atol=1e-6)  # SD1 pooled is not projected
    skip = sd1.clone()
    skip.clip_layer(-2)
    assert skip.cond_stage_model is sd1.cond_stage_model and skip.tokenizer is sd1.tokenizer
    assert sd1.layer_idx is None
    assert torch.allclose(skip.encode_from_tokens(tokens), ref.hidden, atol=1e-6)
    assert torch.equal(sd1.encode_from_tokens(tokens), base)
    # out-of-range layers fall back to the last layer, as in ComfyUI
    skip.clip_layer(-24)
    assert torch.equal(skip.encode_from_tokens(tokens), base)


@torch.no_grad()
def test_sd2_penultimate_with_final_norm():
    clip = make("sd2")
    tokens = clip.tokenize("a photo of a cat")
    ids = torch.tensor([[t for t, _ in tokens["h"][0]]])
    assert ids[0, 7:].eq(0).all()
    ref = clip.cond_stage_model.clip_h.transformer(ids, hidden_layer=-2, norm_hidden=True)
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    assert torch.allclose(cond, ref.hidden, atol=1e-6)
    assert torch.allclose(pooled, ref.projected, atol=1e-6)


@torch.no_grad()
def test_weighting_interpolates_toward_empty_prompt(sd1):
    plain = sd1.encode_from_tokens(sd1.tokenize("a photo of a cat"))
    weighted = sd1.encode_from_tokens(sd1.tokenize("a (photo:1.5) of a cat"))
    empty = sd1.encode_from_tokens(sd1.tokenize(""))
    expected = (plain[0, 2] - empty[0, 2]) * 1.5 + empty[0, 2]
    assert torch.allclose(weighted[0, 2], expected, atol=1e-5)
    keep = [i for i in range(77) if i != 2]
    assert torch.allclose(weighted[0, keep], plain[0, keep], atol=1e-6)
    assert (weighted[0, 2] - plain[0, 2]).abs().max() > 1e-3


@torch.no_grad()
def test_long_prompt_chunks_are_concatenated(sd1):
    tokens = sd1.tokenize("cat " * 100)
    assert len(tokens["l"]) == 2
    cond, pooled = sd1.encode_from_tokens(tokens, return_pooled=True)
    assert cond.shape == (1, 154, 32)
    first = sd1.encode_from_tokens({"l": tokens["l"][:1]}, return_pooled=True)
    second = sd1.encode_from_tokens({"l": tokens["l"][1:]})
    assert torch.allclose(cond[:, :77], first[0], atol=1e-6) and torch.allclose(
        cond[:, 77:], second, atol=1e-6
    )
    assert torch.allclose(pooled, first[1], atol=1e-6)  # pooled comes from the first chunk


@torch.no_grad()
def test_sdxl_cuts_to_the_shorter_tower(sdxl):
    tokens = sdxl.tokenize("cat " * 100)
    tokens["l"] = tokens["l"][:1]
    assert sdxl.encode_from_tokens(tokens).shape == (1, 77, 80)


@torch.no_grad()
def test_textual_inversion_vectors_reach_the_encoder(tmp_path):
    vectors = torch.randn(2, 32)
    safetensors.torch.save_file({"emb_params": vectors}, tmp_path / "tiny.safetensors")
    clip = make("sd1", embedding_dirs=[str(tmp_path)])
    tokens = clip.tokenize("a embedding:tiny cat")
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    model = clip.cond_stage_model.clip_l.transformer
    ids = torch.tensor([[START, 320, 0, 0, 2368, END] + [END] * 71])
    embeds = model.embed_tokens(ids)
    embeds[0, 2:4] = vectors
    ref = model(inputs_embeds=embeds, eos_index=torch.tensor([5]))
    assert torch.allclose(cond, ref.last, atol=1e-6) and torch.allclose(pooled, ref.pooled, atol=1e-6)
    without = clip.encode_from_tokens(clip.tokenize("a cat"))
    assert (cond[0, 2] - without[0, 2]).abs().max() > 1e-3


@torch.no_grad()
def test_embedding_of_wrong_width_is_dropped_at_encode(tmp_path, caplog):
    safetensors.torch.save_file({"emb_params": torch.randn(1, 32)}, tmp_path / "l_only.safetensors")
    clip = make("sdxl", embedding_dirs=[tmp_path])
    tokens = clip.tokenize("embedding:l_only cat")
    with caplog.at_level(logging.WARNING):
        cond = clip.encode_from_tokens(tokens)
    assert "shape mismatch" in caplog.text
    g_plain = clip.encode_from_tokens({"g": clip.tokenize("cat")["g"], "l": tokens["l"]})
    # bigG drops the 32-wide vector; "cat" moves one slot left and a pad token is appended
    assert torch.allclose(cond[0, :, 32:], g_plain[0, :, 32:], atol=1e-6)


def test_get_sd_load_sd_and_patch_seam(sd1, sdxl):
    sd = sdxl.get_sd()
    assert "clip_l.transformer.text_model.embeddings.token_embedding.weight" in sd
    assert "clip_g.transformer.text_projection.weight" in sd and "clip_g.logit_scale" in sd
    clip = make("sd1")
    new = random_hf_sd(TINY_L, 7)
    missing, unexpected = clip.load_sd(new)
    assert not missing and not unexpected
    assert torch.equal(
        clip.get_sd()["clip_l.transformer.text_model.final_layer_norm.bias"],
        new["text_model.final_layer_norm.bias"],
    )
    key = "clip_l.transformer.text_model.encoder.layers.0.mlp.fc1.weight"
    assert sd1.clone().add_patches({key: ("diff", torch.zeros(1)), "nope": 1}, 0.5) == [key]
    child = sd1.clone()
    child.add_patches({key: ("diff", torch.zeros(1))})
    assert key in child.patches and key not in sd1.patches
    assert key in child.clone().patches


# Seeded tiny towers in checkpoint layout: cond[0, 1:4] at features 0, 1, -1 (the last one is bigG's
# in SDXL) and pooled[0, :3], for one weighted prompt.
COLS = [0, 1, -1]
FINGERPRINTS = {
    "sd1": (
        [[-0.5718, 1.3120, -0.3105], [0.3805, 1.5445, -1.2306], [0.0515, 1.7452, -0.2490]],
        [-0.4381, 1.0630, 0.3010],
    ),
    "sd2": (
        [[-0.6414, 0.9064, -1.1453], [-0.2114, 0.9668, 0.1436], [-1.3960, 1.4167, -0.0285]],
        [0.0553, 0.3292, 0.1448],
    ),
    "sdxl": (
        [[-0.0816, -0.0577, -0.1836], [-0.1044, 0.0036, 0.0603], [-0.0198, -0.1410, -0.1402]],
        [-0.1699, 0.2769, -0.1317],
    ),
    "sdxl_refiner": (
        [[-0.2476, -0.0447, -0.0550], [-0.2025, -0.1980, 0.1404], [-0.2117, 0.1022, -0.1023]],
        [0.3552, -0.0697, -0.3596],
    ),
}


@pytest.mark.parametrize("kind", sorted(FINGERPRINTS))
def test_fingerprint(kind):
    clip = make(kind)
    cond, pooled = clip.encode_from_tokens(
        clip.tokenize("an (astronaut:1.2) riding a horse"), return_pooled=True
    )
    expected_cond, expected_pooled = FINGERPRINTS[kind]
    assert torch.allclose(cond[0, 1:4][:, COLS], torch.tensor(expected_cond), atol=1e-4)
    assert torch.allclose(pooled[0, :3], torch.tensor(expected_pooled), atol=1e-4)
