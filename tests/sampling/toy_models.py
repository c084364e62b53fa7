"""Analytic denoisers that satisfy the sampling package's DiffusionModel protocol.

Data x0 ~ N(mu, s^2) independently per element, noised as x = x0 + sigma * eps. The exact denoiser is
the posterior mean E[x0 | x] = (s^2 x + sigma^2 mu) / (s^2 + sigma^2), so samplers can be checked
against closed forms: the probability-flow ODE maps x_sigma to mu + (x_sigma - mu) * s / sqrt(s^2 +
sigma^2), and stochastic samplers must reproduce N(mu, s^2). mu comes from the conditioning tensor
(its mean over tokens, per channel), so CFG and area tests see different predictions per cond.
"""

from __future__ import annotations

from typing import Any

import torch

from comfy_core.sampling.model_sampling import ModelSamplingDiscrete, make_model_sampling


class GaussianModel:
    def __init__(self, s: float = 0.5, prediction: str = "eps", model_sampling: Any = None) -> None:
        self.model_sampling = model_sampling or make_model_sampling(prediction, ModelSamplingDiscrete)
        self.s = s
        self.calls: list[dict] = []
        self.model_options: dict = {}

    def extra_conds(self, cond: dict, noise, latent_image, denoise_mask, device) -> dict:
        out = {"c_crossattn": cond["cross_attn"]}
        if "concat_latent_image" in cond:
            out["c_concat"] = cond["concat_latent_image"]
        return out

    def posterior_mean(self, x: torch.Tensor, sigma: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        s2 = self.s**2
        sig = sigma.view(-1, *([1] * (x.ndim - 1)))
        return (s2 * x + sig**2 * mu) / (s2 + sig**2)

    def apply_model(
        self, x, sigma, c_crossattn=None, y=None, c_concat=None, transformer_options=None, **extra
    ):
        self.calls.append(
            {
                "batch": x.shape[0],
                "shape": tuple(x.shape),
                "sigma": sigma.clone(),
                "cond_or_uncond": list((transformer_options or {}).get("cond_or_uncond", [])),
                "mu": c_crossattn.mean(dim=1).clone(),
            }
        )
        mu = c_crossattn.mean(dim=1).view(x.shape[0], -1, *([1] * (x.ndim - 2)))
        return self.posterior_mean(x, sigma, mu)


class FlowGaussianModel(GaussianModel):
    """The same Gaussian data under rectified flow x_t = (1 - t) x0 + t eps (sigma = t):
    E[x0 | x_t] = mu + (1 - t) s^2 (x_t - (1 - t) mu) / ((1 - t)^2 s^2 + t^2)."""

    def posterior_mean(self, x, sigma, mu):
        s2 = self.s**2
        t = sigma.view(-1, *([1] * (x.ndim - 1)))
        a = 1 - t
        return mu + a * s2 * (x - a * mu) / (a**2 * s2 + t**2)


def cond(value: float, channels: int = 4, tokens: int = 1, **extra: Any) -> list:
    """A CONDITIONING list with one entry whose tensor makes the model's mu == value."""
    return [[torch.full((1, tokens, channels), float(value)), dict(extra)]]


def pf_ode_solution(x_start: torch.Tensor, sigma_start: float, mu: float, s: float) -> torch.Tensor:
    return mu + (x_start - mu) * s / (s**2 + sigma_start**2) ** 0.5
