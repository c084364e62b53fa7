"""Real bytes on disk: reduced-width checkpoints with the release files' exact names and dtypes are written,
loaded, detected, split, built into runnable models (strict), merged back and re-saved."""

from __future__ import annotations

import pytest
import torch

from comfy_core.families import build_diffusion_model, build_vae, detect, merge_checkpoint, split_checkpoint
from comfy_core.io.checkpoint import load_state_dict_file, save_safetensors
from tests.fixtures.checkpoints import build_reduced_checkpoint, manifest_entries

FILES = {
    "sd15_v1-5-pruned-emaonly": "sd15",
    "sd21_v2-1_768-ema-pruned": "sd20",
    "sdxl_sd_xl_base_1.0": "sdxl",
    "sdxl_refiner_sd_xl_refiner_1.0": "sdxl_refiner",
}


@pytest.mark.parametrize("name", list(FILES))
def test_reduced_checkpoint_round_trip(tmp_path, name: str) -> None:
    original = build_reduced_checkpoint(name, seed=1)
    want = {n: d for n, _, d in manifest_entries(name)}
    assert {k: v.dtype for k, v in original.items()} == want  # exact names and on-disk dtypes

    path = tmp_path / f"{name}.safetensors"
    save_safetensors(original, path, metadata={"source": name})
    sd, meta = load_state_dict_file(path)
    assert meta == {"source": name}

    family, params = detect(sd)
    assert family.name == FILES[name] and params.model_channels == 32
    parts = split_checkpoint(sd, family)
    model = build_diffusion_model(family, params, parts["unet"], dtype=torch.float32)
    vae = build_vae(parts["vae"])
    # the built modules hold the file's weights, cast to fp32
    k = "input_blocks.0.0.weight"
    assert torch.equal(model.diffusion_model.state_dict()[k], sd["model.diffusion_model." + k].float())
    assert torch.equal(
        vae.state_dict()["decoder.conv_out.bias"], sd["first_stage_model.decoder.conv_out.bias"].float()
    )

    unet_back = {
        k: v.to(sd["model.diffusion_model." + k].dtype) for k, v in model.diffusion_model.state_dict().items()
    }
    vae_back = {k: v.to(sd["first_stage_model." + k].dtype) for k, v in vae.state_dict().items()}
    merged = merge_checkpoint(
        {"unet": unet_back, "vae": vae_back, "text_encoders": parts["text_encoders"]},
        family,
        ignored=parts["ignored"],
        comfyui_markers=False,
    )
    out = tmp_path / "resaved.safetensors"
    save_safetensors(merged, out)
    again, _ = load_state_dict_file(out)
    assert {k: (v.shape, v.dtype) for k, v in again.items()} == {k: (v.shape, v.dtype) for k, v in sd.items()}
    assert all(torch.equal(again[k], sd[k]) for k in sd)


def test_sd2_768_v_file_is_v_prediction_and_512_is_eps(tmp_path) -> None:
    for v, want in [(True, "v_prediction"), (False, "eps")]:
        sd = build_reduced_checkpoint("sd21_v2-1_768-ema-pruned", seed=2, sd2_v_prediction=v)
        path = tmp_path / f"sd2_{v}.safetensors"
        save_safetensors(sd, path)
        family, _ = detect(load_state_dict_file(path)[0])
        assert family.prediction == want


def test_fp16_checkpoint_loads_through_pickle_too(tmp_path) -> None:
    sd = build_reduced_checkpoint("sd15_v1-5-pruned-emaonly", seed=3)
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": sd, "global_step": 1}, path)
    loaded, _ = load_state_dict_file(path)
    family, params = detect(loaded)
    assert family.name == "sd15" and set(loaded) == set(sd)
