"""Helpers shared by the sampler functions (k-diffusion conventions).

Every sampler receives `model(x, sigma_batch, **extra_args) -> denoised`. The wrapper that the
KSAMPLER object passes also carries `.model_sampling`; samplers that need the parameterisation (flow
vs. eps, half-logSNR, `percent_to_sigma`) read it with `model_sampling_of(model)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from comfy_core.sampling.model_sampling import CONST, EPS, ModelSamplingDiscrete, make_model_sampling


def append_dims(x: torch.Tensor, target_dims: int) -> torch.Tensor:
    dims_to_append = target_dims - x.ndim
    if dims_to_append < 0:
        raise ValueError(f"input has {x.ndim} dims but target_dims is {target_dims}, which is less")
    return x[(...,) + (None,) * dims_to_append]


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE derivative dx/dsigma = (x - D(x)) / sigma (Karras et al. 2022, eq. 3)."""
    return (x - denoised) / append_dims(sigma, x.ndim)


def get_ancestral_step(sigma_from: Any, sigma_to: Any, eta: float = 1.0) -> tuple[Any, Any]:
    """Split a step into a deterministic part to sigma_down and fresh noise of std sigma_up (k-diffusion)."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def model_sampling_of(model: Any) -> Any:
    ms = getattr(model, "model_sampling", None)
    if ms is None:
        ms = make_model_sampling(EPS, ModelSamplingDiscrete)
    return ms


def is_const(model_sampling: Any) -> bool:
    return isinstance(model_sampling, CONST)


def noise_scale_of(model_sampling: Any) -> float:
    return getattr(model_sampling, "noise_scale", 1.0)


def sigma_to_half_log_snr(sigma: torch.Tensor, model_sampling: Any) -> torch.Tensor:
    """lambda = log(alpha / sigma): -log(sigma) for eps models, logit(1 - t) for flow models."""
    if is_const(model_sampling):
        return sigma.logit().neg()
    return sigma.log().neg()


def half_log_snr_to_sigma(half_log_snr: torch.Tensor, model_sampling: Any) -> torch.Tensor:
    if is_const(model_sampling):
        return half_log_snr.neg().sigmoid()
    return half_log_snr.neg().exp()


def offset_first_sigma_for_snr(
    sigmas: torch.Tensor, model_sampling: Any, percent_offset: float = 1e-4
) -> torch.Tensor:
    """A flow schedule starting at t = 1 has infinite -logSNR; move the first sigma just below it."""
    if len(sigmas) <= 1:
        return sigmas
    if is_const(model_sampling) and sigmas[0] >= 1:
        sigmas = sigmas.clone()
        sigmas[0] = model_sampling.percent_to_sigma(percent_offset)
    return sigmas


def ei_h_phi_1(h: torch.Tensor) -> torch.Tensor:
    """h * phi_1(h) = e^h - 1 (exponential integrators, Hochbruck & Ostermann 2010)."""
    return torch.expm1(h)


def ei_h_phi_2(h: torch.Tensor) -> torch.Tensor:
    """h * phi_2(h) = (e^h - 1 - h) / h."""
    return (torch.expm1(h) - h) / h


def set_model_options_post_cfg_function(
    model_options: dict,
    post_cfg_function: Callable[[dict], torch.Tensor],
    disable_cfg1_optimization: bool = False,
) -> dict:
    """Append a post-CFG hook (ComfyUI ModelPatcher semantics) and return the same dict."""
    model_options["sampler_post_cfg_function"] = model_options.get("sampler_post_cfg_function", []) + [
        post_cfg_function
    ]
    if disable_cfg1_optimization:
        model_options["disable_cfg1_optimization"] = True
    return model_options


class UncondCapture:
    """Installs a post-CFG hook that records the unconditional prediction (for the CFG++ samplers of
    Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free Guidance")."""

    def __init__(self, extra_args: dict) -> None:
        self.uncond_denoised: torch.Tensor | None = None
        model_options = dict(extra_args.get("model_options", {}))
        extra_args["model_options"] = set_model_options_post_cfg_function(
            model_options, self._hook, disable_cfg1_optimization=True
        )

    def _hook(self, args: dict) -> torch.Tensor:
        self.uncond_denoised = args["uncond_denoised"]
        return args["denoised"]

    @property
    def value(self) -> torch.Tensor:
        assert self.uncond_denoised is not None, "the guider did not call sampler_post_cfg_function"
        return self.uncond_denoised
