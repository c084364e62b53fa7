"""Sigma schedules: small pure functions returning a descending 1-D float32 tensor that ends in 0.

`SCHEDULER_NAMES` is the KSampler combo in ComfyUI's order; `calculate_sigmas(model_sampling, name,
steps)` is the entry the samplers and the BasicScheduler node use. Schedules that read the model's
sigma table take `model_sampling`; the others take `(n, sigma_min, sigma_max)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy
import torch


def append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def get_sigmas_karras(
    n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device: str = "cpu"
) -> torch.Tensor:
    """Karras et al. (2022), eq. 5: sigma_i = (max^(1/rho) + i/(n-1) (min^(1/rho) - max^(1/rho)))^rho."""
    ramp = torch.linspace(0, 1, n, device=device)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return append_zero(sigmas).to(device)


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float, device: str = "cpu") -> torch.Tensor:
    """Sigmas evenly spaced in log sigma (k-diffusion)."""
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), n, device=device).exp()
    return append_zero(sigmas)


def get_sigmas_polyexponential(
    n: int, sigma_min: float, sigma_max: float, rho: float = 1.0, device: str = "cpu"
) -> torch.Tensor:
    """Polynomial in log sigma (k-diffusion); rho = 1 is the exponential schedule."""
    ramp = torch.linspace(1, 0, n, device=device) ** rho
    sigmas = torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min))
    return append_zero(sigmas)


def get_sigmas_vp(
    n: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3, device: str = "cpu"
) -> torch.Tensor:
    """Continuous VP-SDE schedule (Song et al. 2021): sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)."""
    t = torch.linspace(1, eps_s, n, device=device)
    sigmas = torch.sqrt(torch.special.expm1(beta_d * t**2 / 2 + beta_min * t))
    return append_zero(sigmas)


def get_sigmas_laplace(
    n: int, sigma_min: float, sigma_max: float, mu: float = 0.0, beta: float = 0.5, device: str = "cpu"
) -> torch.Tensor:
    """Laplace schedule in log sigma (Hang et al. 2024, "Improved Noise Schedule for Diffusion Training").

    Like ComfyUI, no trailing zero is appended."""
    epsilon = 1e-5
    x = torch.linspace(0, 1, n, device=device)
    lmb = mu - beta * torch.sign(0.5 - x) * torch.log(1 - 2 * torch.abs(0.5 - x) + epsilon)
    return torch.clamp(torch.exp(lmb), min=sigma_min, max=sigma_max)


def simple_scheduler(model_sampling: Any, steps: int) -> torch.Tensor:
    """Every len(table)/steps-th entry of the model's sigma table, from the top."""
    s = model_sampling
    ss = len(s.sigmas) / steps
    sigs = [float(s.sigmas[-(1 + int(x * ss))]) for x in range(steps)]
    sigs += [0.0]
    return torch.FloatTensor(sigs)


def ddim_scheduler(model_sampling: Any, steps: int) -> torch.Tensor:
    """Uniform timestep stride from index 1 (DDIM, Song et al. 2021, "uniform" discretisation)."""
    s = model_sampling
    x = 1
    if math.isclose(float(s.sigmas[x]), 0, abs_tol=0.00001):
        steps += 1
        sigs: list[float] = []
    else:
        sigs = [0.0]
    ss = max(len(s.sigmas) // steps, 1)
    while x < len(s.sigmas):
        sigs += [float(s.sigmas[x])]
        x += ss
    sigs = sigs[::-1]
    return torch.FloatTensor(sigs)


def normal_scheduler(model_sampling: Any, steps: int, sgm: bool = False, floor: bool = False) -> torch.Tensor:
    """Timesteps linear between sigma_max and sigma_min; `sgm` drops the end point (SGM/"trailing")."""
    s = model_sampling
    start = s.timestep(s.sigma_max)
    end = s.timestep(s.sigma_min)
    add_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(s.sigma(end)), 0, abs_tol=0.00001):
            steps += 1
            add_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigs = [float(s.sigma(ts)) for ts in timesteps]
    if add_zero:
        sigs += [0.0]
    return torch.FloatTensor(sigs)


def beta_scheduler(model_sampling: Any, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Timesteps at Beta(alpha, beta) quantiles (Lee et al. 2024, "Beta Sampling is All You Need",
    arXiv:2407.12173); repeated table indices are dropped."""
    import scipy.stats  # imported here: it costs ~2 s of server start-up

    total_timesteps = len(model_sampling.sigmas) - 1
    ts = 1 - numpy.linspace(0, 1, steps, endpoint=False)
    ts = numpy.rint(scipy.stats.beta.ppf(ts, alpha, beta) * total_timesteps)
    sigs: list[float] = []
    last_t = -1
    for t in ts:
        if t != last_t:
            sigs += [float(model_sampling.sigmas[int(t)])]
        last_t = t
    sigs += [0.0]
    return torch.FloatTensor(sigs)


def linear_quadratic_schedule(
    model_sampling: Any, steps: int, threshold_noise: float = 0.025, linear_steps: int | None = None
) -> torch.Tensor:
    """Mochi's schedule (Genmo 2024): linear up to `threshold_noise`, then quadratic, times sigma_max."""
    if steps == 1:
        sigma_schedule = [1.0, 0.0]
    else:
        if linear_steps is None:
            linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        threshold_noise_step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = threshold_noise_step_diff / (linear_steps * quadratic_steps**2)
        linear_coef = threshold_noise / linear_steps - 2 * threshold_noise_step_diff / (quadratic_steps**2)
        const = quadratic_coef * (linear_steps**2)
        quadratic = [quadratic_coef * (i**2) + linear_coef * i + const for i in range(linear_steps, steps)]
        sigma_schedule = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.FloatTensor(sigma_schedule) * model_sampling.sigma_max.cpu()


def kl_optimal_scheduler(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Sigmas uniform in arctan(sigma) (the KL-optimal schedule of Sabour et al. 2024, "Align Your
    Steps", Thm. 3.1)."""
    adj_idxs = torch.arange(n, dtype=torch.float).div_(n - 1)
    sigmas = adj_idxs.new_zeros(n + 1)
    sigmas[:-1] = (adj_idxs * math.atan(sigma_min) + (1 - adj_idxs) * math.atan(sigma_max)).tan_()
    return sigmas


class SchedulerHandler(NamedTuple):
    handler: Callable[..., torch.Tensor]
    # True: handler(model_sampling, steps); False: handler(n=, sigma_min=, sigma_max=)
    use_ms: bool = True


def scheduler_handlers() -> dict[str, SchedulerHandler]:
    """The KSampler schedulers, in the combo order of ComfyUI v0.8.0."""
    return {
        "simple": SchedulerHandler(simple_scheduler),
        "sgm_uniform": SchedulerHandler(partial(normal_scheduler, sgm=True)),
        "karras": SchedulerHandler(get_sigmas_karras, use_ms=False),
        "exponential": SchedulerHandler(get_sigmas_exponential, use_ms=False),
        "ddim_uniform": SchedulerHandler(ddim_scheduler),
        "beta": SchedulerHandler(beta_scheduler),
        "normal": SchedulerHandler(normal_scheduler),
        "linear_quadratic": SchedulerHandler(linear_quadratic_schedule),
        "kl_optimal": SchedulerHandler(kl_optimal_scheduler, use_ms=False),
    }


SCHEDULER_NAMES: tuple[str, ...] = (
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
)


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> torch.Tensor:
    handler = scheduler_handlers().get(scheduler_name)
    if handler is None:
        raise ValueError(f"error invalid scheduler {scheduler_name}")
    if handler.use_ms:
        return handler.handler(model_sampling, steps)
    return handler.handler(
        n=steps, sigma_min=float(model_sampling.sigma_min), sigma_max=float(model_sampling.sigma_max)
    )
