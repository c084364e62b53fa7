"""Seeded noise: the same bits ComfyUI draws for a seed, batch_index semantics, per-step noise samplers."""

from __future__ import annotations

import warnings

import torch

from comfy_core.sampling.noise import (
    BrownianTreeNoiseSampler,
    Noise_EmptyNoise,
    Noise_RandomNoise,
    default_noise_sampler,
    fix_empty_latent_channels,
    prepare_noise,
)


def test_prepare_noise_is_torch_manual_seed_randn():
    # torch.manual_seed(0); torch.randn(5) -> the well-known first five draws of torch's CPU generator
    noise = prepare_noise(torch.zeros(1, 1, 1, 5), 0)
    assert torch.allclose(
        noise.flatten(), torch.tensor([1.5410, -0.2934, -2.1788, 0.5684, -1.0845]), atol=1e-4
    )
    latent = torch.zeros(2, 4, 8, 8)
    expected = torch.randn(latent.shape, generator=torch.Generator().manual_seed(123456789))
    assert torch.equal(prepare_noise(latent, 123456789), expected)
    big = prepare_noise(torch.zeros(1, 4, 2, 2), 2**64 - 1)  # the KSampler seed widget's maximum
    assert big.shape == (1, 4, 2, 2)


def test_prepare_noise_seeds_the_global_generator():
    prepare_noise(torch.zeros(1, 4, 4, 4), 77)
    after = torch.randn(3)
    g = torch.Generator().manual_seed(77)
    torch.randn((1, 4, 4, 4), generator=g)
    assert torch.equal(after, torch.randn(3, generator=g))


def test_prepare_noise_draws_fp32_then_casts():
    latent = torch.zeros(1, 4, 4, 4, dtype=torch.bfloat16)
    noise = prepare_noise(latent, 5)
    assert noise.dtype == torch.bfloat16
    assert torch.equal(noise, prepare_noise(torch.zeros(1, 4, 4, 4), 5).to(torch.bfloat16))


def test_batch_index_picks_the_per_latent_draw():
    latent = torch.zeros(2, 4, 4, 4)
    g = torch.Generator().manual_seed(9)
    singles = [torch.randn((1, 4, 4, 4), generator=g) for _ in range(3)]
    noise = prepare_noise(latent, 9, [2, 0])
    assert torch.equal(noise[0:1], singles[2]) and torch.equal(noise[1:2], singles[0])
    dup = prepare_noise(latent, 9, [1, 1])
    assert torch.equal(dup[0], dup[1]) and torch.equal(dup[0:1], singles[1])


def test_default_noise_sampler_uses_seed_plus_one_on_cpu():
    x = torch.zeros(2, 3)
    ns = default_noise_sampler(x, seed=10)
    g = torch.Generator().manual_seed(11)
    assert torch.equal(ns(1.0, 0.5), torch.randn((2, 3), generator=g))
    assert torch.equal(ns(0.5, 0.1), torch.randn((2, 3), generator=g))


def test_brownian_tree_noise_is_seeded_and_consistent():
    x = torch.zeros(4, 4, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=5, cpu=True)
        b = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=5, cpu=True)
        c = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=6, cpu=True)
        n1 = a(torch.tensor(10.0), torch.tensor(5.0))
        assert torch.equal(n1, b(torch.tensor(10.0), torch.tensor(5.0)))
        assert not torch.allclose(n1, c(torch.tensor(10.0), torch.tensor(5.0)))
        assert abs(n1.std().item() - 1.0) < 0.1
        # increments of one Brownian path add up: W(10)-W(2) = (W(10)-W(5)) + (W(5)-W(2))
        w = lambda s0, s1: a(torch.tensor(s0), torch.tensor(s1)) * abs(s1 - s0) ** 0.5  # noqa: E731
        assert torch.allclose(w(10.0, 2.0), w(10.0, 5.0) + w(5.0, 2.0), atol=1e-3)


def test_fix_empty_latent_channels():
    empty = torch.zeros(1, 4, 8, 8)
    assert fix_empty_latent_channels(empty, 16).shape == (1, 16, 8, 8)
    assert fix_empty_latent_channels(empty, None) is empty
    full = torch.ones(1, 4, 8, 8)
    assert fix_empty_latent_channels(full, 16) is full


def test_noise_objects():
    latent = {"samples": torch.zeros(2, 4, 4, 4), "batch_index": [3, 1]}
    assert torch.equal(
        Noise_RandomNoise(4).generate_noise(latent), prepare_noise(latent["samples"], 4, [3, 1])
    )
    assert Noise_RandomNoise(4).seed == 4 and Noise_EmptyNoise().seed == 0
    assert torch.equal(Noise_EmptyNoise().generate_noise(latent), torch.zeros(2, 4, 4, 4))
