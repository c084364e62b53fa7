"""Our KL autoencoder against diffusers' AutoencoderKL (weights converted with diffusers' single-file
converter), tiled encode/decode behaviour, and stored fingerprints."""

from __future__ import annotations

import pytest
import torch

from comfy_core.models.vae import AutoencoderKL, VAEParams
from comfy_core.models.vae_tiled import (
    crop_pixels_to_multiple,
    decode_tiled,
    encode_tiled,
    tiled_scale_multidim,
)
from tests.fixtures.checkpoints import randomize_

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersKL  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402

PARAMS = VAEParams(ch=32, ch_mult=(1, 2, 2, 2), num_res_blocks=1)
DECODE_FINGERPRINT = [
    [-0.10998, -0.18535, -0.23228],
    [-0.04992, -0.20450, -0.28137],
    [-0.08499, -0.20165, -0.23774],
]
ENCODE_FINGERPRINT = [
    [-0.44388, -0.45100, -1.07658],
    [0.15665, -1.46572, -0.91007],
    [0.38177, 0.75427, -0.96157],
]


def _vae(seed: int = 30) -> AutoencoderKL:
    return randomize_(AutoencoderKL(PARAMS), seed).eval()


def _theirs(ours: AutoencoderKL) -> DiffusersKL:
    theirs = DiffusersKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 64, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
    )
    sd = convert_ldm_vae_checkpoint(
        {"first_stage_model." + k: v for k, v in ours.state_dict().items()}, dict(theirs.config)
    )
    theirs.load_state_dict(sd, strict=True)
    return theirs.eval()


@torch.no_grad()
def test_vae_encode_mean_and_decode_match_diffusers() -> None:
    ours = _vae()
    theirs = _theirs(ours)
    g = torch.Generator().manual_seed(31)
    pixels = torch.rand(2, 3, 32, 40, generator=g) * 2 - 1
    z = ours.encode(pixels)
    assert z.shape == (2, 4, 4, 5)
    assert (z - theirs.encode(pixels).latent_dist.mean).abs().max() < 2e-5
    latent = torch.randn(1, 4, 6, 5, generator=g)
    img = ours.decode(latent)
    assert img.shape == (1, 3, 48, 40)
    assert (img - theirs.decode(latent).sample).abs().max() < 2e-5
    torch.testing.assert_close(z[0, 0, :3, :3], torch.tensor(ENCODE_FINGERPRINT), atol=1e-4, rtol=0)
    torch.testing.assert_close(img[0, 0, :3, :3], torch.tensor(DECODE_FINGERPRINT), atol=1e-4, rtol=0)


def test_encode_is_deterministic_posterior_mean() -> None:
    ours = _vae()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(ours.encode(x), ours.encode(x))
        moments = ours.quant_conv(ours.encoder(x))
        assert torch.equal(ours.encode(x), moments[:, :4])


@torch.no_grad()
def test_tiled_decode_with_one_tile_equals_plain_decode() -> None:
    ours = _vae()
    latent = torch.randn(2, 4, 6, 6)
    plain = ((ours.decode(latent) + 1) / 2).clamp(0, 1)
    tiled = decode_tiled(lambda a: ours.decode(a).float(), latent, tile_x=16, tile_y=16, overlap=2)
    torch.testing.assert_close(tiled, plain, atol=2e-5, rtol=0)


def test_tiling_blends_back_a_local_function_exactly() -> None:
    """With a pointwise 'decoder' (nearest upsample) every overlapping tile agrees, so the feathered,
    normalised blend over many tiles must reproduce the untiled result; checks positions and weights."""
    g = torch.Generator().manual_seed(7)
    latent = torch.randn(1, 4, 37, 23, generator=g)

    def up(a: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(a[:, :3], scale_factor=8, mode="nearest")

    steps: list[int] = []
    out = decode_tiled(up, latent.clamp(-1, 1), tile_x=8, tile_y=8, overlap=2, progress=steps.append)
    torch.testing.assert_close(out, ((up(latent.clamp(-1, 1)) + 1) / 2), atol=1e-5, rtol=0)
    assert len(steps) > 10
    down = encode_tiled(
        lambda a: torch.nn.functional.avg_pool2d(a, 8).repeat(1, 2, 1, 1)[:, :4],
        torch.rand(1, 3, 96, 64),
        tile_x=32,
        tile_y=32,
        overlap=8,
    )
    assert down.shape == (1, 4, 12, 8)


def test_tiled_scale_feather_weights_sum_to_one_region() -> None:
    ones = torch.ones(1, 1, 20, 20)
    out = tiled_scale_multidim(ones, lambda a: a * 3.0, (8, 8), 4, 1.0, 1)
    torch.testing.assert_close(out, torch.full_like(ones, 3.0))


def test_crop_pixels_to_multiple_is_centred() -> None:
    img = torch.arange(1 * 21 * 18 * 3, dtype=torch.float32).reshape(1, 21, 18, 3)
    out = crop_pixels_to_multiple(img, 8)
    assert out.shape == (1, 16, 16, 3)
    assert torch.equal(out, img[:, 2:18, 1:17])


@torch.no_grad()
def test_image_codec_conventions() -> None:
    from comfy_core.models.vae_codec import (
        decode_latent,
        decode_latent_tiled,
        encode_image,
        encode_image_tiled,
    )

    vae = _vae()
    image = torch.rand(2, 35, 42, 4)  # RGBA, not a multiple of 8
    latent = encode_image(vae, image, batch_size=1)
    cropped = image[:, 1:33, 1:41, :3].movedim(-1, 1) * 2 - 1
    torch.testing.assert_close(latent, vae.encode(cropped), atol=1e-5, rtol=0)
    out = decode_latent(vae, latent)
    assert out.shape == (2, 32, 40, 3) and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(
        out, ((vae.decode(latent) + 1) / 2).clamp(0, 1).movedim(1, -1), atol=1e-5, rtol=0
    )
    # tile larger than the image: one tile per pass, same as untiled
    torch.testing.assert_close(decode_latent_tiled(vae, latent, 512, 64), out, atol=2e-5, rtol=0)
    tiled = encode_image_tiled(vae, image, 512, 64)
    torch.testing.assert_close(tiled, latent, atol=2e-5, rtol=0)
