"""Loader nodes on a reduced SD1 checkpoint: MODEL / CLIP / VAE objects that work, and the file combos."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from comfy_core import runtime
from comfy_core.families.vae_object import VAE
from comfy_core.memory.loading import load_for_inference
from comfy_core.memory.patcher import ModelPatcher
from nodes.conditioning import CLIPTextEncode
from nodes.latent import VAEDecode, VAEEncode
from nodes.loaders import (
    CheckpointLoader,
    CheckpointLoaderSimple,
    CLIPLoader,
    UNETLoader,
    VAELoader,
)
from tests.fixtures.sd_env import CKPT, CLIP_L, UNET, VAE_FILE, install_services, make_base, single_thread


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    return make_base(tmp_path_factory.mktemp("sd_loaders"))


@pytest.fixture(autouse=True)
def services(base) -> Iterator[runtime.Services]:
    with single_thread():
        yield install_services(base)
    runtime.uninstall()


@pytest.fixture(scope="module")
def loaded(base):
    install_services(base)
    try:
        with single_thread():
            return CheckpointLoaderSimple().load_checkpoint(CKPT)
    finally:
        runtime.uninstall()


def _unet_output(model: ModelPatcher, context: torch.Tensor) -> torch.Tensor:
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with load_for_inference([model]) as (m,), torch.no_grad():
        return m.apply_model(x, torch.tensor([5.0]), c_crossattn=context)


def test_combo_lists_name_the_files(base) -> None:
    assert CheckpointLoaderSimple.INPUT_TYPES()["required"]["ckpt_name"][0] == [CKPT]
    assert UNETLoader.INPUT_TYPES()["required"]["unet_name"][0] == [UNET]
    assert CLIPLoader.INPUT_TYPES()["required"]["clip_name"][0] == [CLIP_L]
    assert VAELoader.vae_list() == [VAE_FILE, "taesd", "pixel_space"]


def test_taesd_entry_needs_both_files(base) -> None:
    (base / "models" / "vae_approx" / "taesdxl_decoder.safetensors").write_bytes(b"")
    assert "taesdxl" not in VAELoader.vae_list()
    (base / "models" / "vae_approx" / "taesdxl_decoder.safetensors").unlink()


def test_checkpoint_loader_returns_working_objects(loaded) -> None:
    model, clip, vae = loaded
    assert isinstance(model, ModelPatcher) and isinstance(vae, VAE)
    assert model.model.model_info.family.name == "sd15"
    assert next(model.model.parameters()).dtype == torch.float32
    cond = CLIPTextEncode().encode(clip, "a red fox")[0]
    assert cond[0][0].shape == (1, 77, 48) and cond[0][1]["pooled_output"].shape == (1, 48)
    out = _unet_output(model, cond[0][0])
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
    image = VAEDecode().decode(vae, {"samples": torch.zeros(1, 4, 8, 8)})[0]
    assert image.shape == (1, 64, 64, 3) and 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
    latent = VAEEncode().encode(vae, image)[0]["samples"]
    assert latent.shape == (1, 4, 8, 8)


def test_clip_encoding_is_deterministic_and_prompt_dependent(loaded) -> None:
    _, clip, _ = loaded
    a = CLIPTextEncode().encode(clip, "a red fox")[0][0][0]
    b = CLIPTextEncode().encode(clip, "a red fox")[0][0][0]
    c = CLIPTextEncode().encode(clip, "a blue whale")[0][0][0]
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_deprecated_loader_ignores_the_config(loaded) -> None:
    model, _, _ = CheckpointLoader().load_checkpoint("v1-inference.yaml", CKPT)
    ctx = torch.randn(1, 77, 48, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(_unet_output(model, ctx), _unet_output(loaded[0], ctx))


@pytest.mark.parametrize("weight_dtype", ["default", "fp8_e4m3fn"])
def test_unet_loader_matches_the_checkpoint_unet(loaded, weight_dtype: str) -> None:
    (model,) = UNETLoader().load_unet(UNET, weight_dtype)
    ctx = torch.randn(1, 77, 48, generator=torch.Generator().manual_seed(3))
    ours, ref = _unet_output(model, ctx), _unet_output(loaded[0], ctx)
    if weight_dtype == "default":
        assert torch.equal(ours, ref)
    else:
        assert next(model.model.diffusion_model.parameters()).dtype == torch.float8_e4m3fn
        # fp8 storage, fp32 compute: close to the fp32 model, not equal
        assert not torch.equal(ours, ref)
        assert float(torch.nn.functional.cosine_similarity(ours.flatten(), ref.flatten(), dim=0)) > 0.97


def test_clip_loader_matches_the_checkpoint_clip(loaded) -> None:
    (clip,) = CLIPLoader().load_clip(CLIP_L, "stable_diffusion")
    ours = CLIPTextEncode().encode(clip, "a red fox")[0][0][0]
    ref = CLIPTextEncode().encode(loaded[1], "a red fox")[0][0][0]
    assert torch.allclose(ours, ref, atol=1e-5)


def test_clip_loader_refuses_unsupported_types() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        CLIPLoader().load_clip(CLIP_L, "wan")


def test_vae_loader_file_matches_checkpoint_vae(loaded) -> None:
    (vae,) = VAELoader().load_vae(VAE_FILE)
    z = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(vae.decode(z), loaded[2].decode(z))


def test_taesd_and_pixel_space_vaes() -> None:
    (taesd,) = VAELoader().load_vae("taesd")
    image = taesd.decode(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5)))
    assert image.shape == (1, 64, 64, 3)
    assert taesd.encode(image).shape == (1, 4, 8, 8)
    (pixels,) = VAELoader().load_vae("pixel_space")
    img = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(6))
    latent = pixels.encode(img)
    assert latent.shape == (1, 3, 16, 16) and float(latent.min()) < 0
    assert torch.allclose(pixels.decode(latent), img, atol=1e-6)
