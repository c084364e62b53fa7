"""The training tool's pieces that shape what the default model learns: foreground masks and loss weights,
structured (offset + low-resolution) noise, timestep sampling, constant "position" channels."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import torch

from tools.default_model import dataset as ds
from tools.default_model import train as tr
from tools.default_model.recipe import Recipe, unet_params


def test_mask_covers_exactly_the_drawn_shape() -> None:
    rng = random.Random(3)
    for _ in range(6):
        scene = ds.random_scene(rng, ds.training_triples())
        mask = ds.render_mask(scene)
        img = np.asarray(ds.render(scene), dtype=np.float32)
        differs = np.abs(img - np.array(ds.COLOURS[scene.background], dtype=np.float32)).sum(-1) > 1
        assert mask.shape == (128, 128) and 0.0 <= mask.min() and mask.max() <= 1.0
        assert np.array_equal(mask > 0, differs), scene


def test_foreground_weights_favour_the_shape_and_average_one() -> None:
    scenes = [
        ds.Scene("red", "square", "blue", "large", "top left"),
        ds.Scene("red", "star", "blue", "small", "bottom right", 2, -1),
    ]
    assert tr.foreground_weights(scenes, 16, 0.0) is None
    w = tr.foreground_weights(scenes, 16, 4.0)
    assert w.shape == (2, 1, 16, 16)
    torch.testing.assert_close(w.mean(dim=(1, 2, 3)), torch.ones(2))
    inside, outside = w[0, 0, 4, 4], w[0, 0, 14, 14]
    assert torch.isclose(inside / outside, torch.tensor(5.0))
    # the large top-left square (centre 36 px, half extent 27 px) covers latent cells 1..7, dilated 0..8
    assert (w[0, 0, :9, :9] == inside).all() and (w[0, 0, 10:, :] == outside).all()
    assert w[1, 0, 12, 12] > w[1, 0, 2, 2]


def test_structured_noise_adds_low_frequency_energy_only_when_asked() -> None:
    plain = replace(Recipe(), offset_noise=0.0, pyramid_noise_2=0.0, pyramid_noise_4=0.0)
    a = tr.structured_noise(torch.Size((64, 4, 16, 16)), plain, torch.Generator().manual_seed(1))
    b = torch.randn((64, 4, 16, 16), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)

    def quadrant_std(x: torch.Tensor) -> float:
        return float(torch.nn.functional.avg_pool2d(x, 8).std())

    pyramid = replace(plain, pyramid_noise_2=0.35, pyramid_noise_4=0.25)
    c = tr.structured_noise(torch.Size((64, 4, 16, 16)), pyramid, torch.Generator().manual_seed(1))
    assert quadrant_std(b) < 0.16 < 0.3 < quadrant_std(c)
    assert abs(float(c.mean())) < 0.1


def test_high_noise_share_of_timesteps() -> None:
    g = torch.Generator().manual_seed(0)
    t = tr.sample_timesteps(20000, 0.3, g)
    assert t.min() >= 0 and t.max() <= 999
    share = float((t >= 750).float().mean())
    assert abs(share - (0.25 + 0.75 * 0.3)) < 0.02, share
    assert abs(float((tr.sample_timesteps(20000, 0.0, g) >= 750).float().mean()) - 0.25) < 0.02


def test_position_channels_are_constant_and_padding_tells_corners_apart() -> None:
    unet = tr.UNetModel(unet_params(64, 64))
    tr.init_weights(unet)
    tr.seed_position_channels(unet, 8)
    conv = unet.input_blocks[0][0]
    out = conv(torch.randn(2, 4, 16, 16))[:, :8]
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))
    assert out[0, :, 0, 0].tolist() == [1.0, -1.0] * 4
    # one zero-padded 3x3 convolution of a constant field at 2x2: four different corner values
    probe = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    torch.nn.init.uniform_(probe.weight, 0.5, 1.5)
    corners = probe(torch.ones(1, 1, 2, 2)).flatten()
    assert len(set(corners.tolist())) == 4
