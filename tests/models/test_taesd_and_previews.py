from __future__ import annotations

import torch

from comfy_core.families import SD15, SDXL, build_taesd
from comfy_core.models.taesd import TAESD, taesd_decoder, taesd_encoder, taesd_latent_channels
from tests.fixtures.checkpoints import randomize_

DECODE_FINGERPRINT = [
    [-1.02689, -1.09900, -1.16831],
    [-1.03451, -1.07628, -1.09989],
    [-1.17742, -1.08753, -1.01493],
]


def _files(seed: int = 50) -> tuple[dict, dict]:
    enc = randomize_(taesd_encoder(), seed).state_dict()
    dec = randomize_(taesd_decoder(), seed + 1).state_dict()
    return enc, dec


@torch.no_grad()
def test_taesd_round_shapes_and_fingerprint() -> None:
    enc, dec = _files()
    assert taesd_latent_channels(enc) == 4 and taesd_latent_channels(dec) == 4
    model = build_taesd(enc, dec)
    g = torch.Generator().manual_seed(51)
    pixels = torch.rand(1, 3, 64, 48, generator=g) * 2 - 1
    z = model.encode(pixels)
    assert z.shape == (1, 4, 8, 6)
    img = model.decode(torch.randn(1, 4, 8, 6, generator=g))
    assert img.shape == (1, 3, 64, 48)
    torch.testing.assert_close(img[0, 0, :3, :3], torch.tensor(DECODE_FINGERPRINT), atol=1e-4, rtol=0)


@torch.no_grad()
def test_vae_scale_makes_taesd_accept_unscaled_latents() -> None:
    enc, dec = _files()
    preview = build_taesd(None, dec)  # previews decode sampler x0, already in model space
    as_vae = build_taesd(enc, dec, vae_scale=SD15.scale_factor)
    z = torch.randn(1, 4, 4, 4)
    torch.testing.assert_close(as_vae.decode(z), preview.decode(z * SD15.scale_factor))
    # the soft clamp bounds what the decoder sees: huge latents do not blow up
    assert torch.isfinite(preview.decode(z * 1e6)).all()


def test_taesd_state_dict_names() -> None:
    names = set(TAESD().state_dict())
    assert {"taesd_encoder.0.weight", "taesd_decoder.1.weight", "vae_scale", "vae_shift"} <= names


def test_latent_rgb_preview() -> None:
    lat = torch.zeros(1, 4, 2, 3)
    lat[0, 0] = 1.0
    rgb = SD15.latent_to_rgb(lat)
    assert rgb.shape == (1, 2, 3, 3)
    torch.testing.assert_close(rgb[0, 0, 0], (torch.tensor([0.3512, 0.2297, 0.3227]) + 1) / 2)
    rgb = SDXL.latent_to_rgb(torch.zeros(1, 4, 1, 1))
    torch.testing.assert_close(rgb[0, 0, 0], (torch.tensor([0.1084, -0.0175, -0.0011]) + 1) / 2)
