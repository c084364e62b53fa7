"""DPM-Solver++ samplers (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
Probabilistic Models", arXiv:2211.01095) in k-diffusion's sigma parameterisation (t = -log sigma for eps
models, half-logSNR for flow models where noted)."""

from __future__ import annotations

from functools import partial

import torch

from comfy_core.sampling.k_common import (
    UncondCapture,
    get_ancestral_step,
    half_log_snr_to_sigma,
    is_const,
    model_sampling_of,
    noise_scale_of,
    offset_first_sigma_for_snr,
    sigma_to_half_log_snr,
    to_d,
)
from comfy_core.sampling.k_samplers import _rf_ancestral, _step_info
from comfy_core.sampling.noise import BrownianTreeNoiseSampler, default_noise_sampler


def _sigma_fn(t: torch.Tensor) -> torch.Tensor:
    return t.neg().exp()


def _t_fn(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.log().neg()


@torch.no_grad()
def sample_dpmpp_2s_ancestral(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    """Ancestral DPM-Solver++(2S) (Lu et al. 2022, arXiv:2211.01095, Algorithm 1 with ancestral noise)."""
    ms = model_sampling_of(model)
    if is_const(ms):
        return _dpmpp_2s_ancestral_rf(
            model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, cfg_pp=False
        )
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigma_down == 0:
            d = to_d(x, sigmas[i], denoised)
            dt = sigma_down - sigmas[i]
            x = x + d * dt
        else:
            t, t_next = _t_fn(sigmas[i]), _t_fn(sigma_down)
            r = 1 / 2
            h = t_next - t
            s = t + r * h
            x_2 = (_sigma_fn(s) / _sigma_fn(t)) * x - (-h * r).expm1() * denoised
            denoised_2 = model(x_2, _sigma_fn(s) * s_in, **extra_args)
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def _dpmpp_2s_ancestral_rf(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, cfg_pp):
    """DPM-Solver++(2S) ancestral for rectified flow, optionally with CFG++."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_noise = s_noise * noise_scale_of(model_sampling_of(model))
    capture = UncondCapture(extra_args) if cfg_pp else None
    s_in = x.new_ones([x.shape[0]])

    def sigma_fn(lbda):
        return (lbda.exp() + 1) ** -1

    def lambda_fn(sigma):
        return ((1 - sigma) / sigma).log()

    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        base = capture.value if capture is not None else denoised
        guidance_vector = denoised - base if capture is not None else None
        sigma_down, alpha_ip1, alpha_down, renoise_coeff = _rf_ancestral(sigmas[i], sigmas[i + 1], eta)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            d = to_d(x, sigmas[i], base)
            dt = sigma_down - sigmas[i]
            x = x + d * dt
        else:
            if sigmas[i] == 1.0:
                sigma_s = 0.9999
            else:
                t_i, t_down = lambda_fn(sigmas[i]), lambda_fn(sigma_down)
                r = 1 / 2
                h = t_down - t_i
                s = t_i + r * h
                sigma_s = sigma_fn(s)
            sigma_s_i_ratio = sigma_s / sigmas[i]
            u = sigma_s_i_ratio * x + (1 - sigma_s_i_ratio) * base
            d_i = model(u, sigma_s * s_in, **extra_args)
            if capture is not None:
                d_i = capture.value
            sigma_down_i_ratio = sigma_down / sigmas[i]
            x = sigma_down_i_ratio * x + (1 - sigma_down_i_ratio) * d_i
        if sigmas[i + 1] > 0 and eta > 0:
            x = (alpha_ip1 / alpha_down) * x + noise_sampler(
                sigmas[i], sigmas[i + 1]
            ) * s_noise * renoise_coeff
        if guidance_vector is not None:
            x += (1 - sigmas[i + 1]) * guidance_vector
    return x


@torch.no_grad()
def sample_dpmpp_2s_ancestral_cfg_pp(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    """Ancestral DPM-Solver++(2S) with CFG++ (Chung et al. 2024)."""
    ms = model_sampling_of(model)
    if is_const(ms):
        return _dpmpp_2s_ancestral_rf(
            model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, cfg_pp=True
        )
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_noise = s_noise * noise_scale_of(ms)
    capture = UncondCapture(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        uncond_denoised = capture.value
        guidance_vector = denoised - uncond_denoised
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigma_down == 0:
            d = to_d(x, sigmas[i], uncond_denoised)
            dt = sigma_down - sigmas[i]
            x = x + d * dt
        else:
            t, t_next = _t_fn(sigmas[i]), _t_fn(sigma_down)
            r = 1 / 2
            h = t_next - t
            s = t + r * h
            x_2 = (_sigma_fn(s) / _sigma_fn(t)) * x - (-h * r).expm1() * uncond_denoised
            model(x_2, _sigma_fn(s) * s_in, **extra_args)
            uncond_denoised_2 = capture.value
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * uncond_denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        x += guidance_vector
    return x


def _brownian_sampler(x, sigmas, extra_args, noise_sampler, cpu):
    if noise_sampler is not None:
        return noise_sampler
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    return BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=extra_args.get("seed"), cpu=cpu)


@torch.no_grad()
def sample_dpmpp_sde(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    r=1 / 2,
    _cpu_tree=True,
):
    """DPM-Solver++ (stochastic, 2 stages per step) with Brownian-tree noise (k-diffusion)."""
    if len(sigmas) <= 1:
        return x
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = _brownian_sampler(x, sigmas, extra_args, noise_sampler, _cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    ms = model_sampling_of(model)
    sigma_fn = partial(half_log_snr_to_sigma, model_sampling=ms)
    lambda_fn = partial(sigma_to_half_log_snr, model_sampling=ms)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    s_noise = s_noise * noise_scale_of(ms)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = lambda_fn(sigmas[i]), lambda_fn(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        fac = 1 / (2 * r)
        sigma_s_1 = sigma_fn(lambda_s_1)
        alpha_s = sigmas[i] * lambda_s.exp()
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()
        # stage 1
        sd, su = get_ancestral_step(lambda_s.neg().exp(), lambda_s_1.neg().exp(), eta)
        h_ = sd.log().neg() - lambda_s
        x_2 = (alpha_s_1 / alpha_s) * (-h_).exp() * x - alpha_s_1 * (-h_).expm1() * denoised
        if eta > 0 and s_noise > 0:
            x_2 = x_2 + alpha_s_1 * noise_sampler(sigmas[i], sigma_s_1) * s_noise * su
        denoised_2 = model(x_2, sigma_s_1 * s_in, **extra_args)
        # stage 2
        sd, su = get_ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp(), eta)
        h_ = sd.log().neg() - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * denoised_d
        if eta > 0 and s_noise > 0:
            x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


@torch.no_grad()
def sample_dpmpp_sde_gpu(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    r=1 / 2,
):
    """`dpmpp_sde` with the Brownian tree kept on the sampling device."""
    return sample_dpmpp_sde(
        model, x, sigmas, extra_args, callback, disable, eta, s_noise, noise_sampler, r, _cpu_tree=False
    )


@torch.no_grad()
def sample_dpmpp_2m(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095, Algorithm 2)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        t, t_next = _t_fn(sigmas[i]), _t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised
        else:
            h_last = t - _t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M) with CFG++ (Chung et al. 2024)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    capture = UncondCapture(extra_args)
    old_uncond_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        uncond_denoised = capture.value
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        t, t_next = _t_fn(sigmas[i]), _t_fn(sigmas[i + 1])
        h = t_next - t
        if old_uncond_denoised is None or sigmas[i + 1] == 0:
            denoised_mix = -torch.exp(-h) * uncond_denoised
        else:
            h_last = t - _t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_mix = -torch.exp(-h) * uncond_denoised - torch.expm1(-h) * (1 / (2 * r)) * (
                denoised - old_uncond_denoised
            )
        x = denoised + denoised_mix + torch.exp(-h) * x
        old_uncond_denoised = uncond_denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    solver_type="midpoint",
    _cpu_tree=True,
):
    """DPM-Solver++(2M) SDE (Lu et al. 2022, arXiv:2211.01095, Appendix) with Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    if solver_type not in {"heun", "midpoint"}:
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = _brownian_sampler(x, sigmas, extra_args, noise_sampler, _cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    ms = model_sampling_of(model)
    lambda_fn = partial(sigma_to_half_log_snr, model_sampling=ms)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    s_noise = s_noise * noise_scale_of(ms)
    old_denoised = None
    h, h_last = None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = lambda_fn(sigmas[i]), lambda_fn(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + alpha_t * ((-h_eta).expm1().neg() / (-h_eta) + 1) * (1 / r) * (
                        denoised - old_denoised
                    )
                else:
                    x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - old_denoised)
            if eta > 0 and s_noise > 0:
                x = (
                    x
                    + noise_sampler(sigmas[i], sigmas[i + 1])
                    * sigmas[i + 1]
                    * (-2 * h * eta).expm1().neg().sqrt()
                    * s_noise
                )
        old_denoised = denoised
        h_last = h
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde_gpu(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    solver_type="midpoint",
):
    return sample_dpmpp_2m_sde(
        model,
        x,
        sigmas,
        extra_args,
        callback,
        disable,
        eta,
        s_noise,
        noise_sampler,
        solver_type,
        _cpu_tree=False,
    )


@torch.no_grad()
def sample_dpmpp_2m_sde_heun(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    solver_type="heun",
):
    return sample_dpmpp_2m_sde(
        model, x, sigmas, extra_args, callback, disable, eta, s_noise, noise_sampler, solver_type
    )


@torch.no_grad()
def sample_dpmpp_2m_sde_heun_gpu(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    solver_type="heun",
):
    return sample_dpmpp_2m_sde(
        model,
        x,
        sigmas,
        extra_args,
        callback,
        disable,
        eta,
        s_noise,
        noise_sampler,
        solver_type,
        _cpu_tree=False,
    )


@torch.no_grad()
def sample_dpmpp_3m_sde(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    _cpu_tree=True,
):
    """DPM-Solver++(3M) SDE (k-diffusion) with Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = _brownian_sampler(x, sigmas, extra_args, noise_sampler, _cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    ms = model_sampling_of(model)
    lambda_fn = partial(sigma_to_half_log_snr, model_sampling=ms)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    s_noise = s_noise * noise_scale_of(ms)
    denoised_1, denoised_2 = None, None
    h, h_1, h_2 = None, None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = lambda_fn(sigmas[i]), lambda_fn(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
            elif h_1 is not None:
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + (alpha_t * phi_2) * d
            if eta > 0 and s_noise > 0:
                x = (
                    x
                    + noise_sampler(sigmas[i], sigmas[i + 1])
                    * sigmas[i + 1]
                    * (-2 * h * eta).expm1().neg().sqrt()
                    * s_noise
                )
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde_gpu(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    return sample_dpmpp_3m_sde(
        model, x, sigmas, extra_args, callback, disable, eta, s_noise, noise_sampler, _cpu_tree=False
    )
