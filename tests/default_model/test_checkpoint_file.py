"""The committed default model file: SD1 layout at reduced size, fp16, within size, self-describing, and
loadable by the regular loaders with every key accounted for."""

from __future__ import annotations

import json

import pytest
import torch

from comfy_core.families import detect, split_checkpoint
from comfy_core.families.loader import load_checkpoint
from comfy_core.io.checkpoint import load_state_dict_file, read_safetensors_metadata
from comfy_core.text.loader import load_text_encoders
from tools.default_model.dataset import DATASET_VERSION
from tools.default_model.pipeline import DEFAULT_CHECKPOINT
from tools.default_model.recipe import RECIPE_VERSION, Recipe, text_params, unet_params, vae_params

MAX_BYTES = 30 * 1000 * 1000


@pytest.fixture(scope="module")
def state_dict() -> dict[str, torch.Tensor]:
    assert DEFAULT_CHECKPOINT.is_file(), f"missing {DEFAULT_CHECKPOINT} (run tools/train_default_model.py)"
    sd, _ = load_state_dict_file(DEFAULT_CHECKPOINT)
    return sd


def test_size_and_dtypes(state_dict) -> None:
    assert DEFAULT_CHECKPOINT.stat().st_size <= MAX_BYTES
    for key, value in state_dict.items():
        if key.endswith("position_ids"):
            assert value.dtype == torch.int64 and value.tolist() == [list(range(77))]
        else:
            assert value.dtype == torch.float16, key
            assert torch.isfinite(value).all(), key


def test_metadata_names_recipe_and_dataset() -> None:
    meta = read_safetensors_metadata(DEFAULT_CHECKPOINT)
    assert meta["comfy_core.default_model.dataset_version"] == DATASET_VERSION
    assert meta["comfy_core.default_model.recipe_version"] == RECIPE_VERSION
    recipe = json.loads(meta["comfy_core.default_model.recipe"])
    assert set(recipe) == set(Recipe().__dict__)
    assert meta["comfy_core.default_model.command"].startswith("python tools/train_default_model.py")
    assert float(meta["comfy_core.default_model.train_seconds"]) > 0


def test_detected_as_sd1_with_the_recipe_architecture(state_dict) -> None:
    family, params = detect(state_dict)
    assert family.name == "sd15" and family.prediction == "eps"
    assert family.latent_format.scale_factor == 0.18215
    recipe = Recipe()
    expected = unet_params(recipe.unet_channels, recipe.text_width)
    assert params == expected
    parts = split_checkpoint(state_dict, family, strict=True)  # raises on any unexplained key
    assert not parts["ignored"]
    assert set(parts["text_encoders"]) == {"clip_l"}
    assert len(parts["unet"]) + len(parts["vae"]) + len(parts["text_encoders"]["clip_l"]) == len(state_dict)


def test_every_part_loads_strictly(state_dict) -> None:
    from comfy_core.families.build import build_vae
    from comfy_core.models.unet import UNetModel

    family, params = detect(state_dict)
    parts = split_checkpoint(state_dict, family)
    unet = UNetModel(params)
    missing, unexpected = unet.load_state_dict({k: v.float() for k, v in parts["unet"].items()}, strict=False)
    assert not missing and not unexpected
    vae = build_vae({k: v.float() for k, v in parts["vae"].items()})
    assert vae.params == vae_params()
    clip = load_text_encoders("sd1", {k: v.float() for k, v in parts["text_encoders"]["clip_l"].items()})
    enc = clip.cond_stage_model.encoder("l")
    tp = text_params(Recipe().text_width, Recipe().text_layers)
    assert enc.transformer.params.width == tp.width and enc.num_layers == tp.layers
    assert enc.transformer.params.vocab_size == 49408 and enc.transformer.params.max_positions == 77
    cond = clip.encode_from_tokens(clip.tokenize("a red circle"), return_pooled=True)
    assert cond[0].shape == (1, 77, tp.width)


def test_loader_returns_model_clip_vae() -> None:
    model, clip, vae = load_checkpoint(DEFAULT_CHECKPOINT)
    assert clip is not None and vae is not None
    assert vae.latent_channels == 4 and vae.downscale_ratio == 8
