"""Model parameterisations (eps, v, x0, flow) and noise-level tables, with ComfyUI's method names.

A model-sampling object is one *prediction* mixin (how the network output maps to x0 and how noise is
added) combined with one *schedule* (the sigma table and sigma <-> timestep maps), exactly like
ComfyUI's `model_sampling.py`: `make_model_sampling(EPS, ModelSamplingDiscrete)`. Sigma is the
k-diffusion noise level of Karras et al. (2022), x_sigma = x0 + sigma * eps for eps/v models; flow
(rectified-flow, Liu et al. 2022; Esser et al. 2024) models use x_t = (1 - t) x0 + t eps with t = sigma.
"""

from __future__ import annotations

import math

import torch


def _shape_sigma(sigma: torch.Tensor, ndim: int) -> torch.Tensor:
    if sigma.nelement() == 1:
        return sigma.view(())
    return sigma.view(sigma.shape[:1] + (1,) * (ndim - 1))


def rescale_zero_terminal_snr_sigmas(sigmas: torch.Tensor) -> torch.Tensor:
    """Shift/scale sqrt(alpha_bar) so the last step has zero SNR (Lin et al. 2023, "Common Diffusion Noise
    Schedules and Sample Steps are Flawed", Algorithm 1); the exact-zero last alpha_bar is replaced by the
    tiny constant ComfyUI uses so sigma stays finite."""
    alphas_cumprod = 1 / ((sigmas * sigmas) + 1)
    sqrt_ab = alphas_cumprod.sqrt()
    first = sqrt_ab[0].clone()
    last = sqrt_ab[-1].clone()
    sqrt_ab -= last
    sqrt_ab *= first / (first - last)
    alphas_bar = sqrt_ab**2
    alphas_bar[-1] = 4.8973451890853435e-08
    return ((1 - alphas_bar) / alphas_bar) ** 0.5


# ---------------------------------------------------------------------------------------------------
# Prediction types


class EPS:
    """Noise prediction (Ho et al. 2020): x0 = x - sigma * eps; input scaled to unit variance."""

    sigma_data = 1.0

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        sigma = _shape_sigma(sigma, noise.ndim)
        return noise / (sigma**2 + self.sigma_data**2) ** 0.5

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor:
        sigma = _shape_sigma(sigma, model_output.ndim)
        return model_input - model_output * sigma

    def noise_scaling(
        self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor, max_denoise: bool = False
    ) -> torch.Tensor:
        sigma = _shape_sigma(sigma, noise.ndim)
        if max_denoise:
            noise = noise * torch.sqrt(1.0 + sigma**2.0)
        else:
            noise = noise * sigma
        noise += latent_image
        return noise

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return latent


class V_PREDICTION(EPS):  # noqa: N801 - ComfyUI's name
    """v-prediction (Salimans & Ho 2022, "Progressive Distillation"), in the sigma parameterisation."""

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor:
        sigma = _shape_sigma(sigma, model_output.ndim)
        sd2 = self.sigma_data**2
        return (
            model_input * sd2 / (sigma**2 + sd2)
            - model_output * sigma * self.sigma_data / (sigma**2 + sd2) ** 0.5
        )


class EDM(V_PREDICTION):
    """EDM preconditioning output (Karras et al. 2022, Table 1)."""

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor:
        sigma = _shape_sigma(sigma, model_output.ndim)
        sd2 = self.sigma_data**2
        return (
            model_input * sd2 / (sigma**2 + sd2)
            + model_output * sigma * self.sigma_data / (sigma**2 + sd2) ** 0.5
        )


class X0(EPS):
    """The network predicts x0 directly (ComfyUI's `x0` / `lcm` sampling types)."""

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor:
        return model_output


class CONST:
    """Rectified flow: x_t = (1 - t) x0 + t noise, velocity output, x0 = x - t * v."""

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return noise

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor:
        sigma = _shape_sigma(sigma, model_output.ndim)
        return model_input - model_output * sigma

    def noise_scaling(
        self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor, max_denoise: bool = False
    ) -> torch.Tensor:
        sigma = _shape_sigma(sigma, noise.ndim)
        s = getattr(self, "noise_scale", 1.0)
        return sigma * (s * noise) + (1.0 - sigma) * latent_image

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        sigma = _shape_sigma(sigma, latent.ndim)
        return latent / (1.0 - sigma)


PREDICTION_TYPES: dict[str, type] = {
    "eps": EPS,
    "v_prediction": V_PREDICTION,
    "edm": EDM,
    "x0": X0,
    "flow": CONST,
}


# ---------------------------------------------------------------------------------------------------
# Schedules


def scaled_linear_betas(timesteps: int, linear_start: float, linear_end: float) -> torch.Tensor:
    """Stable Diffusion's "linear" schedule: betas linear in sqrt space, float64 (LDM, Rombach et al. 2022)."""
    return torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2


def cosine_betas(timesteps: int, cosine_s: float = 8e-3) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021), clipped at 0.999."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps + cosine_s
    alphas = torch.cos(t / (1 + cosine_s) * math.pi / 2).pow(2)
    alphas = alphas / alphas[0]
    return torch.clamp(1 - alphas[1:] / alphas[:-1], min=0, max=0.999)


class ModelSamplingDiscrete(torch.nn.Module):
    """The 1000-step DDPM table of SD1.x/SDXL: sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)."""

    def __init__(
        self,
        beta_schedule: str = "linear",
        linear_start: float = 0.00085,
        linear_end: float = 0.012,
        timesteps: int = 1000,
        zsnr: bool = False,
    ) -> None:
        super().__init__()
        if beta_schedule == "linear":
            betas = scaled_linear_betas(timesteps, linear_start, linear_end)
        elif beta_schedule == "cosine":
            betas = cosine_betas(timesteps)
        elif beta_schedule == "sqrt_linear":
            betas = torch.linspace(linear_start, linear_end, timesteps, dtype=torch.float64)
        else:
            raise ValueError(f"unknown beta schedule {beta_schedule!r}")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.num_timesteps = int(betas.shape[0])
        self.linear_start = linear_start
        self.linear_end = linear_end
        self.zsnr = zsnr
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        if zsnr:
            sigmas = rescale_zero_terminal_snr_sigmas(sigmas)
        self.set_sigmas(sigmas)

    def set_sigmas(self, sigmas: torch.Tensor) -> None:
        self.register_buffer("sigmas", sigmas.float())
        self.register_buffer("log_sigmas", sigmas.log().float())

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Nearest table index in log-sigma (an integer tensor, like ComfyUI)."""
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Log-linear interpolation of the table at fractional timesteps."""
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), min=0, max=(len(self.sigmas) - 1))
        low_idx = t.floor().long()
        high_idx = t.ceil().long()
        w = t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        percent = 1.0 - percent
        return self.sigma(torch.tensor(percent * 999.0)).item()


def time_snr_shift(alpha: float, t: torch.Tensor | float) -> torch.Tensor | float:
    """SD3's resolution shift of the flow time (Esser et al. 2024, eq. 23)."""
    if alpha == 1.0:
        return t
    return alpha * t / (1 + (alpha - 1) * t)


class ModelSamplingDiscreteFlow(torch.nn.Module):
    """Flow-matching table used by SD3/AuraFlow-style models: sigma = shift(t / multiplier)."""

    def __init__(self, shift: float = 1.0, multiplier: float = 1000, noise_scale: float = 1.0) -> None:
        super().__init__()
        self.noise_scale = float(noise_scale)
        self.set_parameters(shift=shift, multiplier=multiplier)

    def set_parameters(self, shift: float = 1.0, timesteps: int = 1000, multiplier: float = 1000) -> None:
        self.shift = shift
        self.multiplier = multiplier
        ts = self.sigma((torch.arange(1, timesteps + 1, 1) / timesteps) * multiplier)
        self.register_buffer("sigmas", ts)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma * self.multiplier

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        return time_snr_shift(self.shift, timestep / self.multiplier)

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return time_snr_shift(self.shift, 1.0 - percent)


def flux_time_shift(mu: float, sigma: float, t: torch.Tensor | float) -> torch.Tensor | float:
    """Flux's exponential time shift: e^mu / (e^mu + (1/t - 1)^sigma)."""
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** sigma)


class ModelSamplingFlux(torch.nn.Module):
    """Flux's 10000-entry flow table: sigma = flux_time_shift(shift, 1, t)."""

    def __init__(self, shift: float = 1.15) -> None:
        super().__init__()
        self.set_parameters(shift=shift)

    def set_parameters(self, shift: float = 1.15, timesteps: int = 10000) -> None:
        self.shift = shift
        ts = self.sigma(torch.arange(1, timesteps + 1, 1) / timesteps)
        self.register_buffer("sigmas", ts)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        return flux_time_shift(self.shift, 1.0, timestep)

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return flux_time_shift(self.shift, 1.0, 1.0 - percent)


def make_model_sampling(prediction: type | str, schedule: type, **schedule_kwargs: object) -> torch.nn.Module:
    """Combine a prediction mixin and a schedule class, e.g. `make_model_sampling("v_prediction",
    ModelSamplingDiscrete, zsnr=True)`; the result is an instance of both (so `isinstance(ms, CONST)`
    identifies flow models, as the samplers need)."""
    if isinstance(prediction, str):
        prediction = PREDICTION_TYPES[prediction]
    cls = type(f"{schedule.__name__}_{prediction.__name__}", (schedule, prediction), {})
    return cls(**schedule_kwargs)


def is_flow(model_sampling: object) -> bool:
    return isinstance(model_sampling, CONST)
