"""Multistep samplers: iPNDM (Zhang & Chen 2023 / Zhou et al. 2024 "Fast ODE-based Sampling"), DEIS
(Zhang & Chen 2023, arXiv:2204.13902), RES multistep (Zhang et al. 2023, arXiv:2308.02157) and gradient
estimation (Permenter & Yuan 2024, "Interpreting and Improving Diffusion Models from an Optimization
Perspective")."""

from __future__ import annotations

import torch

from comfy_core.sampling.deis_coeffs import get_deis_coeff_list
from comfy_core.sampling.k_common import (
    UncondCapture,
    get_ancestral_step,
    model_sampling_of,
    noise_scale_of,
    to_d,
)
from comfy_core.sampling.k_samplers import _step_info
from comfy_core.sampling.noise import default_noise_sampler


def _push(buffer: list, value: torch.Tensor, max_order: int) -> None:
    if len(buffer) == max_order - 1:
        for k in range(max_order - 2):
            buffer[k] = buffer[k + 1]
        buffer[-1] = value
    else:
        buffer.append(value)


@torch.no_grad()
def sample_ipndm(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=4):
    """Improved PNDM: Adams-Bashforth with fixed coefficients on dx/dsigma."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    x_next = x
    buf: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        x_cur = x_next
        denoised = model(x_cur, t_cur * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x_cur, i, sigmas[i], sigmas[i], denoised))
        d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            x_next = x_cur + (t_next - t_cur) * (3 * d_cur - buf[-1]) / 2
        elif order == 3:
            x_next = x_cur + (t_next - t_cur) * (23 * d_cur - 16 * buf[-1] + 5 * buf[-2]) / 12
        elif order == 4:
            x_next = x_cur + (t_next - t_cur) * (55 * d_cur - 59 * buf[-1] + 37 * buf[-2] - 9 * buf[-3]) / 24
        _push(buf, d_cur, max_order)
    return x_next


@torch.no_grad()
def sample_ipndm_v(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=4):
    """iPNDM with variable-step Adams-Bashforth coefficients."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    x_next = x
    t_steps = sigmas
    buf: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        x_cur = x_next
        denoised = model(x_cur, t_cur * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x_cur, i, sigmas[i], sigmas[i], denoised))
        d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            h_n = t_next - t_cur
            h_n_1 = t_cur - t_steps[i - 1]
            coeff1 = (2 + (h_n / h_n_1)) / 2
            coeff2 = -(h_n / h_n_1) / 2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buf[-1])
        elif order == 3:
            h_n = t_next - t_cur
            h_n_1 = t_cur - t_steps[i - 1]
            h_n_2 = t_steps[i - 1] - t_steps[i - 2]
            temp = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
            coeff1 = (2 + (h_n / h_n_1)) / 2 + temp
            coeff2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp
            coeff3 = temp * h_n_1 / h_n_2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buf[-1] + coeff3 * buf[-2])
        elif order == 4:
            h_n = t_next - t_cur
            h_n_1 = t_cur - t_steps[i - 1]
            h_n_2 = t_steps[i - 1] - t_steps[i - 2]
            h_n_3 = t_steps[i - 2] - t_steps[i - 3]
            temp1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
            temp2 = (
                (
                    (1 - h_n / (3 * (h_n + h_n_1))) / 2
                    + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (6 * (h_n + h_n_1 + h_n_2))
                )
                * (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2))
                / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3))
            )
            ratio = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))
            coeff1 = (2 + (h_n / h_n_1)) / 2 + temp1 + temp2
            coeff2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1 - (1 + (h_n_1 / h_n_2) + ratio) * temp2
            coeff3 = temp1 * h_n_1 / h_n_2 + ((h_n_1 / h_n_2) + ratio * (1 + h_n_2 / h_n_3)) * temp2
            coeff4 = -temp2 * ratio * h_n_1 / h_n_2
            x_next = x_cur + (t_next - t_cur) * (
                coeff1 * d_cur + coeff2 * buf[-1] + coeff3 * buf[-2] + coeff4 * buf[-3]
            )
        _push(buf, d_cur.detach(), max_order)
    return x_next


@torch.no_grad()
def sample_deis(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=3, deis_mode="tab"):
    """DEIS multistep (Zhang & Chen 2023): exponential-integrator coefficients for the VP-SDE in EDM time."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    x_next = x
    coeff_list = get_deis_coeff_list(sigmas, max_order, deis_mode=deis_mode)
    buf: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        x_cur = x_next
        denoised = model(x_cur, t_cur * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x_cur, i, sigmas[i], sigmas[i], denoised))
        d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next <= 0:
            order = 1
        if order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            c_cur, c_p1 = coeff_list[i]
            x_next = x_cur + c_cur * d_cur + c_p1 * buf[-1]
        elif order == 3:
            c_cur, c_p1, c_p2 = coeff_list[i]
            x_next = x_cur + c_cur * d_cur + c_p1 * buf[-1] + c_p2 * buf[-2]
        elif order == 4:
            c_cur, c_p1, c_p2, c_p3 = coeff_list[i]
            x_next = x_cur + c_cur * d_cur + c_p1 * buf[-1] + c_p2 * buf[-2] + c_p3 * buf[-3]
        _push(buf, d_cur.detach(), max_order)
    return x_next


def _phi1(t: torch.Tensor) -> torch.Tensor:
    return torch.expm1(t) / t


def _phi2(t: torch.Tensor) -> torch.Tensor:
    return (_phi1(t) - 1.0) / t


@torch.no_grad()
def res_multistep(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    s_noise=1.0,
    noise_sampler=None,
    eta=1.0,
    cfg_pp=False,
):
    """Second-order RES multistep (Zhang et al. 2023, arXiv:2308.02157), optionally ancestral / CFG++."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_noise = s_noise * noise_scale_of(model_sampling_of(model))
    s_in = x.new_ones([x.shape[0]])
    capture = UncondCapture(extra_args) if cfg_pp else None
    old_sigma_down = None
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigma_down == 0 or old_denoised is None:
            if capture is not None:
                d = to_d(x, sigmas[i], capture.value)
                x = denoised + d * sigma_down
            else:
                d = to_d(x, sigmas[i], denoised)
                dt = sigma_down - sigmas[i]
                x = x + d * dt
        else:
            t = sigmas[i].log().neg()
            t_old = old_sigma_down.log().neg()
            t_next = sigma_down.log().neg()
            t_prev = sigmas[i - 1].log().neg()
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1_val, phi2_val = _phi1(-h), _phi2(-h)
            b1 = torch.nan_to_num(phi1_val - phi2_val / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2_val / c2, nan=0.0)
            if capture is not None:
                x = x + (denoised - capture.value)
                x = h.neg().exp() * x + h * (b1 * capture.value + b2 * old_denoised)
            else:
                x = h.neg().exp() * x + h * (b1 * denoised + b2 * old_denoised)
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        old_denoised = capture.value if capture is not None else denoised
        old_sigma_down = sigma_down
    return x


@torch.no_grad()
def sample_res_multistep(
    model, x, sigmas, extra_args=None, callback=None, disable=None, s_noise=1.0, noise_sampler=None
):
    return res_multistep(
        model, x, sigmas, extra_args, callback, disable, s_noise, noise_sampler, eta=0.0, cfg_pp=False
    )


@torch.no_grad()
def sample_res_multistep_cfg_pp(
    model, x, sigmas, extra_args=None, callback=None, disable=None, s_noise=1.0, noise_sampler=None
):
    return res_multistep(
        model, x, sigmas, extra_args, callback, disable, s_noise, noise_sampler, eta=0.0, cfg_pp=True
    )


@torch.no_grad()
def sample_res_multistep_ancestral(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    return res_multistep(
        model, x, sigmas, extra_args, callback, disable, s_noise, noise_sampler, eta=eta, cfg_pp=False
    )


@torch.no_grad()
def sample_res_multistep_ancestral_cfg_pp(
    model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0, noise_sampler=None
):
    return res_multistep(
        model, x, sigmas, extra_args, callback, disable, s_noise, noise_sampler, eta=eta, cfg_pp=True
    )


@torch.no_grad()
def sample_gradient_estimation(
    model, x, sigmas, extra_args=None, callback=None, disable=None, ge_gamma=2.0, cfg_pp=False
):
    """Euler with a momentum-like correction (ge_gamma - 1)(d - d_prev) (Permenter & Yuan 2024)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    old_d = None
    capture = UncondCapture(extra_args) if cfg_pp else None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = to_d(x, sigmas[i], capture.value if capture is not None else denoised)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            if capture is not None:
                x = denoised + d * sigmas[i + 1]
            else:
                x = x + d * dt
            if i >= 1:
                d_bar = (ge_gamma - 1) * (d - old_d)
                x = x + d_bar * dt
        old_d = d
    return x


@torch.no_grad()
def sample_gradient_estimation_cfg_pp(
    model, x, sigmas, extra_args=None, callback=None, disable=None, ge_gamma=2.0
):
    return sample_gradient_estimation(
        model, x, sigmas, extra_args, callback, disable, ge_gamma=ge_gamma, cfg_pp=True
    )
