"""The small interfaces the sampling package drives, so it never imports a model family.

`DiffusionModel` is what the guiders call (ComfyUI's `BaseModel` seen from `comfy/samplers.py`):

* `model_sampling` — an object from `comfy_core.sampling.model_sampling` (sigma <-> timestep, eps/v/flow
  parameterisation, `sigma_min`/`sigma_max`/`sigmas`, `percent_to_sigma`).
* `apply_model(x, sigma, c_crossattn=None, y=None, c_concat=None, transformer_options=None, **extra)`
  returns the *denoised* x0 estimate for a batch: the model scales the input with
  `model_sampling.calculate_input`, feeds `model_sampling.timestep(sigma)` to the network and maps the
  output back with `model_sampling.calculate_denoised`. Extra keyword arguments are whatever
  `extra_conds` produced (for example `control`, `guidance`, `attention_mask`).
* `extra_conds(cond, noise, latent_image, denoise_mask, device)` turns one conditioning dict into the
  keyword arguments of `apply_model`. `cond` is the dict of a CONDITIONING entry (§0 of the contract)
  plus `cross_attn` (the entry's tensor), `prompt_type` ("positive"/"negative"/...), `width`/`height`
  (pixel size, default latent size * 8), `seed` and `device`. Values may be plain tensors (wrapped by
  name: `c_crossattn` pads like cross attention, `c_concat` is cropped with the latent area, other
  tensors are repeated to the batch, non-tensors are passed through when equal) or the `Cond*` objects
  of `comfy_core.sampling.conds` when a model needs explicit behaviour.

Optional members, looked up with `getattr`:
* `process_latent_in(latent)` / `process_latent_out(latent)` — latent-format scaling (identity if absent).
* `memory_required(input_shape)` — bytes for one forward pass; used with `model_options
  ["sampler_free_memory"]` to split cond batches the way ComfyUI does.
* `model_options` — the ModelPatcher-style options dict (`sampler_cfg_function`,
  `sampler_post_cfg_function`, `sampler_pre_cfg_function`, `model_function_wrapper`,
  `transformer_options`, `disable_cfg1_optimization`, `denoise_mask_function`).
* `latent_channels` — channel count an all-zero latent is widened to (ComfyUI's
  `fix_empty_latent_channels`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class ModelSamplingLike(Protocol):
    sigmas: torch.Tensor

    @property
    def sigma_min(self) -> torch.Tensor: ...

    @property
    def sigma_max(self) -> torch.Tensor: ...

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor: ...

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor: ...

    def percent_to_sigma(self, percent: float) -> float: ...

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor: ...

    def calculate_denoised(
        self, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor
    ) -> torch.Tensor: ...

    def noise_scaling(
        self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor, max_denoise: bool = False
    ) -> torch.Tensor: ...

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class DiffusionModel(Protocol):
    model_sampling: Any

    def apply_model(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        c_crossattn: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        c_concat: torch.Tensor | None = None,
        transformer_options: dict | None = None,
        **extra: Any,
    ) -> torch.Tensor: ...

    def extra_conds(
        self,
        cond: dict,
        noise: torch.Tensor,
        latent_image: torch.Tensor | None,
        denoise_mask: torch.Tensor | None,
        device: torch.device | str,
    ) -> dict: ...


class SamplerCallback(Protocol):
    """ComfyUI's KSampler callback: (step, denoised x0, current x, total steps)."""

    def __call__(self, step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None: ...
