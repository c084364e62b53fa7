"""Layouts: OpenCLIP <-> HF conversion, and checkpoint names/dtypes written back exactly (manifests)."""

from __future__ import annotations

import re

import pytest
import torch

from comfy_core.text.clip_model import CLIPTextModel, params_from_state_dict
from comfy_core.text.convert import find_text_encoders, hf_to_openclip, openclip_to_hf
from comfy_core.text.kinds import get_kind
from comfy_core.text.loader import kind_for_clip_files, load_clip_files, load_text_encoders

from ._helpers import (
    SAFETENSORS_DTYPES,
    TINY_G,
    TINY_H,
    TINY_L,
    load_manifest,
    openclip_sd,
    random_hf_sd,
)

LAYER = re.compile(r"\.(?:layers|resblocks)\.(\d+)\.")


def test_openclip_round_trip_is_exact():
    oc = openclip_sd(TINY_G, seed=5)
    hf, extras = openclip_to_hf(oc)
    assert set(extras) == {"logit_scale"}
    assert torch.equal(hf["text_projection.weight"], oc["text_projection"].T)
    q = hf["text_model.encoder.layers.1.self_attn.q_proj.weight"]
    assert torch.equal(q, oc["transformer.resblocks.1.attn.in_proj_weight"][:48])
    assert torch.equal(
        hf["text_model.encoder.layers.2.self_attn.v_proj.bias"],
        oc["transformer.resblocks.2.attn.in_proj_bias"][96:],
    )
    back = hf_to_openclip(hf)
    assert set(back) == set(oc) - {"logit_scale"}
    assert all(torch.equal(back[k], oc[k]) for k in back)


def reduced_manifest(name: str, prefix: str, layers: int = 3) -> dict[str, tuple[list[int], list[str]]]:
    """Manifest entries of one text encoder, first `layers` blocks only."""
    out = {}
    for key, value in load_manifest(name).items():
        m = LAYER.search(key)
        if key.startswith(prefix) and (m is None or int(m.group(1)) < layers):
            out[key] = value
    return out


def synthetic(entries, prefix, layout, params, seed):
    """Tiny tensors under exactly the manifest names, stored in the manifest dtypes."""
    hf = random_hf_sd(
        params, seed, projection=layout == "openclip" or prefix + "text_projection.weight" in entries
    )
    tensors = hf_to_openclip(hf) if layout == "openclip" else dict(hf)
    tensors["logit_scale"] = torch.tensor(4.6052)
    tensors["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    out = {}
    for name, (_, dtypes) in entries.items():
        out[name] = tensors[name[len(prefix) :]].to(SAFETENSORS_DTYPES[dtypes[0]])
    return out


CHECKPOINTS = [
    ("sd15_v1-5-pruned-emaonly", "sd1", [("cond_stage_model.transformer.", "hf", TINY_L)]),
    ("sd15_comfyui_checkpointsave_fp16", "sd1", [("cond_stage_model.transformer.", "hf", TINY_L)]),
    ("sd21_v2-1_768-ema-pruned", "sd2", [("cond_stage_model.model.", "openclip", TINY_H)]),
    (
        "sdxl_sd_xl_base_1.0",
        "sdxl",
        [
            ("conditioner.embedders.0.transformer.", "hf", TINY_L),
            ("conditioner.embedders.1.model.", "openclip", TINY_G),
        ],
    ),
    (
        "sdxl_refiner_sd_xl_refiner_1.0",
        "sdxl_refiner",
        [("conditioner.embedders.0.model.", "openclip", TINY_G)],
    ),
]


@pytest.mark.parametrize("manifest, kind, towers", CHECKPOINTS, ids=[c[0] for c in CHECKPOINTS])
def test_checkpoint_names_shapes_dtypes_round_trip(manifest, kind, towers):
    ckpt = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1), "alphas_cumprod": torch.zeros(3)}
    expected = {}
    for i, (prefix, layout, params) in enumerate(towers):
        entries = reduced_manifest(manifest, prefix)
        part = synthetic(entries, prefix, layout, params, seed=10 + i)
        assert set(part) == set(entries)  # our layout conversion produces exactly the real names
        ckpt.update(part)
        expected.update(part)
    clip = load_text_encoders(kind, ckpt)
    saved = clip.checkpoint_state_dict()
    assert set(saved) == set(expected)
    manifest_dtypes = load_manifest(manifest)
    for name, tensor in saved.items():
        assert tensor.shape == expected[name].shape, name
        assert tensor.dtype == expected[name].dtype, name
        assert tensor.dtype in [SAFETENSORS_DTYPES[d] for d in manifest_dtypes[name][1]], name
        assert torch.equal(tensor, expected[name]), name


def test_sd1_minimal_layout_gets_no_extras_and_legacy_keys_load():
    hf = random_hf_sd(TINY_L, seed=3, projection=False)
    legacy = {"cond_stage_model.transformer." + k.removeprefix("text_model."): v for k, v in hf.items()}
    clip = load_text_encoders("sd1", legacy)
    saved = clip.checkpoint_state_dict()
    assert set(saved) == {"cond_stage_model.transformer." + k for k in hf}
    assert torch.equal(
        saved["cond_stage_model.transformer.text_model.final_layer_norm.weight"],
        hf["text_model.final_layer_norm.weight"],
    )


def test_standalone_files_to_sdxl_checkpoint_names():
    """DualCLIPLoader files (HF layout) saved as an SDXL checkpoint get ComfyUI's bookkeeping keys."""
    l_entries = reduced_manifest("clip_l", "")
    g_entries = reduced_manifest("clip_g", "")
    l_sd = synthetic(l_entries, "", "hf", TINY_L, seed=1)
    g_sd = synthetic(g_entries, "", "hf", TINY_G, seed=2)
    assert set(l_sd) == set(l_entries) and set(g_sd) == set(g_entries)
    clip = load_clip_files([l_sd, g_sd], "sdxl")
    saved = clip.checkpoint_state_dict()
    xl_l = reduced_manifest("sdxl_sd_xl_base_1.0", "conditioner.embedders.0.transformer.")
    xl_g = reduced_manifest("sdxl_sd_xl_base_1.0", "conditioner.embedders.1.model.")
    assert set(saved) == set(xl_l) | set(xl_g)
    assert (
        saved["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"].dtype == torch.int64
    )
    assert saved["conditioner.embedders.1.model.logit_scale"].dtype == torch.float32
    assert saved["conditioner.embedders.1.model.token_embedding.weight"].dtype == torch.float16
    assert torch.equal(
        saved["conditioner.embedders.1.model.text_projection"], g_sd["text_projection.weight"].T
    )


def test_find_text_encoders_in_full_sdxl_checkpoint():
    ckpt = {}
    ckpt.update({"conditioner.embedders.0.transformer." + k: v for k, v in random_hf_sd(TINY_L, 0).items()})
    ckpt.update({"conditioner.embedders.1.model." + k: v for k, v in openclip_sd(TINY_G, 0).items()})
    found = find_text_encoders(ckpt)
    assert [(f.prefix, f.layout, f.width, f.num_layers) for f in found] == [
        ("conditioner.embedders.0.transformer.", "hf", 32, 3),
        ("conditioner.embedders.1.model.", "openclip", 48, 3),
    ]
    assert "logit_scale" in found[1].extras


def test_missing_tower_is_an_error():
    with pytest.raises(ValueError, match="clip_g"):
        load_text_encoders(
            "sdxl",
            {"conditioner.embedders.0.transformer." + k: v for k, v in random_hf_sd(TINY_L, 0).items()},
        )


REAL_TOWERS = [
    ("clip_l", "", "sd1", (768, 12, 12, 3072, None)),
    ("clip_g", "", "sdxl_refiner", (1280, 32, 20, 5120, 1280)),
    ("sd15_v1-5-pruned-emaonly", "cond_stage_model.transformer.", "sd1", (768, 12, 12, 3072, None)),
    ("sd21_v2-1_768-ema-pruned", "cond_stage_model.model.", "sd2", (1024, 24, 16, 4096, 1024)),
    ("sdxl_sd_xl_base_1.0", "conditioner.embedders.1.model.", "sdxl_refiner", (1280, 32, 20, 5120, 1280)),
]


@pytest.mark.parametrize(
    "manifest, prefix, kind, dims", REAL_TOWERS, ids=[f"{m}:{p}" for m, p, *_ in REAL_TOWERS]
)
def test_real_sizes_on_meta(manifest, prefix, kind, dims):
    """Full-size manifests (meta tensors): every weight is converted and fits our module exactly."""
    meta = {
        n: torch.empty(shape, dtype=SAFETENSORS_DTYPES[d[0]], device="meta")
        for n, (shape, d) in load_manifest(manifest).items()
        if n.startswith(prefix)
    }
    (found,) = find_text_encoders(meta)
    spec = get_kind(kind).slots[0][0]
    params = params_from_state_dict(found.hf, spec.activation)
    assert (params.width, params.layers, params.heads, params.mlp_width, params.projection_dim) == dims
    ours = CLIPTextModel(params, device="meta").state_dict()
    if params.projection_dim is None:
        ours.pop("text_projection.weight")
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in found.hf.items()}
    # CLIPLoader's detection picks the same kind from the layer count
    assert kind_for_clip_files([{k[len(prefix) :]: v for k, v in meta.items()}]) == kind
