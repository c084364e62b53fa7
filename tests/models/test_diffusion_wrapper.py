"""DiffusionWrapper: apply_model parameterisation, extra_conds (SD, SDXL ADM, refiner, inpaint) and a
seeded end-to-end fingerprint through a checkpoint-built SDXL-layout model."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from comfy_core.families import build_diffusion_model, detect, get_family, split_checkpoint
from comfy_core.models.base_model import BLANK_INPAINT_LATENT
from comfy_core.models.unet import UNetParams
from comfy_core.sampling.protocols import DiffusionModel
from tests.fixtures.checkpoints import build_reduced_checkpoint, randomize_

TINY = UNetParams(
    model_channels=32,
    num_res_blocks=(1, 1),
    channel_mult=(1, 2),
    transformer_depth=(1, 1),
    transformer_depth_output=(1, 1, 1, 1),
    transformer_depth_middle=1,
    context_dim=16,
    num_heads=2,
)
SDXL_FINGERPRINT = [
    [0.33668, 3.45759, 1.29357],
    [-3.17334, 1.33578, -3.28593],
    [-1.38478, -2.12284, 1.32431],
]


def _wrapper(family_name: str = "sd15", params: UNetParams = TINY, seed: int = 0, **family_changes):
    family = replace(get_family(family_name), **family_changes)
    model = build_diffusion_model(family, params)
    randomize_(model.diffusion_model, seed)
    return model


@torch.no_grad()
def test_apply_model_eps_and_v_parameterisations() -> None:
    x = torch.randn(2, 4, 8, 8)
    sigma = torch.tensor([14.6, 0.5])
    ctx = torch.randn(2, 3, 16)
    for prediction in ("eps", "v_prediction"):
        m = _wrapper(prediction=prediction)
        assert isinstance(m, DiffusionModel)
        ms = m.model_sampling
        s = sigma.view(2, 1, 1, 1)
        out = m.diffusion_model(x / (s**2 + 1) ** 0.5, ms.timestep(sigma).float(), ctx)
        want = x - out * s if prediction == "eps" else x / (s**2 + 1) - out * s / (s**2 + 1) ** 0.5
        got = m.apply_model(x, sigma, c_crossattn=ctx)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        assert got.dtype == torch.float32


@torch.no_grad()
def test_bf16_compute_returns_fp32() -> None:
    m = _wrapper()
    m16 = build_diffusion_model(
        get_family("sd15"), TINY, m.diffusion_model.state_dict(), dtype=torch.bfloat16
    )
    x, sigma, ctx = torch.randn(1, 4, 8, 8), torch.tensor([3.0]), torch.randn(1, 3, 16)
    a, b = m.apply_model(x, sigma, c_crossattn=ctx), m16.apply_model(x, sigma, c_crossattn=ctx)
    assert b.dtype == torch.float32 and (a - b).abs().max() < 0.05 * a.abs().max()


def test_sd_extra_conds_passes_cross_attention_only() -> None:
    m = _wrapper()
    ctx = torch.randn(1, 77, 16)
    out = m.extra_conds(
        {"cross_attn": ctx, "pooled_output": torch.randn(1, 8)}, torch.randn(1, 4, 8, 8), None, None, "cpu"
    )
    assert set(out) == {"c_crossattn"} and out["c_crossattn"] is ctx


def test_sdxl_adm_matches_diffusers_time_ids_embedding() -> None:
    diffusers = pytest.importorskip("diffusers")
    from diffusers.models.embeddings import Timesteps

    params = replace(
        TINY, adm_in_channels=8 + 1536, num_heads=-1, num_head_channels=16, use_linear_in_transformer=True
    )
    m = _wrapper("sdxl", params)
    pooled = torch.randn(2, 8)
    noise = torch.randn(2, 4, 16, 12)
    cond = {
        "cross_attn": torch.randn(2, 5, 16),
        "pooled_output": pooled,
        "crop_w": 16,
        "crop_h": 32,
        "target_width": 1024,
        "target_height": 768,
    }
    y = m.extra_conds(cond, noise, None, None, "cpu")["y"]
    ids = torch.tensor([128.0, 96.0, 32.0, 16.0, 768.0, 1024.0])  # h, w (from the latent size), crop, target
    want = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)(ids).reshape(1, -1)
    assert y.shape == (2, 8 + 1536)
    torch.testing.assert_close(y[:, :8], pooled)
    torch.testing.assert_close(y[:, 8:], want.repeat(2, 1), atol=1e-6, rtol=0)
    assert diffusers is not None


def test_refiner_aesthetic_score_defaults_by_prompt_type() -> None:
    params = replace(
        TINY, adm_in_channels=8 + 1280, num_heads=-1, num_head_channels=16, use_linear_in_transformer=True
    )
    m = _wrapper("sdxl_refiner", params)
    noise = torch.randn(1, 4, 8, 8)
    base = {"pooled_output": torch.zeros(1, 8), "width": 1024, "height": 1024}
    pos = m.extra_conds(base, noise, None, None, "cpu")["y"]
    neg = m.extra_conds({**base, "prompt_type": "negative"}, noise, None, None, "cpu")["y"]
    explicit = m.extra_conds({**base, "aesthetic_score": 2.5}, noise, None, None, "cpu")["y"]
    assert pos.shape == (1, 8 + 1280)
    assert not torch.equal(pos, neg) and torch.equal(neg, explicit)
    assert torch.equal(pos[:, 8 : 8 + 1024], neg[:, 8 : 8 + 1024])  # only the score block differs


def test_sdxl_without_pooled_output_is_a_clear_error() -> None:
    params = replace(
        TINY, adm_in_channels=8 + 1536, num_heads=-1, num_head_channels=16, use_linear_in_transformer=True
    )
    with pytest.raises(ValueError, match="pooled_output"):
        _wrapper("sdxl", params).extra_conds(
            {"cross_attn": torch.zeros(1, 1, 16)}, torch.zeros(1, 4, 8, 8), None, None, "cpu"
        )


def test_inpaint_concat_from_mask_and_latents() -> None:
    m = _wrapper("sd15_inpaint", replace(TINY, in_channels=9))
    noise = torch.randn(2, 4, 8, 8)
    latent = torch.randn(1, 4, 8, 8)
    # no mask: all-ones mask and the blank (grey) image latent
    c = m.extra_conds({}, noise, latent, None, "cpu")["c_concat"]
    assert c.shape == (2, 5, 8, 8) and torch.equal(c[:, 0], torch.ones(2, 8, 8))
    assert torch.allclose(c[0, 1:, 0, 0], torch.tensor(BLANK_INPAINT_LATENT))
    # pixel-size mask is resized to the latent, rounded; the sampler's latent (model space) is used
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0
    c = m.extra_conds({}, noise, latent, mask, "cpu")["c_concat"]
    assert torch.equal(c[:, 0, :, :4], torch.zeros(2, 8, 4)) and torch.equal(
        c[:, 0, :, 4:], torch.ones(2, 8, 4)
    )
    torch.testing.assert_close(c[1, 1:], latent[0])
    # InpaintModelConditioning's concat_latent_image is a VAE latent: scaled into model space
    vae_latent = torch.randn(1, 4, 8, 8)
    c = m.extra_conds({"concat_latent_image": vae_latent, "concat_mask": mask}, noise, latent, None, "cpu")[
        "c_concat"
    ]
    torch.testing.assert_close(c[0, 1:], vae_latent[0] * 0.18215)
    x = m.apply_model(noise, torch.tensor([1.0, 1.0]), c_crossattn=torch.randn(2, 3, 16), c_concat=c)
    assert x.shape == noise.shape


def test_latent_format_and_memory_estimate() -> None:
    m = _wrapper("sdxl", replace(TINY, adm_in_channels=8 + 1536))
    lat = torch.randn(1, 4, 2, 2)
    torch.testing.assert_close(m.process_latent_out(m.process_latent_in(lat)), lat)
    assert math.isclose(
        m.process_latent_in(lat)[0, 0, 0, 0].item(), lat[0, 0, 0, 0].item() * 0.13025, rel_tol=1e-6
    )
    assert m.memory_required((2, 4, 128, 128)) == 2 * 128 * 128 * 4 * 0.01 * 0.8 * 1024 * 1024
    assert m.latent_channels == 4


@torch.no_grad()
def test_checkpoint_built_sdxl_fingerprint() -> None:
    sd = build_reduced_checkpoint("sdxl_sd_xl_base_1.0", seed=1)
    family, params = detect(sd)
    model = build_diffusion_model(family, params, split_checkpoint(sd, family)["unet"])
    g = torch.Generator().manual_seed(40)
    noise = torch.randn(1, 4, 16, 16, generator=g)
    cond = {
        "cross_attn": torch.randn(1, 77, 88, generator=g),
        "pooled_output": torch.randn(1, 40, generator=g),
    }
    kw = model.extra_conds(cond, noise, None, None, "cpu")
    sigma = torch.tensor([2.0])
    out = model.apply_model(noise * sigma, sigma, **kw)
    torch.testing.assert_close(out[0, 0, :3, :3], torch.tensor(SDXL_FINGERPRINT), atol=1e-4, rtol=0)


@torch.no_grad()
def test_fp8_storage_wrapper_computes_in_fp32() -> None:
    ref = _wrapper()
    fp8 = build_diffusion_model(
        get_family("sd15"), TINY, ref.diffusion_model.state_dict(), dtype=torch.float8_e4m3fn
    )
    assert fp8.get_dtype() == torch.float32
    gen = torch.Generator().manual_seed(11)  # fixed inputs: the fp8 rounding error depends on them
    x, sigma = torch.randn(1, 4, 8, 8, generator=gen), torch.tensor([3.0])
    ctx = torch.randn(1, 3, 16, generator=gen)
    a, b = ref.apply_model(x, sigma, c_crossattn=ctx), fp8.apply_model(x, sigma, c_crossattn=ctx)
    assert (a - b).abs().max() < 0.2 * a.abs().max()
