"""CheckpointSave: the file it writes round-trips key for key (names, shapes, dtypes, values) and loads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from comfy_core import runtime
from comfy_core.io.checkpoint import load_state_dict_file, read_safetensors_header, save_safetensors
from nodes.conditioning import CLIPTextEncode
from nodes.loaders import CheckpointLoaderSimple
from nodes.model_advanced import CheckpointSave
from tests.fixtures.sd_env import checkpoint_state_dict, install_services, single_thread

MANIFEST = "sd15_comfyui_checkpointsave_fp16"


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    save_safetensors(checkpoint_state_dict(MANIFEST), tmp_path / "models" / "checkpoints" / "in.safetensors")
    (tmp_path / "output").mkdir()
    with single_thread():
        install_services(tmp_path)
        yield tmp_path
    runtime.uninstall()


def test_round_trip_is_key_exact(base: Path) -> None:
    original = checkpoint_state_dict(MANIFEST)
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("in.safetensors")
    prompt = {"1": {"class_type": "CheckpointSave", "inputs": {}}}
    assert (
        CheckpointSave().save(model, clip, vae, "checkpoints/round", prompt, {"workflow": {"nodes": []}})
        == {}
    )
    path = base / "output" / "checkpoints" / "round_00001_.safetensors"
    saved, metadata = load_state_dict_file(path)
    assert {k: (tuple(v.shape), v.dtype) for k, v in saved.items()} == {
        k: (tuple(v.shape), v.dtype) for k, v in original.items()
    }
    assert all(torch.equal(saved[k], original[k]) for k in original)
    assert json.loads(metadata["prompt"]) == prompt and json.loads(metadata["workflow"]) == {"nodes": []}
    assert metadata["modelspec.predict_key"] == "epsilon" and "modelspec.architecture" not in metadata
    CheckpointSave().save(model, clip, vae, "checkpoints/round")
    assert (base / "output" / "checkpoints" / "round_00002_.safetensors").is_file()


def test_saved_file_loads_back_to_the_same_model(base: Path) -> None:
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("in.safetensors")
    CheckpointSave().save(model, clip, vae, "again")
    header, _ = read_safetensors_header(base / "output" / "again_00001_.safetensors")
    assert all(v["dtype"] == "F16" for v in header.values())
    (base / "output" / "again_00001_.safetensors").rename(
        base / "models" / "checkpoints" / "again.safetensors"
    )
    model2, clip2, _ = CheckpointLoaderSimple().load_checkpoint("again.safetensors")
    a = CLIPTextEncode().encode(clip, "a boat")[0][0][0]
    b = CLIPTextEncode().encode(clip2, "a boat")[0][0][0]
    assert torch.equal(a, b)
    sd1, sd2 = model.model.diffusion_model.state_dict(), model2.model.diffusion_model.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)


def test_weight_patches_are_baked_into_the_saved_file(base: Path) -> None:
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("in.safetensors")
    key = "input_blocks.0.0.bias"
    patched = model.clone()
    # patch keys are the MODEL's state-dict names, as in ComfyUI (`diffusion_model.*`)
    assert patched.add_patches({"diffusion_model." + key: torch.full((32,), 0.5)}) == [
        "diffusion_model." + key
    ]
    CheckpointSave().save(patched, clip, vae, "patched")
    saved, _ = load_state_dict_file(base / "output" / "patched_00001_.safetensors")
    original = checkpoint_state_dict(MANIFEST)["model.diffusion_model." + key]
    assert torch.equal(saved["model.diffusion_model." + key], (original.float() + 0.5).half())
    assert torch.equal(model.model.diffusion_model.state_dict()[key], original.float())  # unpatched again
