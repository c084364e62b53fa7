"""Exponential-integrator SDE samplers in data prediction and half-logSNR time: ER-SDE (Cui et al. 2023,
arXiv:2309.06169), SEEDS-2/3 (Gonzalez et al. 2023, arXiv:2305.14267), the exponential Heun special
cases, and SA-Solver (Xue et al. 2023, arXiv:2309.05019)."""

from __future__ import annotations

import math
from functools import partial

import torch

from comfy_core.sampling.k_common import (
    ei_h_phi_1,
    ei_h_phi_2,
    half_log_snr_to_sigma,
    model_sampling_of,
    noise_scale_of,
    offset_first_sigma_for_snr,
    sigma_to_half_log_snr,
)
from comfy_core.sampling.k_samplers import _step_info
from comfy_core.sampling.noise import default_noise_sampler


def _er_sde_noise_scaler(x: torch.Tensor) -> torch.Tensor:
    return x * ((x**0.3).exp() + 10.0)


@torch.no_grad()
def sample_er_sde(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    s_noise=1.0,
    noise_sampler=None,
    noise_scaler=None,
    max_stage=3,
):
    """Extended reverse-time SDE solver, VP ER-SDE-Solver-3 (Cui et al. 2023)."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    ms = model_sampling_of(model)
    s_noise = s_noise * noise_scale_of(ms)
    s_in = x.new_ones([x.shape[0]])
    noise_scaler = _er_sde_noise_scaler if noise_scaler is None else noise_scaler
    num_integration_points = 200.0
    point_indice = torch.arange(0, num_integration_points, dtype=torch.float32, device=x.device)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    er_lambdas = sigma_to_half_log_snr(sigmas, ms).neg().exp()  # sigma_t / alpha_t
    old_denoised = None
    old_denoised_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        stage_used = min(max_stage, i + 1)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            er_lambda_s, er_lambda_t = er_lambdas[i], er_lambdas[i + 1]
            alpha_s = sigmas[i] / er_lambda_s
            alpha_t = sigmas[i + 1] / er_lambda_t
            r_alpha = alpha_t / alpha_s
            r = noise_scaler(er_lambda_t) / noise_scaler(er_lambda_s)
            x = r_alpha * r * x + alpha_t * (1 - r) * denoised
            if stage_used >= 2:
                dt = er_lambda_t - er_lambda_s
                lambda_step_size = -dt / num_integration_points
                lambda_pos = er_lambda_t + point_indice * lambda_step_size
                scaled_pos = noise_scaler(lambda_pos)
                s = torch.sum(1 / scaled_pos) * lambda_step_size
                denoised_d = (denoised - old_denoised) / (er_lambda_s - er_lambdas[i - 1])
                x = x + alpha_t * (dt + s * noise_scaler(er_lambda_t)) * denoised_d
                if stage_used >= 3:
                    s_u = torch.sum((lambda_pos - er_lambda_s) / scaled_pos) * lambda_step_size
                    denoised_u = (denoised_d - old_denoised_d) / ((er_lambda_s - er_lambdas[i - 2]) / 2)
                    x = x + alpha_t * ((dt**2) / 2 + s_u * noise_scaler(er_lambda_t)) * denoised_u
                old_denoised_d = denoised_d
            if s_noise > 0:
                x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * (
                    er_lambda_t**2 - er_lambda_s**2 * r**2
                ).sqrt().nan_to_num(nan=0.0)
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_seeds_2(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    r=0.5,
    solver_type="phi_1",
):
    """SEEDS-2: stochastic explicit exponential derivative-free solver, stage 2 (Gonzalez et al. 2023)."""
    if solver_type not in {"phi_1", "phi_2"}:
        raise ValueError("solver_type must be 'phi_1' or 'phi_2'")
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_in = x.new_ones([x.shape[0]])
    ms = model_sampling_of(model)
    s_noise = s_noise * noise_scale_of(ms)
    inject_noise = eta > 0 and s_noise > 0
    sigma_fn = partial(half_log_snr_to_sigma, model_sampling=ms)
    lambda_fn = partial(sigma_to_half_log_snr, model_sampling=ms)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = lambda_fn(sigmas[i]), lambda_fn(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r)
        sigma_s_1 = sigma_fn(lambda_s_1)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()
        x_2 = sigma_s_1 / sigmas[i] * (-r * h * eta).exp() * x - alpha_s_1 * ei_h_phi_1(-r * h_eta) * denoised
        if inject_noise:
            sde_noise = (-2 * r * h * eta).expm1().neg().sqrt() * noise_sampler(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1 * s_noise
        denoised_2 = model(x_2, sigma_s_1 * s_in, **extra_args)
        if solver_type == "phi_1":
            denoised_d = torch.lerp(denoised, denoised_2, fac)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * ei_h_phi_1(-h_eta) * denoised_d
        else:
            b2 = ei_h_phi_2(-h_eta) / r
            b1 = ei_h_phi_1(-h_eta) - b2
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b2 * denoised_2)
        if inject_noise:
            segment_factor = (r - 1) * h * eta
            sde_noise = sde_noise * segment_factor.exp()
            sde_noise = sde_noise + segment_factor.mul(2).expm1().neg().sqrt() * noise_sampler(
                sigma_s_1, sigmas[i + 1]
            )
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


@torch.no_grad()
def sample_exp_heun_2_x0(model, x, sigmas, extra_args=None, callback=None, disable=None, solver_type="phi_2"):
    """Deterministic exponential Heun (2nd order) in x0 prediction and logSNR time (SEEDS-2, r = 1, eta = 0)."""
    return sample_seeds_2(
        model,
        x,
        sigmas,
        extra_args=extra_args,
        callback=callback,
        disable=disable,
        eta=0.0,
        s_noise=0.0,
        noise_sampler=None,
        r=1.0,
        solver_type=solver_type,
    )


@torch.no_grad()
def sample_exp_heun_2_x0_sde(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    solver_type="phi_2",
):
    """Stochastic exponential Heun (SEEDS-2 with r = 1)."""
    return sample_seeds_2(
        model,
        x,
        sigmas,
        extra_args=extra_args,
        callback=callback,
        disable=disable,
        eta=eta,
        s_noise=s_noise,
        noise_sampler=noise_sampler,
        r=1.0,
        solver_type=solver_type,
    )


@torch.no_grad()
def sample_seeds_3(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    eta=1.0,
    s_noise=1.0,
    noise_sampler=None,
    r_1=1.0 / 3,
    r_2=2.0 / 3,
):
    """SEEDS-3 (Gonzalez et al. 2023), three stages per step."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_in = x.new_ones([x.shape[0]])
    ms = model_sampling_of(model)
    s_noise = s_noise * noise_scale_of(ms)
    inject_noise = eta > 0 and s_noise > 0
    sigma_fn = partial(half_log_snr_to_sigma, model_sampling=ms)
    lambda_fn = partial(sigma_to_half_log_snr, model_sampling=ms)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x, i, sigmas[i], sigmas[i], denoised))
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = lambda_fn(sigmas[i]), lambda_fn(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r_1)
        lambda_s_2 = torch.lerp(lambda_s, lambda_t, r_2)
        sigma_s_1, sigma_s_2 = sigma_fn(lambda_s_1), sigma_fn(lambda_s_2)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_s_2 = sigma_s_2 * lambda_s_2.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()
        x_2 = (
            sigma_s_1 / sigmas[i] * (-r_1 * h * eta).exp() * x
            - alpha_s_1 * ei_h_phi_1(-r_1 * h_eta) * denoised
        )
        if inject_noise:
            sde_noise = (-2 * r_1 * h * eta).expm1().neg().sqrt() * noise_sampler(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1 * s_noise
        denoised_2 = model(x_2, sigma_s_1 * s_in, **extra_args)
        a3_2 = r_2 / r_1 * ei_h_phi_2(-r_2 * h_eta)
        a3_1 = ei_h_phi_1(-r_2 * h_eta) - a3_2
        x_3 = sigma_s_2 / sigmas[i] * (-r_2 * h * eta).exp() * x - alpha_s_2 * (
            a3_1 * denoised + a3_2 * denoised_2
        )
        if inject_noise:
            segment_factor = (r_1 - r_2) * h * eta
            sde_noise = sde_noise * segment_factor.exp()
            sde_noise = sde_noise + segment_factor.mul(2).expm1().neg().sqrt() * noise_sampler(
                sigma_s_1, sigma_s_2
            )
            x_3 = x_3 + sde_noise * sigma_s_2 * s_noise
        denoised_3 = model(x_3, sigma_s_2 * s_in, **extra_args)
        b3 = ei_h_phi_2(-h_eta) / r_2
        b1 = ei_h_phi_1(-h_eta) - b3
        x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b3 * denoised_3)
        if inject_noise:
            segment_factor = (r_2 - 1) * h * eta
            sde_noise = sde_noise * segment_factor.exp()
            sde_noise = sde_noise + segment_factor.mul(2).expm1().neg().sqrt() * noise_sampler(
                sigma_s_2, sigmas[i + 1]
            )
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


# --- SA-Solver -----------------------------------------------------------------------------------


def _exponential_coeffs(s: torch.Tensor, t: torch.Tensor, order: int, tau_t: float) -> torch.Tensor:
    """(1 + tau^2) * int_s^t exp((1 + tau^2) x) x^p dx / exp((1 + tau^2) t) for p < order, by parts."""
    tau_mul = 1 + tau_t**2
    h = t - s
    p = torch.arange(order, dtype=s.dtype, device=s.device)
    product_terms = t**p - s**p * (-tau_mul * h).exp()
    depth = p.unsqueeze(1) - p.unsqueeze(0)
    log_factorial = (p + 1).lgamma()
    coeff = log_factorial.unsqueeze(1) - log_factorial.unsqueeze(0)
    if tau_t > 0:
        coeff = coeff - (depth * math.log(tau_mul))
    signs = torch.where(depth % 2 == 0, 1.0, -1.0)
    coeff = (coeff.exp() * signs).tril()
    return coeff @ product_terms


def _simple_b_coeffs(sigma_next, curr_lambdas, lambda_s, lambda_t, tau_t, is_corrector_step):
    tau_mul = 1 + tau_t**2
    h = lambda_t - lambda_s
    alpha_t = sigma_next * lambda_t.exp()
    if is_corrector_step:
        b_1 = alpha_t * (0.5 * tau_mul * h)
        b_2 = alpha_t * (-h * tau_mul).expm1().neg() - b_1
    else:
        b_2 = alpha_t * (0.5 * tau_mul * h**2) / (curr_lambdas[-2] - lambda_s)
        b_1 = alpha_t * (-h * tau_mul).expm1().neg() - b_2
    return torch.stack([b_2, b_1])


def stochastic_adams_b_coeffs(
    sigma_next, curr_lambdas, lambda_s, lambda_t, tau_t, simple_order_2=False, is_corrector_step=False
):
    """b_i of SA-Solver eqs. 15/18: integrals of the Lagrange basis on `curr_lambdas`, times alpha_t."""
    n = curr_lambdas.shape[0]
    if simple_order_2 and n == 2:
        return _simple_b_coeffs(sigma_next, curr_lambdas, lambda_s, lambda_t, tau_t, is_corrector_step)
    exp_integral = _exponential_coeffs(lambda_s, lambda_t, n, tau_t)
    vander_t = torch.vander(curr_lambdas, n, increasing=True).T
    lagrange_integrals = torch.linalg.solve(vander_t, exp_integral)
    alpha_t = sigma_next * lambda_t.exp()
    return alpha_t * lagrange_integrals


def tau_interval_func(start_sigma: float, end_sigma: float, eta: float = 1.0):
    """Stochasticity tau(sigma) = eta inside (end_sigma, start_sigma], 0 elsewhere."""

    def tau(sigma) -> float:
        if eta <= 0:
            return 0.0
        if isinstance(sigma, torch.Tensor):
            sigma = sigma.item()
        return eta if start_sigma >= sigma > end_sigma else 0.0

    return tau


@torch.no_grad()
def sample_sa_solver(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=False,
    tau_func=None,
    s_noise=1.0,
    noise_sampler=None,
    predictor_order=3,
    corrector_order=4,
    use_pece=False,
    simple_order_2=False,
):
    """Stochastic Adams predictor-corrector (Xue et al. 2023, NeurIPS)."""
    if len(sigmas) <= 1:
        return x
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = (
        default_noise_sampler(x, seed=extra_args.get("seed")) if noise_sampler is None else noise_sampler
    )
    s_in = x.new_ones([x.shape[0]])
    ms = model_sampling_of(model)
    s_noise = s_noise * noise_scale_of(ms)
    sigmas = offset_first_sigma_for_snr(sigmas, ms)
    lambdas = sigma_to_half_log_snr(sigmas, model_sampling=ms)
    if tau_func is None:
        tau_func = tau_interval_func(ms.percent_to_sigma(0.2), ms.percent_to_sigma(0.8), eta=1.0)
    max_used_order = max(predictor_order, corrector_order)
    x_pred = x
    h = 0.0
    tau_t = 0.0
    noise = 0.0
    pred_list: list[torch.Tensor] = []
    lower_order_to_end = sigmas[-1].item() == 0
    for i in range(len(sigmas) - 1):
        denoised = model(x_pred, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback(_step_info(x_pred, i, sigmas[i], sigmas[i], denoised))
        pred_list.append(denoised)
        pred_list = pred_list[-max_used_order:]
        predictor_order_used = min(predictor_order, len(pred_list))
        if i == 0 or (sigmas[i + 1] == 0 and not use_pece):
            corrector_order_used = 0
        else:
            corrector_order_used = min(corrector_order, len(pred_list))
        if lower_order_to_end:
            predictor_order_used = min(predictor_order_used, len(sigmas) - 2 - i)
            corrector_order_used = min(corrector_order_used, len(sigmas) - 1 - i)
        if corrector_order_used == 0:
            x = x_pred
        else:
            curr_lambdas = lambdas[i - corrector_order_used + 1 : i + 1]
            b = stochastic_adams_b_coeffs(
                sigmas[i],
                curr_lambdas,
                lambdas[i - 1],
                lambdas[i],
                tau_t,
                simple_order_2,
                is_corrector_step=True,
            )
            pred_mat = torch.stack(pred_list[-corrector_order_used:], dim=1)
            corr_res = torch.tensordot(pred_mat, b, dims=([1], [0]))
            x = sigmas[i] / sigmas[i - 1] * (-(tau_t**2) * h).exp() * x + corr_res
            if tau_t > 0 and s_noise > 0:
                x = x + noise
            if use_pece:
                denoised = model(x, sigmas[i] * s_in, **extra_args)
                pred_list[-1] = denoised
        if sigmas[i + 1] == 0:
            x_pred = denoised
        else:
            tau_t = tau_func(sigmas[i + 1])
            curr_lambdas = lambdas[i - predictor_order_used + 1 : i + 1]
            b = stochastic_adams_b_coeffs(
                sigmas[i + 1],
                curr_lambdas,
                lambdas[i],
                lambdas[i + 1],
                tau_t,
                simple_order_2,
                is_corrector_step=False,
            )
            pred_mat = torch.stack(pred_list[-predictor_order_used:], dim=1)
            pred_res = torch.tensordot(pred_mat, b, dims=([1], [0]))
            h = lambdas[i + 1] - lambdas[i]
            x_pred = sigmas[i + 1] / sigmas[i] * (-(tau_t**2) * h).exp() * x + pred_res
            if tau_t > 0 and s_noise > 0:
                noise = (
                    noise_sampler(sigmas[i], sigmas[i + 1])
                    * sigmas[i + 1]
                    * (-2 * tau_t**2 * h).expm1().neg().sqrt()
                    * s_noise
                )
                x_pred = x_pred + noise
    return x_pred


@torch.no_grad()
def sample_sa_solver_pece(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=False,
    tau_func=None,
    s_noise=1.0,
    noise_sampler=None,
    predictor_order=3,
    corrector_order=4,
    simple_order_2=False,
):
    """SA-Solver in PECE mode (predict, evaluate, correct, evaluate)."""
    return sample_sa_solver(
        model,
        x,
        sigmas,
        extra_args=extra_args,
        callback=callback,
        disable=disable,
        tau_func=tau_func,
        s_noise=s_noise,
        noise_sampler=noise_sampler,
        predictor_order=predictor_order,
        corrector_order=corrector_order,
        use_pece=True,
        simple_order_2=simple_order_2,
    )
