"""Key-exact checks against the real files' manifests: our modules, split and merge reproduce every
tensor name, shape and dtype."""

from __future__ import annotations

import pytest
import torch

from comfy_core.families import detect, merge_checkpoint, split_checkpoint
from comfy_core.models.taesd import taesd_decoder, taesd_encoder
from comfy_core.models.unet import UNetModel
from comfy_core.models.vae import AutoencoderKL, vae_params_from_state_dict
from tests.fixtures.checkpoints import manifest_entries, manifest_meta_state_dict

FILES = [
    "sd15_v1-5-pruned-emaonly",
    "sd21_v2-1_768-ema-pruned",
    "sdxl_sd_xl_base_1.0",
    "sdxl_refiner_sd_xl_refiner_1.0",
    "sd15_comfyui_checkpointsave_fp16",
]


def _shapes(sd: dict) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("name", FILES)
def test_unet_and_vae_modules_have_the_files_exact_names_and_shapes(name: str) -> None:
    sd = manifest_meta_state_dict(name)
    family, params = detect(sd)
    parts = split_checkpoint(sd, family)
    unet = UNetModel(params, device="meta")
    assert _shapes(unet.state_dict()) == _shapes(parts["unet"])
    vae = AutoencoderKL(vae_params_from_state_dict(parts["vae"]), device="meta")
    assert _shapes(vae.state_dict()) == _shapes(parts["vae"])


@pytest.mark.parametrize("name", FILES)
def test_split_then_merge_restores_names_shapes_dtypes(name: str) -> None:
    sd = manifest_meta_state_dict(name)
    family, _ = detect(sd)
    parts = split_checkpoint(sd, family)
    back = merge_checkpoint(parts, family, ignored=parts["ignored"], comfyui_markers=False)
    assert {k: (tuple(v.shape), v.dtype) for k, v in back.items()} == {
        k: (tuple(v.shape), v.dtype) for k, v in sd.items()
    }


def test_split_counts_match_the_release_layout() -> None:
    sd = manifest_meta_state_dict("sd15_v1-5-pruned-emaonly")
    family, _ = detect(sd)
    parts = split_checkpoint(sd, family)
    assert (len(parts["unet"]), len(parts["vae"]), len(parts["text_encoders"]["clip_l"])) == (686, 248, 197)
    assert sorted(parts["ignored"])[:3] == ["alphas_cumprod", "alphas_cumprod_prev", "betas"]
    assert "model_ema.decay" in parts["ignored"] and len(parts["ignored"]) == 14
    assert "transformer.text_model.embeddings.position_ids" in parts["text_encoders"]["clip_l"]


def test_comfyui_checkpoint_save_layout_for_sd15() -> None:
    """ComfyUI's CheckpointSave writes UNet + VAE + CLIP-L without position_ids or LDM extras."""
    family, _ = detect(manifest_meta_state_dict("sd15_v1-5-pruned-emaonly"))
    parts = split_checkpoint(manifest_meta_state_dict("sd15_v1-5-pruned-emaonly"), family)
    parts["text_encoders"]["clip_l"].pop("transformer.text_model.embeddings.position_ids")
    saved = merge_checkpoint(parts, family)
    want = [(n, s) for n, s, _ in manifest_entries("sd15_comfyui_checkpointsave_fp16")]
    assert sorted((k, tuple(v.shape)) for k, v in saved.items()) == sorted(want)


def test_sdxl_save_adds_clip_l_position_ids_and_v_marker() -> None:
    from dataclasses import replace

    sd = manifest_meta_state_dict("sdxl_sd_xl_base_1.0")
    family, _ = detect(sd)
    parts = split_checkpoint(sd, family)
    pid = "transformer.text_model.embeddings.position_ids"
    parts["text_encoders"]["clip_l"].pop(pid)
    out = merge_checkpoint(parts, replace(family, prediction="v_prediction"))
    ids = out["conditioner.embedders.0." + pid]
    assert ids.dtype == torch.int64 and torch.equal(ids, torch.arange(77).unsqueeze(0))
    assert out["v_pred"].numel() == 0
    assert set(out) - set(sd) == {"v_pred"}


@pytest.mark.parametrize(
    ("name", "build"), [("taesd_decoder", taesd_decoder), ("taesd_encoder", taesd_encoder)]
)
def test_taesd_modules_match_release_files(name: str, build) -> None:
    want = {n: s for n, s, _ in manifest_entries(name)}
    assert _shapes(build(device="meta").state_dict()) == want
