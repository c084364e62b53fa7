"""Our UNet against diffusers' UNet2DConditionModel on identical random weights (converted from our
original-layout state dict with diffusers' own single-file converter), plus stored fingerprints."""

from __future__ import annotations

import pytest
import torch

from comfy_core.models.base_model import _size_embedding
from comfy_core.models.unet import UNetModel, UNetParams
from tests.fixtures.checkpoints import randomize_

diffusers = pytest.importorskip("diffusers")
from diffusers import UNet2DConditionModel  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

SD1_STYLE = UNetParams(
    model_channels=32,
    num_res_blocks=(2, 2, 2),
    channel_mult=(1, 2, 2),
    transformer_depth=(1, 1, 1, 1, 0, 0),
    transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1),
    transformer_depth_middle=1,
    context_dim=24,
    num_heads=2,
    num_head_channels=-1,
)
SDXL_STYLE = UNetParams(
    model_channels=32,
    num_res_blocks=(2, 2, 2),
    channel_mult=(1, 2, 2),
    transformer_depth=(0, 0, 1, 1, 2, 2),
    transformer_depth_output=(2, 2, 2, 1, 1, 1, 0, 0, 0),
    transformer_depth_middle=2,
    context_dim=40,
    num_heads=-1,
    num_head_channels=16,
    use_linear_in_transformer=True,
    adm_in_channels=16 + 6 * 256,
)


def _diffusers_sd1() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64, 64),
        layers_per_block=2,
        cross_attention_dim=24,
        attention_head_dim=2,
    )


def _diffusers_sdxl() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64, 64),
        layers_per_block=2,
        transformer_layers_per_block=(1, 1, 2),
        cross_attention_dim=40,
        attention_head_dim=(2, 4, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=16 + 6 * 256,
    )


def _ours_and_theirs(params: UNetParams, theirs: UNet2DConditionModel, seed: int):
    ours = randomize_(UNetModel(params), seed).eval()
    converted = convert_ldm_unet_checkpoint(
        {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}, dict(theirs.config)
    )
    theirs.load_state_dict(converted, strict=True)
    return ours, theirs.eval()


def _inputs(batch: int, ctx_dim: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 4, 16, 16, generator=g)
    t = torch.tensor([999.0, 261.5][:batch])
    ctx = torch.randn(batch, 7, ctx_dim, generator=g)
    return x, t, ctx


SD1_FINGERPRINT = [
    [-0.55859, -0.12965, -0.48590],
    [-0.02948, 0.00509, -1.13063],
    [-0.08589, -0.14100, -1.06389],
]
SDXL_FINGERPRINT = [
    [-0.55734, -0.16890, 0.31733],
    [-0.04340, -0.39135, -0.16837],
    [0.07003, -0.91761, -0.63075],
]


@torch.no_grad()
def test_sd1_style_unet_matches_diffusers() -> None:
    ours, theirs = _ours_and_theirs(SD1_STYLE, _diffusers_sd1(), seed=10)
    x, t, ctx = _inputs(2, 24, seed=11)
    a = ours(x, t, ctx)
    b = theirs(x, t, encoder_hidden_states=ctx).sample
    assert a.shape == (2, 4, 16, 16)
    assert (a - b).abs().max().item() < 2e-5
    torch.testing.assert_close(a[0, 0, :3, :3], torch.tensor(SD1_FINGERPRINT), atol=1e-4, rtol=0)


@torch.no_grad()
def test_sdxl_style_unet_with_adm_matches_diffusers() -> None:
    ours, theirs = _ours_and_theirs(SDXL_STYLE, _diffusers_sdxl(), seed=20)
    x, t, ctx = _inputs(2, 40, seed=21)
    g = torch.Generator().manual_seed(22)
    pooled = torch.randn(2, 16, generator=g)
    sizes = [[1024, 768, 0, 16, 1024, 768], [512, 512, 8, 0, 640, 512]]
    y = torch.cat([pooled, torch.cat([_size_embedding(s) for s in sizes])], dim=1)
    a = ours(x, t, ctx, y=y)
    b = theirs(
        x,
        t,
        encoder_hidden_states=ctx,
        added_cond_kwargs={"text_embeds": pooled, "time_ids": torch.tensor(sizes, dtype=torch.float32)},
    ).sample
    assert (a - b).abs().max().item() < 2e-5
    torch.testing.assert_close(a[0, 0, :3, :3], torch.tensor(SDXL_FINGERPRINT), atol=1e-4, rtol=0)


@torch.no_grad()
def test_odd_latent_sizes_follow_the_skip_connection() -> None:
    ours = randomize_(UNetModel(SD1_STYLE), 3).eval()
    x = torch.randn(1, 4, 13, 9)
    out = ours(x, torch.tensor([10.0]), torch.randn(1, 3, 24))
    assert out.shape == x.shape and torch.isfinite(out).all()


@torch.no_grad()
def test_bf16_and_fp8_storage_run_close_to_fp32() -> None:
    from comfy_core.ops import MANUAL_CAST

    ref = randomize_(UNetModel(SD1_STYLE), 4).eval()
    x, t, ctx = _inputs(1, 24, seed=5)
    want = ref(x, t, ctx)
    bf16 = UNetModel(SD1_STYLE, dtype=torch.bfloat16)
    bf16.load_state_dict(ref.state_dict())
    got = bf16(x.bfloat16(), t, ctx.bfloat16()).float()
    assert (got - want).abs().max() < 0.1 * want.abs().max()
    fp8 = UNetModel(SD1_STYLE, dtype=torch.float8_e4m3fn, operations=MANUAL_CAST)
    fp8.load_state_dict(ref.state_dict())
    assert fp8.input_blocks[0][0].weight.dtype == torch.float8_e4m3fn
    got = fp8(x, t, ctx)  # weights cast to the fp32 input per layer
    assert got.dtype == torch.float32
    assert (got - want).abs().max() < 0.25 * want.abs().max()
