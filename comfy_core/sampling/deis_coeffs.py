"""DEIS coefficients (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential
Integrator", arXiv:2204.13902), following the PyTorch formulation of zju-pi/diff-sampler.

EDM sigmas are mapped to the time t of a VP-SDE whose endpoints match sigma in [0.002, 80]
(eps_s = 1e-3); "tab" integrates the Lagrange basis times the exponential-integrator weight with N
rectangles, "rhoab" uses closed-form polynomial integrals in sigma. The scalar logs go through numpy
(float32 and float64 exactly like the reference) so the coefficients match bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch


def _np_log(t: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.asarray(np.log(t.numpy())))


def edm2t(edm_steps: torch.Tensor, epsilon_s: float = 1e-3, sigma_min: float = 0.002, sigma_max: int = 80):
    """Map EDM sigmas to VP time t; returns (t_steps, beta_0, beta_1)."""
    smin = torch.tensor(sigma_min)  # float32
    smax = torch.tensor(sigma_max)  # int64 -> float64 log, as in the reference
    vp_beta_d = 2 * (_np_log(smin**2 + 1) / epsilon_s - _np_log(smax**2 + 1)) / (epsilon_s - 1)
    vp_beta_min = _np_log(smax**2 + 1) - 0.5 * vp_beta_d
    beta_d = vp_beta_d.clone().detach()
    beta_min = vp_beta_min.clone().detach()
    sigma = edm_steps.clone().detach().cpu()
    t_steps = ((beta_min**2 + 2 * beta_d * (sigma**2 + 1).log()).sqrt() - beta_min) / beta_d
    return t_steps, vp_beta_min, vp_beta_d + vp_beta_min


def _cal_poly(prev_t: torch.Tensor, j: int, taus: torch.Tensor):
    poly = 1
    for k in range(prev_t.shape[0]):
        if k == j:
            continue
        poly *= (taus - prev_t[k]) / (prev_t[j] - prev_t[k])
    return poly


def _t2alpha(beta_0: torch.Tensor, beta_1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * t**2 * (beta_1 - beta_0) - t * beta_0)


def _cal_integrand(beta_0: torch.Tensor, beta_1: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(mode=False):
        taus = taus.clone()
        beta_0 = beta_0.clone()
        beta_1 = beta_1.clone()
        with torch.enable_grad():
            taus.requires_grad_(True)
            alpha = _t2alpha(beta_0, beta_1, taus)
            log_alpha = alpha.log()
            log_alpha.sum().backward()
            d_log_alpha_dtau = taus.grad
    return (-0.5 * d_log_alpha_dtau / torch.sqrt(alpha * (1 - alpha))).detach()


def _integral_2(a, b, start, end, c):
    coeff = (end**3 - start**3) / 3 - (end**2 - start**2) * (a + b) / 2 + (end - start) * a * b
    return coeff / ((c - a) * (c - b))


def _integral_3(a, b, c, start, end, d):
    coeff = (
        (end**4 - start**4) / 4
        - (end**3 - start**3) * (a + b + c) / 3
        + (end**2 - start**2) * (a * b + a * c + b * c) / 2
        - (end - start) * a * b * c
    )
    return coeff / ((d - a) * (d - b) * (d - c))


def get_deis_coeff_list(
    t_steps: torch.Tensor, max_order: int, N: int = 10000, deis_mode: str = "tab"
) -> list:
    """Per-step coefficient lists ([] for first-order steps)."""
    C: list = []
    if deis_mode == "tab":
        t_steps, beta_0, beta_1 = edm2t(t_steps)
        for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:], strict=True)):
            order = min(i + 1, max_order)
            if order == 1:
                C.append([])
                continue
            taus = torch.linspace(t_cur, t_next, N)
            dtau = (t_next - t_cur) / N
            prev_t = t_steps[[i - k for k in range(order)]]
            integrand = _cal_integrand(beta_0, beta_1, taus)
            C.append([torch.sum(integrand * _cal_poly(prev_t, j, taus)) * dtau for j in range(order)])
    elif deis_mode == "rhoab":
        for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:], strict=True)):
            order = min(i, max_order)
            if order == 0:
                C.append([])
                continue
            prev_t = t_steps[[i - k for k in range(order + 1)]]
            if order == 1:
                coeff_cur = ((t_next - prev_t[1]) ** 2 - (t_cur - prev_t[1]) ** 2) / (2 * (t_cur - prev_t[1]))
                coeff_prev1 = (t_next - t_cur) ** 2 / (2 * (prev_t[1] - t_cur))
                C.append([coeff_cur, coeff_prev1])
            elif order == 2:
                C.append(
                    [
                        _integral_2(prev_t[1], prev_t[2], t_cur, t_next, t_cur),
                        _integral_2(t_cur, prev_t[2], t_cur, t_next, prev_t[1]),
                        _integral_2(t_cur, prev_t[1], t_cur, t_next, prev_t[2]),
                    ]
                )
            elif order == 3:
                C.append(
                    [
                        _integral_3(prev_t[1], prev_t[2], prev_t[3], t_cur, t_next, t_cur),
                        _integral_3(t_cur, prev_t[2], prev_t[3], t_cur, t_next, prev_t[1]),
                        _integral_3(t_cur, prev_t[1], prev_t[3], t_cur, t_next, prev_t[2]),
                        _integral_3(t_cur, prev_t[1], prev_t[2], t_cur, t_next, prev_t[3]),
                    ]
                )
    else:
        raise ValueError(f"unknown deis_mode {deis_mode!r}")
    return C
