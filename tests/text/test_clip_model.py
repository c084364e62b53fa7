"""Our CLIP text transformer against transformers' on identical random weights (reduced widths)."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModelWithProjection
from transformers import CLIPTextModel as HFTextModel

from comfy_core.text.clip_model import CLIPTextModel, params_from_state_dict

from ._helpers import TINY_G, TINY_L, random_hf_sd

TOL = 2e-5


def hf_config(p) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=p.vocab_size,
        hidden_size=p.width,
        intermediate_size=p.mlp_width,
        num_hidden_layers=p.layers,
        num_attention_heads=p.heads,
        max_position_embeddings=p.max_positions,
        hidden_act=p.activation,
        projection_dim=p.projection_dim or p.width,
    )


def input_ids(pad: int) -> torch.Tensor:
    rows = [[49406, 320, 1125, 539, 320, 2368, 49407], [49406, 9858, 49407]]
    return torch.tensor([r + [pad] * (77 - len(r)) for r in rows])


def ours(sd, activation):
    model = CLIPTextModel(params_from_state_dict(sd, activation, heads=4))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"text_projection.weight"}
    return model.eval()


@torch.no_grad()
def test_clip_l_matches_transformers():
    sd = random_hf_sd(TINY_L, seed=1)
    hf = HFTextModel(hf_config(TINY_L)).eval()
    # transformers 5 keeps CLIPTextModel's modules at the top level (no `text_model.`)
    hf_names = {k.removeprefix("text_model."): v for k, v in sd.items()}
    if "embeddings.token_embedding.weight" not in hf.state_dict():
        hf_names = sd
    missing, unexpected = hf.load_state_dict(hf_names, strict=False)
    assert not missing and not unexpected
    model = ours(sd, "quick_gelu")
    ids = input_ids(pad=49407)
    ref = hf(input_ids=ids, output_hidden_states=True)
    out = model(ids, hidden_layer=-2, norm_hidden=False)
    assert out.last.shape == (2, 77, 32)
    assert (out.last - ref.last_hidden_state).abs().max() < TOL
    assert (out.hidden - ref.hidden_states[-2]).abs().max() < TOL
    assert (out.pooled - ref.pooler_output).abs().max() < TOL
    # the hidden layer differs from the last one, so the selection is really exercised
    assert (ref.hidden_states[-2] - ref.hidden_states[-1]).abs().max() > 1e-2
    # with the final norm applied, the last layer selected as "hidden" equals the last output
    out_last = model(ids, hidden_layer=-1, norm_hidden=True)
    assert torch.equal(out_last.hidden, out_last.last)
    # positive indices count from the first layer
    assert torch.equal(model(ids, hidden_layer=1, norm_hidden=False).hidden, out.hidden)


@torch.no_grad()
def test_bigg_with_projection_matches_transformers():
    sd = random_hf_sd(TINY_G, seed=2)
    hf = CLIPTextModelWithProjection(hf_config(TINY_G)).eval()
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    assert not missing and not unexpected
    model = ours(sd, "gelu")
    ids = input_ids(pad=0)
    ref = hf(input_ids=ids, output_hidden_states=True)
    eos = torch.tensor([6, 2])  # first end token; OpenCLIP pads with 0 so argmax finds it as well
    out = model(inputs_embeds=model.embed_tokens(ids), eos_index=eos, hidden_layer=-2, norm_hidden=False)
    assert (out.last - ref.last_hidden_state).abs().max() < TOL
    assert (out.hidden - ref.hidden_states[-2]).abs().max() < TOL
    assert (out.projected - ref.text_embeds).abs().max() < TOL
    assert (out.projected - out.pooled).abs().max() > 1e-2
    assert torch.equal(model(ids).pooled, out.pooled)


@torch.no_grad()
def test_gelu_and_quick_gelu_differ():
    sd = random_hf_sd(TINY_L, seed=3)
    ids = input_ids(pad=49407)
    a = ours(sd, "quick_gelu")(ids).last
    b = ours(sd, "gelu")(ids).last
    assert (a - b).abs().max() > 1e-4


def test_params_inferred_from_shapes():
    p = params_from_state_dict(random_hf_sd(TINY_G, seed=0), "gelu")
    assert (p.width, p.layers, p.mlp_width, p.vocab_size, p.max_positions, p.projection_dim) == (
        48,
        3,
        96,
        49408,
        77,
        48,
    )
    assert p.heads == 1  # width // 64 by default; real towers: 768 -> 12, 1024 -> 16, 1280 -> 20
    with pytest.raises(ValueError):
        CLIPTextModel(p.__class__(**{**p.__dict__, "activation": "relu6"}))


@torch.no_grad()
def test_attention_mask_blocks_padding():
    model = ours(random_hf_sd(TINY_L, seed=4), "quick_gelu")
    ids = input_ids(pad=49407)
    masked = model(ids, attention_mask=(torch.arange(77) < 7).long().expand(2, 77)).last
    # causal attention: tokens before the cut see the same context either way
    assert torch.allclose(masked[0, :7], model(ids).last[0, :7], atol=1e-6)
