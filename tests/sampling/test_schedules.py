"""Model-sampling tables and sigma schedules against numbers computed independently here."""

from __future__ import annotations

import math

import pytest
import torch

from comfy_core.sampling import schedulers as sch
from comfy_core.sampling.model_sampling import (
    CONST,
    ModelSamplingDiscrete,
    ModelSamplingDiscreteFlow,
    ModelSamplingFlux,
    make_model_sampling,
)


def sd_sigmas_float64() -> list[float]:
    """SD1.x table by hand: betas linear in sqrt between 0.00085 and 0.012 over 1000 steps."""
    a, b = math.sqrt(0.00085), math.sqrt(0.012)
    out, prod = [], 1.0
    for i in range(1000):
        beta = (a + (b - a) * i / 999) ** 2
        prod *= 1 - beta
        out.append(math.sqrt((1 - prod) / prod))
    return out


@pytest.fixture(scope="module")
def eps():
    return make_model_sampling("eps", ModelSamplingDiscrete)


def test_discrete_table_matches_hand_computation(eps):
    ref = sd_sigmas_float64()
    assert eps.sigmas.dtype == torch.float32 and eps.sigmas.shape == (1000,)
    assert torch.allclose(eps.sigmas.double(), torch.tensor(ref, dtype=torch.float64), rtol=1e-6)
    assert float(eps.sigma_max) == pytest.approx(14.614642, abs=1e-5)
    assert float(eps.sigma_min) == pytest.approx(0.0291675, abs=1e-6)


def test_timestep_sigma_maps(eps):
    assert int(eps.timestep(eps.sigma_max)) == 999
    assert int(eps.timestep(eps.sigma_min)) == 0
    ts = torch.tensor([0.0, 250.0, 999.0])
    assert torch.equal(eps.timestep(eps.sigma(ts)), ts.long())
    half = math.exp((math.log(float(eps.sigmas[499])) + math.log(float(eps.sigmas[500]))) / 2)
    assert float(eps.sigma(torch.tensor(499.5))) == pytest.approx(half, rel=1e-6)
    assert eps.percent_to_sigma(0.0) == 999999999.9
    assert eps.percent_to_sigma(1.0) == 0.0
    assert eps.percent_to_sigma(0.5) == pytest.approx(half, rel=1e-6)


def test_eps_and_v_parameterisations():
    sigma = torch.tensor([2.0])
    x, out = torch.full((1, 1, 1, 1), 3.0), torch.full((1, 1, 1, 1), 0.5)
    eps = make_model_sampling("eps", ModelSamplingDiscrete)
    v = make_model_sampling("v_prediction", ModelSamplingDiscrete)
    assert float(eps.calculate_input(sigma, x)) == pytest.approx(3.0 / math.sqrt(5.0))
    assert float(eps.calculate_denoised(sigma, out, x)) == pytest.approx(3.0 - 0.5 * 2.0)
    assert float(v.calculate_denoised(sigma, out, x)) == pytest.approx(3.0 / 5.0 - 0.5 * 2.0 / math.sqrt(5.0))
    noise, latent = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.25)
    assert float(eps.noise_scaling(sigma, noise, latent)) == pytest.approx(2.25)
    assert float(eps.noise_scaling(sigma, noise, latent, max_denoise=True)) == pytest.approx(
        math.sqrt(5.0) + 0.25
    )


def test_zero_terminal_snr_rescale():
    z = make_model_sampling("v_prediction", ModelSamplingDiscrete, zsnr=True)
    last = 4.8973451890853435e-08
    assert float(z.sigma_max) == pytest.approx(math.sqrt((1 - last) / last), rel=1e-5)
    assert float(z.sigma_min) == pytest.approx(0.0291675, rel=1e-3)


def test_flow_sampling():
    f = make_model_sampling("flow", ModelSamplingDiscreteFlow, shift=3.0)
    assert isinstance(f, CONST)
    t = torch.tensor([0.25])
    assert float(f.sigma(t * 1000)) == pytest.approx(3 * 0.25 / (1 + 2 * 0.25))
    assert float(f.sigma_max) == pytest.approx(1.0)
    assert f.percent_to_sigma(0.5) == pytest.approx(1.5 / 2.0)
    noise, latent = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 2.0)
    assert float(f.noise_scaling(t, noise, latent)) == pytest.approx(0.25 + 0.75 * 2.0)
    assert float(f.inverse_noise_scaling(t, latent)) == pytest.approx(2.0 / 0.75)
    flux = make_model_sampling("flow", ModelSamplingFlux, shift=1.15)
    e = math.exp(1.15)
    assert float(flux.sigma(torch.tensor(0.5))) == pytest.approx(e / (e + 1.0))


def test_scheduler_names_in_comfyui_order():
    assert list(sch.SCHEDULER_NAMES) == [
        "simple",
        "sgm_uniform",
        "karras",
        "exponential",
        "ddim_uniform",
        "beta",
        "normal",
        "linear_quadratic",
        "kl_optimal",
    ]
    assert list(sch.scheduler_handlers()) == list(sch.SCHEDULER_NAMES)
    with pytest.raises(ValueError):
        sch.calculate_sigmas(make_model_sampling("eps", ModelSamplingDiscrete), "nope", 4)


def test_karras_exponential_polyexponential(eps):
    smin, smax = float(eps.sigma_min), float(eps.sigma_max)
    k = sch.calculate_sigmas(eps, "karras", 5)
    hand = [(smax ** (1 / 7) + i / 4 * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7 for i in range(5)] + [0.0]
    assert torch.allclose(k, torch.tensor(hand), rtol=1e-5)
    e = sch.calculate_sigmas(eps, "exponential", 5)
    hand = [math.exp(math.log(smax) + i / 4 * (math.log(smin) - math.log(smax))) for i in range(5)] + [0.0]
    assert torch.allclose(e, torch.tensor(hand), rtol=1e-5)
    assert torch.allclose(sch.get_sigmas_polyexponential(5, smin, smax, rho=1.0), e, rtol=1e-5)


def test_table_schedules(eps):
    s = eps.sigmas
    simple = sch.calculate_sigmas(eps, "simple", 5)
    assert torch.equal(simple, torch.tensor([float(s[-1 - 200 * i]) for i in range(5)] + [0.0]))
    ddim = sch.calculate_sigmas(eps, "ddim_uniform", 5)
    assert torch.equal(ddim, torch.tensor([float(s[i]) for i in (801, 601, 401, 201, 1)] + [0.0]))
    normal = sch.calculate_sigmas(eps, "normal", 5)
    ts = [999, 749.25, 499.5, 249.75, 0]
    assert torch.allclose(
        normal[:-1], torch.stack([eps.sigma(torch.tensor(float(t))) for t in ts]), rtol=1e-6
    )
    assert float(normal[-1]) == 0.0
    sgm = sch.calculate_sigmas(eps, "sgm_uniform", 5)
    ts = [999, 799.2, 599.4, 399.6, 199.8]
    assert torch.allclose(sgm[:-1], torch.stack([eps.sigma(torch.tensor(t)) for t in ts]), rtol=1e-5)


def test_beta_schedule_indices(eps):
    import numpy
    import scipy.stats

    got = sch.calculate_sigmas(eps, "beta", 10)
    q = numpy.rint(scipy.stats.beta.ppf(1 - numpy.arange(10) / 10, 0.6, 0.6) * 999).astype(int)
    idx = [int(q[0])] + [int(b) for a, b in zip(q[:-1], q[1:], strict=True) if a != b]
    assert idx[0] == 999
    assert torch.equal(got, torch.tensor([float(eps.sigmas[i]) for i in idx] + [0.0]))


def test_linear_quadratic_and_kl_optimal(eps):
    smax, smin = float(eps.sigma_max), float(eps.sigma_min)
    lq = sch.calculate_sigmas(eps, "linear_quadratic", 4)
    assert torch.allclose(lq, torch.tensor([1.0, 0.9875, 0.975, 0.725, 0.0]) * smax, rtol=1e-6)
    kl = sch.calculate_sigmas(eps, "kl_optimal", 3)
    mid = math.tan(0.5 * math.atan(smin) + 0.5 * math.atan(smax))
    assert torch.allclose(kl, torch.tensor([smax, mid, smin, 0.0]), rtol=1e-5)


def test_vp_and_laplace_helpers():
    vp = sch.get_sigmas_vp(3)
    hand = [math.sqrt(math.expm1(19.9 * t * t / 2 + 0.1 * t)) for t in (1.0, (1 + 1e-3) / 2, 1e-3)] + [0.0]
    assert torch.allclose(vp, torch.tensor(hand), rtol=1e-5)
    lap = sch.get_sigmas_laplace(5, 0.03, 14.6)
    assert len(lap) == 5 and float(lap[0]) == pytest.approx(14.6) and float(lap[-1]) == pytest.approx(0.03)
    assert float(lap[2]) == pytest.approx(math.exp(0.0))


@pytest.mark.parametrize("name", sch.SCHEDULER_NAMES)
def test_every_schedule_is_descending_and_ends_in_zero(eps, name):
    sig = sch.calculate_sigmas(eps, name, 12)
    assert sig.dtype == torch.float32 and float(sig[-1]) == 0.0
    assert bool(torch.all(sig[:-1] >= sig[1:]))
