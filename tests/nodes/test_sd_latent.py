"""Latent and VAE nodes: shapes and values (ComfyUI's arithmetic), on plain tensors and a recording VAE."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from comfy_core.families.vae_object import VAE, PixelSpace
from nodes.latent import (
    EmptyLatentImage,
    LatentBlend,
    LatentComposite,
    LatentCompositeMasked,
    LatentCrop,
    LatentFromBatch,
    LatentUpscale,
    LatentUpscaleBy,
    RepeatLatentBatch,
    SetLatentNoiseMask,
    VAEDecode,
    VAEDecodeTiled,
    VAEEncode,
    VAEEncodeForInpaint,
    VAEEncodeTiled,
)


def ramp(*shape: int) -> torch.Tensor:
    return torch.arange(torch.Size(shape).numel(), dtype=torch.float32).reshape(shape)


class RecordingVAE:
    """Downscale 8: encode = 8x8 average pool of the pixels (channels last in, first out)."""

    downscale_ratio = 8

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.seen.append(pixels)
        return F.avg_pool2d(pixels.movedim(-1, 1), 8)


def test_empty_latent_image() -> None:
    (out,) = EmptyLatentImage().generate(72, 48, 3)
    assert list(out) == ["samples"]
    assert out["samples"].shape == (3, 4, 6, 9) and not out["samples"].any()


def test_set_latent_noise_mask_reshapes_and_copies() -> None:
    latent = {"samples": torch.zeros(2, 4, 4, 4), "batch_index": [0, 1]}
    (out,) = SetLatentNoiseMask().set_mask(latent, torch.ones(32, 32))
    assert out["noise_mask"].shape == (1, 1, 32, 32) and "noise_mask" not in latent
    assert out["batch_index"] == [0, 1]


def test_latent_upscale_sizes_and_values() -> None:
    latent = {"samples": ramp(1, 4, 8, 16)}
    (out,) = LatentUpscale().upscale(latent, "nearest-exact", 256, 128, "disabled")
    assert out["samples"].shape == (1, 4, 16, 32)
    assert torch.equal(out["samples"][:, :, ::2, ::2], latent["samples"])
    (keep,) = LatentUpscale().upscale(latent, "bilinear", 0, 0, "disabled")
    assert keep is latent
    (aspect,) = LatentUpscale().upscale(latent, "bilinear", 0, 32, "disabled")  # height clamps to 64
    assert aspect["samples"].shape == (1, 4, 8, 16)
    (by,) = LatentUpscaleBy().upscale(latent, "bicubic", 1.5)
    assert by["samples"].shape == (1, 4, 12, 24)


def test_latent_composite_plain_and_feathered() -> None:
    to = {"samples": torch.zeros(1, 1, 8, 8)}
    src = {"samples": torch.ones(1, 1, 4, 4)}
    (out,) = LatentComposite().composite(to, src, 16, 8, 0)
    expected = torch.zeros(1, 1, 8, 8)
    expected[:, :, 1:5, 2:6] = 1
    assert torch.equal(out["samples"], expected) and not to["samples"].any()
    (feathered,) = LatentComposite().composite(to, src, 16, 8, 16)
    row = feathered["samples"][0, 0, 3, 2:6]
    assert row.tolist() == pytest.approx([0.5, 1.0, 1.0, 0.5])
    assert feathered["samples"][0, 0, 1, 3] == pytest.approx(0.5)


def test_latent_composite_masked() -> None:
    dest = {"samples": torch.zeros(1, 4, 8, 8), "extra": 1}
    src = {"samples": torch.ones(1, 4, 8, 8)}
    mask = torch.zeros(64, 64)
    mask[:, :32] = 1.0
    out = LatentCompositeMasked.execute(dest, src, 0, 0, False, mask).result[0]
    assert out["extra"] == 1
    assert torch.equal(out["samples"][0, 0, :, :4], torch.ones(8, 4))
    assert not out["samples"][0, :, :, 4:].any()
    full = LatentCompositeMasked.execute(dest, src, 16, 0, False).result[0]
    assert not full["samples"][..., :2].any() and full["samples"][..., 2:].eq(1).all()


def test_latent_blend() -> None:
    a = {"samples": torch.full((1, 4, 4, 4), 2.0)}
    b = {"samples": torch.zeros(1, 4, 4, 4)}
    (out,) = LatentBlend().blend(a, b, 0.25)
    assert torch.allclose(out["samples"], torch.full((1, 4, 4, 4), 0.5))
    (resized,) = LatentBlend().blend(a, {"samples": torch.zeros(1, 4, 2, 2)}, 0.5)
    assert resized["samples"].shape == (1, 4, 4, 4)


def test_latent_crop_keeps_the_corner_inside() -> None:
    latent = {"samples": ramp(1, 1, 16, 16)}
    (out,) = LatentCrop().crop(latent, 64, 64, 16, 24)
    assert torch.equal(out["samples"], latent["samples"][:, :, 3:11, 2:10])
    (edge,) = LatentCrop().crop(latent, 128, 128, 512, 512)  # x, y clamp to 8 latent pixels from the edge
    assert torch.equal(edge["samples"], latent["samples"][:, :, 8:, 8:])


def test_latent_from_batch_and_repeat() -> None:
    latent = {"samples": ramp(4, 1, 2, 2), "noise_mask": ramp(2, 1, 2, 2)}
    (out,) = LatentFromBatch().frombatch(latent, 1, 2)
    assert torch.equal(out["samples"], latent["samples"][1:3])
    assert out["batch_index"] == [1, 2]
    # 2 masks for 4 latents are tiled to 4 before slicing
    assert torch.equal(out["noise_mask"], latent["noise_mask"][[1, 0]])
    (clamped,) = LatentFromBatch().frombatch(latent, 10, 5)
    assert clamped["samples"].shape[0] == 1 and clamped["batch_index"] == [3]
    (rep,) = RepeatLatentBatch().repeat(out, 3)
    assert rep["samples"].shape == (6, 1, 2, 2)
    assert rep["batch_index"] == [1, 2, 3, 4, 5, 6]
    assert rep["noise_mask"].shape == (6, 1, 2, 2)


def test_vae_encode_for_inpaint_crops_greys_and_grows() -> None:
    vae = RecordingVAE()
    pixels = torch.rand(1, 20, 19, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 20, 19)
    mask[:, 8:12, 8:12] = 1.0
    (out,) = VAEEncodeForInpaint().encode(vae, pixels, mask, grow_mask_by=6)
    seen = vae.seen[0]
    assert seen.shape == (1, 16, 16, 3)  # centre crop offsets (2, 1)
    assert torch.all(seen[0, 6:10, 7:11] == 0.5)  # masked pixels are grey
    assert torch.equal(seen[0, 0, 0], pixels[0, 2, 1])
    assert out["samples"].shape == (1, 3, 2, 2)
    noise_mask = out["noise_mask"]
    assert noise_mask.shape == (1, 1, 16, 16)
    assert noise_mask[0, 0].sum() == 9 * 9  # a 4x4 square under a 6x6 box filter covers 9x9
    (ungrown,) = VAEEncodeForInpaint().encode(RecordingVAE(), pixels, mask, grow_mask_by=0)
    assert ungrown["noise_mask"][0, 0].sum() == 16


def test_vae_nodes_with_pixel_space_vae() -> None:
    vae = VAE(PixelSpace(), latent_channels=3, downscale_ratio=1, device=torch.device("cpu"))
    image = torch.rand(2, 24, 16, 3, generator=torch.Generator().manual_seed(1))
    (latent,) = VAEEncode().encode(vae, image)
    assert torch.allclose(latent["samples"], image.movedim(-1, 1) * 2 - 1)
    (decoded,) = VAEDecode().decode(vae, latent)
    assert torch.allclose(decoded, image, atol=1e-6)
    (tiled,) = VAEEncodeTiled().encode(vae, image, 64, 0, 64, 8)
    assert torch.allclose(tiled["samples"], latent["samples"], atol=1e-6)
    (tiled_img,) = VAEDecodeTiled().decode(vae, latent, 64, 64, 64, 8)
    assert torch.allclose(tiled_img, image, atol=1e-5)


def test_tiled_decode_matches_plain_decode_for_a_smooth_vae() -> None:
    """A VAE made of an 8x nearest upsample: tiles blend back into exactly the plain result."""

    class Upsample(torch.nn.Module):
        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(x, 8)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return F.interpolate(z, scale_factor=8, mode="nearest")

    vae = VAE(Upsample(), latent_channels=3, downscale_ratio=8, device=torch.device("cpu"))
    z = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(2)) * 2 - 1
    plain = VAEDecode().decode(vae, {"samples": z})[0]
    (tiled,) = VAEDecodeTiled().decode(vae, {"samples": z}, 128, 32, 64, 8)
    assert tiled.shape == plain.shape == (1, 192, 192, 3)
    assert torch.allclose(tiled, plain, atol=1e-5)
