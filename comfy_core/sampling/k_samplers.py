"""First- and second-order ODE/ancestral samplers (k-diffusion style).

Each sampler is `sample_<name>(model, x, sigmas, extra_args=None, callback=None, disable=None, **options)`
with `model(x, sigma_batch, **extra_args) -> denoised`; `callback` gets
`{"x", "i", "sigma", "sigma_hat", "denoised"}` once per step. Noise for ancestral steps comes from
`default_noise_sampler(x, seed=extra_args["seed"])` unless a `noise_sampler` is given.
"""

from __future__ import annotations

from typing import Any

import torch

from comfy_core.sampling.k_common import (
    UncondCapture,
    get_ancestral_step,
    is_const,
    model_sampling_of,
    noise_scale_of,
    sigma_to_half_log_snr,
    to_d,
)
from comfy_core.sampling.noise import default_noise_sampler

Callback = Any


def _churn(sigmas: torch.Tensor, i: int, s_churn: float, s_tmin: float, s_tmax: float) -> float:
    if s_churn > 0 and s_tmin <= sigmas[i] <= s_tmax:
        return min(s_churn / (len(sigmas) - 1), 2**0.5 - 1)
    return 0.0


def _add_churn(
    x: torch.Tensor, sigma: torch.Tensor, sigma_hat: torch.Tensor, gamma: float, s_noise: float
) -> torch.Tensor:
    if gamma > 0:
        eps = torch.randn_like(x) * s_noise
        x = x + eps * (sigma_hat**2 - sigma**2) ** 0.5
    return x


def _step_info(x: torch.Tensor, i: int, sigma: Any, sigma_hat: Any, denoised: torch.Tensor) -> dict:
    return {"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised}


@torch.no_grad()
def sample_euler(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    s_churn=0.0,
    s_tmin=0.0,
    s_tmax=float("inf"),
    s_noise=1.0,
):
    """Euler steps of the probability-flow ODE (Karras et al. 2022, Algorithm 2 without the Heun correction)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        gamma = _churn(sigmas, i, s_churn, s_tmin, s_tmax)
        sigma_hat = sigmas[i] * (gamma + 1) if s_churn > 0 else sigmas[i]
        x = _add_churn(x, sigmas[i], sigma_hat, gamma, s_noise)
        denoised = model(x, sigma_hat * s_in, **extra_args)
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigma_hat, denoised))
        dt = sigmas[i + 1] - sigma_hat
        x = x + d * dt
    return x


@torch.no_grad()
def sample_euler_ancestral(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    """Ancestral Euler (k-diffusion; DDPM-like re-noising of Ho et al. 2020). Flow models use the RF variant."""
    if is_const(model_sampling_of(model)):
        return sample_euler_ancestral_rf(
            model, x, sigmas, extra_args, callback, disable, eta, s_noise, noise_sampler
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
            x = denoised
        else:
            d = to_d(x, sigmas[i], denoised)
            dt = sigma_down - sigmas[i]
            x = x + d * dt + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def _rf_ancestral(sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float) -> tuple[Any, Any, Any, Any]:
    """Rectified-flow ancestral split: returns (sigma_down, alpha_next, alpha_down, renoise_coeff)."""
    downstep_ratio = 1 + (sigma_next / sigma - 1) * eta
    sigma_down = sigma_next * downstep_ratio
    alpha_ip1 = 1 - sigma_next
    alpha_down = 1 - sigma_down
    renoise_coeff = (sigma_next**2 - sigma_down**2 * alpha_ip1**2 / alpha_down**2) ** 0.5
    return sigma_down, alpha_ip1, alpha_down, renoise_coeff


@torch.no_grad()
def sample_euler_ancestral_rf(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    """Ancestral Euler for rectified-flow models: step to sigma_down, rescale, add fresh noise."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_noise = s_noise * noise_scale_of(model_sampling_of(model))
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            sigma_down, alpha_ip1, alpha_down, renoise_coeff = _rf_ancestral(sigmas[i], sigmas[i + 1], eta)
            ratio = sigma_down / sigmas[i]
            x = ratio * x + (1 - ratio) * denoised
            if eta > 0:
                x = (alpha_ip1 / alpha_down) * x + noise_sampler(
                    sigmas[i], sigmas[i + 1]
                ) * s_noise * renoise_coeff
    return x


@torch.no_grad()
def sample_heun(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    s_churn=0.0,
    s_tmin=0.0,
    s_tmax=float("inf"),
    s_noise=1.0,
):
    """Heun's second-order method (Karras et al. 2022, Algorithm 2); Euler on the last step to 0."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        gamma = _churn(sigmas, i, s_churn, s_tmin, s_tmax)
        sigma_hat = sigmas[i] * (gamma + 1)
        x = _add_churn(x, sigmas[i], sigma_hat, gamma, s_noise)
        denoised = model(x, sigma_hat * s_in, **extra_args)
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigma_hat, denoised))
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in, **extra_args)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            d_prime = (d + d_2) / 2
            x = x + d_prime * dt
    return x


@torch.no_grad()
def sample_heunpp2(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    s_churn=0.0,
    s_tmin=0.0,
    s_tmax=float("inf"),
    s_noise=1.0,
):
    """Heun++ (Carzit, sd-webui-samplers-scheduler): up to three derivative evaluations per step,
    weighted by sigma / (k * sigma_0)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        gamma = min(s_churn / (len(sigmas) - 1), 2**0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.0
        eps = torch.randn_like(x) * s_noise  # drawn every step, as in ComfyUI (keeps the global RNG in step)
        sigma_hat = sigmas[i] * (gamma + 1)
        if gamma > 0:
            x = x + eps * (sigma_hat**2 - sigmas[i] ** 2) ** 0.5
        denoised = model(x, sigma_hat * s_in, **extra_args)
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigma_hat, denoised))
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == s_end:
            x = x + d * dt
        elif sigmas[i + 2] == s_end:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in, **extra_args)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            w = 2 * sigmas[0]
            w2 = sigmas[i + 1] / w
            w1 = 1 - w2
            d_prime = d * w1 + d_2 * w2
            x = x + d_prime * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in, **extra_args)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            dt_2 = sigmas[i + 2] - sigmas[i + 1]
            x_3 = x_2 + d_2 * dt_2
            denoised_3 = model(x_3, sigmas[i + 2] * s_in, **extra_args)
            d_3 = to_d(x_3, sigmas[i + 2], denoised_3)
            w = 3 * sigmas[0]
            w2 = sigmas[i + 1] / w
            w3 = sigmas[i + 2] / w
            w1 = 1 - w2 - w3
            d_prime = w1 * d + w2 * d_2 + w3 * d_3
            x = x + d_prime * dt
    return x


@torch.no_grad()
def sample_dpm_2(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    s_churn=0.0,
    s_tmin=0.0,
    s_tmax=float("inf"),
    s_noise=1.0,
):
    """DPM-Solver-2-like midpoint steps in log sigma (Lu et al. 2022; Karras et al. 2022, Algorithm 2)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        gamma = _churn(sigmas, i, s_churn, s_tmin, s_tmax)
        sigma_hat = sigmas[i] * (gamma + 1) if s_churn > 0 else sigmas[i]
        x = _add_churn(x, sigmas[i], sigma_hat, gamma, s_noise)
        denoised = model(x, sigma_hat * s_in, **extra_args)
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigma_hat, denoised))
        if sigmas[i + 1] == 0:
            dt = sigmas[i + 1] - sigma_hat
            x = x + d * dt
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            dt_1 = sigma_mid - sigma_hat
            dt_2 = sigmas[i + 1] - sigma_hat
            x_2 = x + d * dt_1
            denoised_2 = model(x_2, sigma_mid * s_in, **extra_args)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * dt_2
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    """Ancestral sampling with DPM-Solver-2 midpoint steps (k-diffusion)."""
    ms = model_sampling_of(model)
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    flow = is_const(ms)
    if flow:
        s_noise = s_noise * noise_scale_of(ms)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if flow:
            sigma_down, alpha_ip1, alpha_down, renoise_coeff = _rf_ancestral(sigmas[i], sigmas[i + 1], eta)
        else:
            sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            dt = sigma_down - sigmas[i]
            x = x + d * dt
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            dt_1 = sigma_mid - sigmas[i]
            dt_2 = sigma_down - sigmas[i]
            x_2 = x + d * dt_1
            denoised_2 = model(x_2, sigma_mid * s_in, **extra_args)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * dt_2
            if flow:
                x = (alpha_ip1 / alpha_down) * x + noise_sampler(
                    sigmas[i], sigmas[i + 1]
                ) * s_noise * renoise_coeff
            else:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def linear_multistep_coeff(order: int, t: Any, i: int, j: int) -> float:
    """Integral over [t_i, t_{i+1}] of the j-th Lagrange basis polynomial on the last `order` nodes."""
    if order - 1 > i:
        raise ValueError(f"Order {order} too high for step {i}")

    def fn(tau: float) -> float:
        prod = 1.0
        for k in range(order):
            if j == k:
                continue
            prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    from scipy import integrate  # imported here: only lms needs it, and it is slow to import

    return integrate.quad(fn, t[i], t[i + 1], epsrel=1e-4)[0]


@torch.no_grad()
def sample_lms(model, x, sigmas, extra_args=None, callback=None, disable=None, order=4):
    """Linear multistep (Adams-Bashforth in sigma) with coefficients integrated numerically (k-diffusion)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    sigmas_cpu = sigmas.detach().cpu().numpy()
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = to_d(x, sigmas[i], denoised)
        ds.append(d)
        if len(ds) > order:
            ds.pop(0)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            cur_order = min(i + 1, order)
            coeffs = [linear_multistep_coeff(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
            x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds), strict=False))
    return x


def _ddpm_step(x, sigma, sigma_prev, noise, noise_sampler):
    """One ancestral DDPM step (Ho et al. 2020, Algorithm 2) in the variance-preserving frame."""
    alpha_cumprod = 1 / ((sigma * sigma) + 1)
    alpha_cumprod_prev = 1 / ((sigma_prev * sigma_prev) + 1)
    alpha = alpha_cumprod / alpha_cumprod_prev
    mu = (1.0 / alpha).sqrt() * (x - (1 - alpha) * noise / (1 - alpha_cumprod).sqrt())
    if sigma_prev > 0:
        mu += ((1 - alpha) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)).sqrt() * noise_sampler(
            sigma, sigma_prev
        )
    return mu


@torch.no_grad()
def sample_ddpm(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
    """DDPM ancestral sampling (Ho et al. 2020)."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        x = _ddpm_step(
            x / torch.sqrt(1.0 + sigmas[i] ** 2.0),
            sigmas[i],
            sigmas[i + 1],
            (x - denoised) / sigmas[i],
            noise_sampler,
        )
        if sigmas[i + 1] != 0:
            x *= torch.sqrt(1.0 + sigmas[i + 1] ** 2.0)
    return x


@torch.no_grad()
def sample_lcm(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    noise_sampler=None,
    s_noise=1.0,
    s_noise_end=None,
    noise_clip_std=0.0,
):
    """Latent Consistency Model multistep sampling (Luo et al. 2023): jump to x0, re-noise to the next sigma."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_in = x.new_ones([x.shape[0]])
    n_steps = max(1, len(sigmas) - 1)
    model_sampling = model_sampling_of(model)
    s_start = float(s_noise)
    s_end = s_start if s_noise_end is None else float(s_noise_end)
    for i in range(n_steps):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        x = denoised
        if sigmas[i + 1] > 0:
            noise = noise_sampler(sigmas[i], sigmas[i + 1])
            if noise_clip_std > 0:
                clip_val = noise_clip_std * noise.std()
                noise = noise.clamp(min=-clip_val, max=clip_val)
            t = (i / (n_steps - 1)) if n_steps > 1 else 0.0
            s_noise_i = s_start + (s_end - s_start) * t
            if s_noise_i != 1.0:
                noise = noise * s_noise_i
            x = model_sampling.noise_scaling(sigmas[i + 1], noise, x)
    return x


@torch.no_grad()
def sample_euler_ancestral_cfg_pp(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    """Ancestral Euler with CFG++ (Chung et al. 2024): renoise along the unconditional prediction."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    model_sampling = model_sampling_of(model)
    s_noise = s_noise * noise_scale_of(model_sampling)
    capture = UncondCapture(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            alpha_s = sigmas[i] * sigma_to_half_log_snr(sigmas[i], model_sampling).exp()
            alpha_t = sigmas[i + 1] * sigma_to_half_log_snr(sigmas[i + 1], model_sampling).exp()
            d = to_d(x, sigmas[i], alpha_s * capture.value)
            sigma_down, sigma_up = get_ancestral_step(sigmas[i] / alpha_s, sigmas[i + 1] / alpha_t, eta=eta)
            sigma_down = alpha_t * sigma_down
            x = alpha_t * denoised + sigma_down * d
            if eta > 0 and s_noise > 0:
                x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_euler_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Euler with CFG++ (Chung et al. 2024): the deterministic (eta = 0) case of the ancestral variant."""
    return sample_euler_ancestral_cfg_pp(
        model,
        x,
        sigmas,
        extra_args=extra_args,
        callback=callback,
        disable=disable,
        eta=0.0,
        s_noise=0.0,
        noise_sampler=None,
    )
