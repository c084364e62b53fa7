"""Conditioning nodes: the values they set (ComfyUI's keys and units) and the SDXL text encoders."""

from __future__ import annotations

import pytest
import torch

from comfy_core.text.loader import load_clip_files
from nodes.conditioning import (
    CLIPSetLastLayer,
    CLIPTextEncode,
    CLIPTextEncodeSDXL,
    CLIPTextEncodeSDXLRefiner,
    ConditioningAverage,
    ConditioningCombine,
    ConditioningConcat,
    ConditioningSetArea,
    ConditioningSetAreaPercentage,
    ConditioningSetAreaStrength,
    ConditioningSetMask,
    ConditioningSetTimestepRange,
    ConditioningZeroOut,
    InpaintModelConditioning,
)
from tests.text._helpers import TINY_G, TINY_L, random_hf_sd


def cond(value: float, tokens: int = 77, width: int = 8, **options) -> list:  # noqa: ANN003
    return [[torch.full((1, tokens, width), value), dict(options)]]


@pytest.fixture(scope="module")
def sdxl_clip():
    return load_clip_files([random_hf_sd(TINY_L, 1), random_hf_sd(TINY_G, 2)], "sdxl")


def test_combine_concatenates_lists() -> None:
    a, b = cond(1.0), cond(2.0)
    (out,) = ConditioningCombine().combine(a, b)
    assert len(out) == 2 and out[0] is a[0] and out[1] is b[0]


def test_average_mixes_tokens_and_pooled() -> None:
    to = cond(1.0, pooled_output=torch.ones(1, 4))
    src = cond(3.0, tokens=154, pooled_output=torch.full((1, 4), 5.0))
    (out,) = ConditioningAverage().addWeighted(to, src, 0.25)
    assert out[0][0].shape == (1, 77, 8) and torch.allclose(out[0][0], torch.full((1, 77, 8), 2.5))
    assert torch.allclose(out[0][1]["pooled_output"], torch.full((1, 4), 4.0))
    short = cond(3.0, tokens=10)
    (padded,) = ConditioningAverage().addWeighted(cond(1.0), short, 0.5)
    assert padded[0][0][0, :10].eq(2.0).all() and padded[0][0][0, 10:].eq(0.5).all()
    (inherit,) = ConditioningAverage().addWeighted(cond(1.0), src, 0.5)
    assert torch.equal(inherit[0][1]["pooled_output"], src[0][1]["pooled_output"])


def test_concat_appends_tokens() -> None:
    (out,) = ConditioningConcat().concat(cond(1.0, extra=1), cond(2.0))
    assert out[0][0].shape == (1, 154, 8) and out[0][1] == {"extra": 1}
    assert out[0][0][0, 76].eq(1).all() and out[0][0][0, 77].eq(2).all()


def test_area_mask_strength_and_range_values() -> None:
    base = cond(1.0, keep="me")
    (area,) = ConditioningSetArea().append(base, 256, 128, 64, 32, 0.8)
    assert area[0][1] == {"keep": "me", "area": (16, 32, 4, 8), "strength": 0.8, "set_area_to_bounds": False}
    assert "area" not in base[0][1]
    (pct,) = ConditioningSetAreaPercentage().append(base, 0.5, 0.25, 0.1, 0.2, 1.5)
    assert pct[0][1]["area"] == ("percentage", 0.25, 0.5, 0.2, 0.1)
    (strength,) = ConditioningSetAreaStrength().append(area, 2.0)
    assert strength[0][1]["strength"] == 2.0 and strength[0][1]["area"] == (16, 32, 4, 8)
    mask = torch.ones(16, 16)
    (masked,) = ConditioningSetMask().append(base, mask, "mask bounds", 0.6)
    assert masked[0][1]["mask"].shape == (1, 16, 16)
    assert masked[0][1]["set_area_to_bounds"] is True and masked[0][1]["mask_strength"] == 0.6
    (ranged,) = ConditioningSetTimestepRange().set_range(base, 0.2, 0.7)
    assert (ranged[0][1]["start_percent"], ranged[0][1]["end_percent"]) == (0.2, 0.7)


def test_zero_out() -> None:
    (out,) = ConditioningZeroOut().zero_out(cond(3.0, pooled_output=torch.ones(1, 4), other=5))
    assert not out[0][0].any() and not out[0][1]["pooled_output"].any() and out[0][1]["other"] == 5


def test_clip_encoders_refuse_a_missing_clip() -> None:
    with pytest.raises(RuntimeError, match="clip input is invalid"):
        CLIPTextEncode().encode(None, "x")


def test_sdxl_encoder_adds_sizes_and_pads_chunks(sdxl_clip) -> None:
    out = CLIPTextEncodeSDXL.execute(sdxl_clip, 1024, 768, 8, 16, 2048, 1536, "a castle", "a castle").result[
        0
    ]
    tensor, options = out[0]
    assert tensor.shape == (1, 77, TINY_L.width + TINY_G.width) and tensor.device.type == "cpu"
    assert options["pooled_output"].shape == (1, TINY_G.width)
    assert {
        k: options[k] for k in ("width", "height", "crop_w", "crop_h", "target_width", "target_height")
    } == {
        "width": 1024,
        "height": 768,
        "crop_w": 8,
        "crop_h": 16,
        "target_width": 2048,
        "target_height": 1536,
    }
    long_l = " ".join(["tree"] * 100)  # two chunks for CLIP-L, one for bigG: bigG gets an empty chunk
    padded = CLIPTextEncodeSDXL.execute(sdxl_clip, 1024, 1024, 0, 0, 1024, 1024, "a castle", long_l).result[0]
    assert padded[0][0].shape == (1, 154, TINY_L.width + TINY_G.width)
    same_g = CLIPTextEncode().encode(sdxl_clip, "a castle")[0]
    assert torch.allclose(same_g[0][0], tensor, atol=1e-5)


def test_sdxl_refiner_encoder_sets_aesthetic_score(sdxl_clip) -> None:
    out = CLIPTextEncodeSDXLRefiner.execute(2.5, 640, 512, "a castle", sdxl_clip).result[0]
    assert (out[0][1]["aesthetic_score"], out[0][1]["width"], out[0][1]["height"]) == (2.5, 640, 512)


def test_clip_set_last_layer_changes_output_on_a_clone(sdxl_clip) -> None:
    (clip2,) = CLIPSetLastLayer().set_last_layer(sdxl_clip, -1)
    assert clip2 is not sdxl_clip and sdxl_clip.layer_idx is None and clip2.layer_idx == -1
    a = CLIPTextEncode().encode(sdxl_clip, "a castle")[0][0][0]
    b = CLIPTextEncode().encode(clip2, "a castle")[0][0][0]
    assert not torch.allclose(a, b)


class PoolVAE:
    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.seen.append(pixels)
        return torch.nn.functional.avg_pool2d(pixels.movedim(-1, 1), 8)


def test_inpaint_model_conditioning() -> None:
    vae = PoolVAE()
    pixels = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 8, 8)
    mask[:, :4, :4] = 1.0
    pos, neg, latent = InpaintModelConditioning().encode(cond(1.0), cond(2.0), pixels, vae, mask, True)
    grey, orig = vae.seen
    assert torch.equal(orig, pixels) and grey[0, :8, :8].eq(0.5).all()
    assert torch.equal(grey[0, 8:, 8:], pixels[0, 8:, 8:])
    for c in (pos, neg):
        assert c[0][1]["concat_mask"].shape == (1, 1, 16, 16)
        assert c[0][1]["concat_latent_image"].shape == (1, 3, 2, 2)
    assert torch.equal(latent["samples"], torch.nn.functional.avg_pool2d(pixels.movedim(-1, 1), 8))
    assert torch.equal(latent["noise_mask"], pos[0][1]["concat_mask"])
    _, _, no_mask = InpaintModelConditioning().encode(cond(1.0), cond(2.0), pixels, PoolVAE(), mask, False)
    assert "noise_mask" not in no_mask
