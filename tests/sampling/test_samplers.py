"""Every KSampler name runs, converges on analytic Gaussian data, and follows ComfyUI's conventions."""

from __future__ import annotations

import warnings

import pytest
import torch

from comfy_core.sampling import k_samplers
from comfy_core.sampling.ksampler import (
    KSAMPLER_NAMES,
    SAMPLER_NAMES,
    KSampler,
    common_ksampler,
    sampler_function,
    sampler_object,
)
from comfy_core.sampling.noise import prepare_noise
from comfy_core.sampling.schedulers import calculate_sigmas
from tests.sampling.toy_models import FlowGaussianModel, GaussianModel, cond, pf_ode_solution

COMFY_SAMPLERS_V080 = (
    "euler, euler_cfg_pp, euler_ancestral, euler_ancestral_cfg_pp, heun, heunpp2, exp_heun_2_x0, "
    "exp_heun_2_x0_sde, dpm_2, dpm_2_ancestral, lms, dpm_fast, dpm_adaptive, dpmpp_2s_ancestral, "
    "dpmpp_2s_ancestral_cfg_pp, dpmpp_sde, dpmpp_sde_gpu, dpmpp_2m, dpmpp_2m_cfg_pp, dpmpp_2m_sde, "
    "dpmpp_2m_sde_gpu, dpmpp_2m_sde_heun, dpmpp_2m_sde_heun_gpu, dpmpp_3m_sde, dpmpp_3m_sde_gpu, ddpm, lcm, "
    "ipndm, ipndm_v, deis, res_multistep, res_multistep_cfg_pp, res_multistep_ancestral, "
    "res_multistep_ancestral_cfg_pp, gradient_estimation, gradient_estimation_cfg_pp, er_sde, seeds_2, "
    "seeds_3, sa_solver, sa_solver_pece, ddim, uni_pc, uni_pc_bh2"
).split(", ")

# deterministic samplers: max |x - exact probability-flow ODE solution| after 30 karras steps
ODE_TOLERANCE = {
    "euler": 0.15,
    "ddim": 0.15,
    "heunpp2": 0.15,
    "gradient_estimation": 0.15,
    "dpm_adaptive": 0.1,
    "heun": 0.03,
    "exp_heun_2_x0": 0.03,
    "dpm_2": 0.03,
    "lms": 0.03,
    "dpm_fast": 0.03,
    "dpmpp_2m": 0.03,
    "ipndm": 0.03,
    "ipndm_v": 0.03,
    "deis": 0.03,
    "res_multistep": 0.03,
    "uni_pc": 0.03,
    "uni_pc_bh2": 0.03,
}
# stochastic samplers: sample mean/std must match the data N(1, 0.5^2); first-order ancestral ones are looser
SDE_STD_TOLERANCE = {"euler_ancestral": 0.07, "ddpm": 0.07}
SDE_SAMPLERS = (
    "euler_ancestral",
    "exp_heun_2_x0_sde",
    "dpm_2_ancestral",
    "dpmpp_2s_ancestral",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "res_multistep_ancestral",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
)
CFG_PP_PAIRS = {
    "euler_cfg_pp": "euler",
    "euler_ancestral_cfg_pp": "euler_ancestral",
    "dpmpp_2s_ancestral_cfg_pp": "dpmpp_2s_ancestral",
    "dpmpp_2m_cfg_pp": "dpmpp_2m",
    "res_multistep_cfg_pp": "res_multistep",
    "res_multistep_ancestral_cfg_pp": "res_multistep_ancestral",
    "gradient_estimation_cfg_pp": "gradient_estimation",
}
LATENT = {"samples": torch.zeros(16, 4, 16, 16)}


def run(
    name: str,
    steps: int = 30,
    cfg: float = 1.0,
    pos: float = 1.0,
    neg: float = 0.0,
    seed: int = 1,
    model=None,
):
    model = model or GaussianModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchsde warns about float rounding at the interval ends
        out = common_ksampler(model, seed, steps, cfg, name, "karras", cond(pos), cond(neg), LATENT)
    return out["samples"], model


def test_sampler_names_match_comfyui_order():
    assert list(SAMPLER_NAMES) == COMFY_SAMPLERS_V080
    assert len(SAMPLER_NAMES) == 44 and len(KSAMPLER_NAMES) == 41


@pytest.mark.parametrize("name", KSAMPLER_NAMES)
def test_every_ksampler_name_has_a_function(name):
    assert callable(sampler_function(name))
    assert callable(sampler_object(name).sampler_function)


def test_every_name_is_classified():
    classified = set(ODE_TOLERANCE) | set(SDE_SAMPLERS) | set(CFG_PP_PAIRS) | {"lcm"}
    assert classified == set(SAMPLER_NAMES)


@pytest.mark.parametrize("name", sorted(ODE_TOLERANCE))
def test_deterministic_samplers_follow_the_probability_flow_ode(name):
    out, model = run(name)
    smax = float(model.model_sampling.sigma_max)
    noise = prepare_noise(LATENT["samples"], 1)
    # max_denoise: the start noise is scaled to unit-variance x_T = noise * sqrt(1 + sigma_max^2)
    exact = pf_ode_solution(noise * (1 + smax**2) ** 0.5, smax, 1.0, 0.5)
    err = (out - exact).abs().max().item()
    assert err < ODE_TOLERANCE[name], err


@pytest.mark.parametrize("name", SDE_SAMPLERS)
def test_stochastic_samplers_reproduce_the_data_distribution(name):
    out, _ = run(name)
    assert abs(out.mean().item() - 1.0) < 0.04, out.mean()
    assert abs(out.std().item() - 0.5) < SDE_STD_TOLERANCE.get(name, 0.03)


@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2m_sde", "seeds_3", "sa_solver"])
def test_stochastic_samplers_are_seeded(name):
    out = run(name, steps=6)[0]
    assert torch.equal(out, run(name, steps=6)[0])  # same seed -> same picture
    assert not torch.allclose(out, run(name, steps=6, seed=2)[0])


@pytest.mark.parametrize(("name", "base"), sorted(CFG_PP_PAIRS.items()))
def test_cfg_pp_equals_base_sampler_when_uncond_equals_cond(name, base):
    out, model = run(name, steps=12, cfg=3.0, pos=1.0, neg=1.0)
    ref, _ = run(base, steps=12, cfg=3.0, pos=1.0, neg=1.0)
    assert torch.allclose(out, ref, atol=2e-4), (out - ref).abs().max()
    assert all(c["batch"] == 32 for c in model.calls)  # cond + uncond even though they are equal


@pytest.mark.parametrize(
    ("gpu", "cpu"),
    [
        ("dpmpp_sde_gpu", "dpmpp_sde"),
        ("dpmpp_2m_sde_gpu", "dpmpp_2m_sde"),
        ("dpmpp_3m_sde_gpu", "dpmpp_3m_sde"),
        ("dpmpp_2m_sde_heun_gpu", "dpmpp_2m_sde_heun"),
    ],
)
def test_gpu_noise_variants_match_on_cpu(gpu, cpu):
    assert torch.equal(run(gpu, steps=8)[0], run(cpu, steps=8)[0])


def test_lcm_jumps_to_the_prediction_and_renoises_with_noise_scaling():
    class Constant(GaussianModel):
        def apply_model(self, x, sigma, **kw):
            self.calls.append({"sigma": sigma})
            return torch.full_like(x, 0.25)

    model = Constant()
    out, _ = run("lcm", steps=4, model=model)
    assert torch.equal(out, torch.full_like(out, 0.25))
    assert len(model.calls) == 4


def test_ddim_is_euler_with_random_inpaint_noise():
    assert sampler_object("ddim").sampler_function is k_samplers.sample_euler
    assert sampler_object("ddim").inpaint_options == {"random": True}
    assert torch.equal(run("ddim", steps=6)[0], run("euler", steps=6)[0])


@pytest.mark.parametrize("name", ["dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"])
def test_discard_penultimate_sigma(name):
    model = GaussianModel()
    ks = KSampler(model, steps=10, sampler=name, scheduler="karras")
    full = calculate_sigmas(model.model_sampling, "karras", 11)
    assert len(ks.sigmas) == 11
    assert torch.equal(ks.sigmas, torch.cat([full[:-2], full[-1:]]))
    assert len(KSampler(model, steps=10, sampler="euler", scheduler="karras").sigmas) == 11


@pytest.mark.parametrize("name", ["euler", "dpmpp_2m", "dpm_fast", "uni_pc", "dpmpp_sde", "sa_solver"])
def test_callback_reports_each_step(name):
    """One callback per step; DPM-Solver-Fast reports its 3rd-order macro steps (6 evaluations -> 3)."""
    seen = []
    model = GaussianModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        common_ksampler(
            model,
            3,
            6,
            1.0,
            name,
            "karras",
            cond(1.0),
            cond(0.0),
            {"samples": torch.zeros(1, 4, 4, 4)},
            callback=lambda i, x0, x, total: seen.append((i, x0.shape, x.shape, total)),
        )
    assert [s[0] for s in seen] == list(range(3 if name == "dpm_fast" else 6))
    assert all(s[1] == s[2] == (1, 4, 4, 4) and s[3] == 6 for s in seen)


@pytest.mark.parametrize(
    "name", ["euler", "euler_ancestral", "dpmpp_2m_sde", "dpmpp_2s_ancestral", "uni_pc", "er_sde", "seeds_2"]
)
def test_flow_models_sample_the_flow_posterior(name):
    from comfy_core.sampling.model_sampling import ModelSamplingDiscreteFlow, make_model_sampling

    model = FlowGaussianModel(
        model_sampling=make_model_sampling("flow", ModelSamplingDiscreteFlow, shift=3.0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = common_ksampler(model, 5, 100, 1.0, name, "simple", cond(1.0), cond(0.0), LATENT)["samples"]
    assert abs(out.mean().item() - 1.0) < 0.02, out.mean()
    assert abs(out.std().item() - 0.5) < 0.04, out.std()


# Regression fingerprints of our own output (6 karras steps, seed 7, 1x4x8x8, cfg 1): catch any numeric change.
FINGERPRINT_LATENT = {"samples": torch.zeros(1, 4, 8, 8)}


def fingerprint(name: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = common_ksampler(
            GaussianModel(), 7, 6, 1.0, name, "karras", cond(1.0), cond(0.0), FINGERPRINT_LATENT
        )
    return round(float(out["samples"].double().abs().sum()), 3)


FINGERPRINTS = {
    "euler": 242.803,
    "euler_cfg_pp": 340.2,
    "euler_ancestral": 256.619,
    "euler_ancestral_cfg_pp": 276.437,
    "heun": 242.12,
    "heunpp2": 242.536,
    "exp_heun_2_x0": 241.178,
    "exp_heun_2_x0_sde": 264.073,
    "dpm_2": 240.931,
    "dpm_2_ancestral": 269.471,
    "lms": 241.833,
    "dpm_fast": 241.972,
    "dpm_adaptive": 240.909,
    "dpmpp_2s_ancestral": 257.137,
    "dpmpp_2s_ancestral_cfg_pp": 316.024,
    "dpmpp_sde": 259.344,
    "dpmpp_sde_gpu": 259.344,
    "dpmpp_2m": 240.92,
    "dpmpp_2m_cfg_pp": 718.88,
    "dpmpp_2m_sde": 261.146,
    "dpmpp_2m_sde_gpu": 261.146,
    "dpmpp_2m_sde_heun": 269.662,
    "dpmpp_2m_sde_heun_gpu": 269.662,
    "dpmpp_3m_sde": 297.998,
    "dpmpp_3m_sde_gpu": 297.998,
    "ddpm": 256.619,
    "lcm": 256.277,
    "ipndm": 240.97,
    "ipndm_v": 240.834,
    "deis": 241.141,
    "res_multistep": 241.421,
    "res_multistep_cfg_pp": 181.407,
    "res_multistep_ancestral": 266.658,
    "res_multistep_ancestral_cfg_pp": 133.41,
    "gradient_estimation": 240.991,
    "gradient_estimation_cfg_pp": 230.808,
    "er_sde": 251.792,
    "seeds_2": 268.247,
    "seeds_3": 258.267,
    "sa_solver": 260.423,
    "sa_solver_pece": 259.46,
    "ddim": 242.803,
    "uni_pc": 241.203,
    "uni_pc_bh2": 240.887,
}


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_sampler_fingerprint(name):
    assert fingerprint(name) == pytest.approx(FINGERPRINTS[name], abs=2e-3)
