"""The model-sampling variants the ModelSamplingDiscrete node can switch a model to (ComfyUI's
comfy_extras/nodes_model_advanced.py and `IMG_TO_IMG`): LCM consistency output on the 50-step distilled
schedule (Luo et al. 2023, "Latent Consistency Models"), x0 prediction and image-to-image x0 models.
"""

from __future__ import annotations

import torch

from comfy_core.sampling.model_sampling import EPS, V_PREDICTION, X0, ModelSamplingDiscrete


class LCM(EPS):
    """Consistency-model boundary conditions: x0 = c_skip * x + c_out * x0_eps with sigma_data 0.5 and
    timestep scaling 10."""

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor:
        shape = sigma.shape[:1] + (1,) * (model_output.ndim - 1)
        timestep = self.timestep(sigma).view(shape)
        sigma = sigma.view(shape)
        x0 = model_input - model_output * sigma
        sigma_data = 0.5
        scaled = timestep * 10.0
        c_skip = sigma_data**2 / (scaled**2 + sigma_data**2)
        c_out = scaled / (scaled**2 + sigma_data**2) ** 0.5
        return c_out * x0 + c_skip * model_input


class IMG_TO_IMG(X0):  # noqa: N801 - ComfyUI's name
    """x0 models fed the noisy latent unscaled."""

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return noise


class ModelSamplingDiscreteDistilled(ModelSamplingDiscrete):
    """Every 20th sigma of the 1000-step table (50 steps), with timesteps mapped back onto the full range."""

    original_timesteps = 50

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.skip_steps = self.num_timesteps // self.original_timesteps
        valid = torch.zeros(self.original_timesteps, dtype=torch.float32)
        for x in range(self.original_timesteps):
            valid[self.original_timesteps - 1 - x] = self.sigmas[self.num_timesteps - 1 - x * self.skip_steps]
        self.set_sigmas(valid)

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        index = dists.abs().argmin(dim=0).view(sigma.shape)
        return (index * self.skip_steps + (self.skip_steps - 1)).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        t = (timestep.float().to(self.log_sigmas.device) - (self.skip_steps - 1)) / self.skip_steps
        t = torch.clamp(t, min=0, max=(len(self.sigmas) - 1))
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)


SAMPLING_CHOICES: dict[str, tuple[type, type]] = {
    "eps": (EPS, ModelSamplingDiscrete),
    "v_prediction": (V_PREDICTION, ModelSamplingDiscrete),
    "lcm": (LCM, ModelSamplingDiscreteDistilled),
    "x0": (X0, ModelSamplingDiscrete),
    "img_to_img": (IMG_TO_IMG, ModelSamplingDiscrete),
}


def discrete_model_sampling(
    sampling: str,
    zsnr: bool = False,
    linear_start: float = 0.00085,
    linear_end: float = 0.012,
    timesteps: int = 1000,
) -> torch.nn.Module:
    """A new model-sampling object for the ModelSamplingDiscrete node's `sampling` choice."""
    prediction, schedule = SAMPLING_CHOICES[sampling]
    cls = type(f"ModelSamplingAdvanced_{prediction.__name__}", (schedule, prediction), {})
    return cls(linear_start=linear_start, linear_end=linear_end, timesteps=timesteps, zsnr=zsnr)
