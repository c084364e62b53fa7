"""ComfyUI's `comfy.samplers`: KSampler, KSAMPLER objects, CFGGuider, schedulers and sampler names.

The name lists are plain lists and `SCHEDULER_HANDLERS` a dict, as in ComfyUI, because packs extend them
(`KSampler.SCHEDULERS + [...]`, `SCHEDULER_HANDLERS[name] = ...`, `setattr(k_diffusion.sampling,
"sample_<name>", fn)` plus `KSAMPLER_NAMES.append(name)`); the functions here look those extensions up.
MODEL arguments may be ModelPatchers: they are loaded for the duration of sampling.
"""

from __future__ import annotations

from typing import Any

import torch

from comfy_core.compat.comfy._models import loaded, model_sampling_of
from comfy_core.sampling import ksampler as _ks
from comfy_core.sampling import schedulers as _sched
from comfy_core.sampling.cond_batch import (
    calc_cond_batch,
    calculate_start_end_timesteps,
    can_concat_cond,
    cond_cat,
    convert_cond,
    get_area_and_mult,
    resolve_areas_and_cond_masks,
)
from comfy_core.sampling.guiders import CFGGuider as _CFGGuider
from comfy_core.sampling.guiders import cfg_function, process_conds, sampling_function
from comfy_core.sampling.ksampler import DISCARD_PENULTIMATE_SIGMA_SAMPLERS, KSAMPLER, KSamplerX0Inpaint
from comfy_core.sampling.schedulers import (
    SchedulerHandler,
    beta_scheduler,
    ddim_scheduler,
    kl_optimal_scheduler,
    linear_quadratic_schedule,
    normal_scheduler,
    simple_scheduler,
)

__all__ = [
    "CFGGuider",
    "DISCARD_PENULTIMATE_SIGMA_SAMPLERS",
    "KSAMPLER",
    "KSAMPLER_NAMES",
    "KSampler",
    "KSamplerX0Inpaint",
    "SAMPLER_NAMES",
    "SCHEDULER_HANDLERS",
    "SCHEDULER_NAMES",
    "SchedulerHandler",
    "beta_scheduler",
    "calc_cond_batch",
    "calculate_sigmas",
    "calculate_start_end_timesteps",
    "can_concat_cond",
    "cfg_function",
    "cond_cat",
    "convert_cond",
    "ddim_scheduler",
    "get_area_and_mult",
    "kl_optimal_scheduler",
    "ksampler",
    "linear_quadratic_schedule",
    "normal_scheduler",
    "process_conds",
    "resolve_areas_and_cond_masks",
    "sample",
    "sampler_object",
    "sampling_function",
    "simple_scheduler",
]

KSAMPLER_NAMES: list[str] = list(_ks.KSAMPLER_NAMES)
SAMPLER_NAMES: list[str] = KSAMPLER_NAMES + ["ddim", "uni_pc", "uni_pc_bh2"]
SCHEDULER_NAMES: list[str] = list(_sched.SCHEDULER_NAMES)
SCHEDULER_HANDLERS: dict[str, SchedulerHandler] = _sched.scheduler_handlers()


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> torch.Tensor:
    handler = SCHEDULER_HANDLERS.get(scheduler_name)
    if handler is None:
        raise ValueError(f"error invalid scheduler {scheduler_name}")
    if handler.use_ms:
        return handler.handler(model_sampling, steps)
    return handler.handler(
        n=steps, sigma_min=float(model_sampling.sigma_min), sigma_max=float(model_sampling.sigma_max)
    )


def _pack_sampler_function(name: str) -> Any:
    from comfy_core.compat.comfy.k_diffusion import sampling as k_sampling

    fn = getattr(k_sampling, f"sample_{name}", None)
    if fn is None:
        raise ValueError(f"unknown sampler {name!r}")
    return fn


def ksampler(
    sampler_name: str, extra_options: dict | None = None, inpaint_options: dict | None = None
) -> KSAMPLER:
    """A KSAMPLER for a built-in name, or for a `sample_<name>` function a pack put on
    `comfy.k_diffusion.sampling`."""
    if sampler_name in _ks.KSAMPLER_NAMES:
        return _ks.ksampler(sampler_name, extra_options, inpaint_options)
    return KSAMPLER(_pack_sampler_function(sampler_name), extra_options, inpaint_options)


def sampler_object(name: str) -> KSAMPLER:
    if name in _ks.SAMPLER_NAMES:
        return _ks.sampler_object(name)
    return ksampler(name)


class CFGGuider(_CFGGuider):
    """ComfyUI's CFGGuider over a MODEL (ModelPatcher), loaded while it samples. Packs subclass it and
    override `predict_noise(x, timestep, model_options, seed)` using `self.inner_model` / `self.conds`."""

    def outer_sample(
        self,
        noise,
        latent_image,
        sampler,
        sigmas,
        denoise_mask=None,
        callback=None,
        disable_pbar=False,
        seed=None,
    ):  # noqa: ANN001, ANN201
        patcher = self.model_patcher
        with loaded(patcher) as model:
            self.model_patcher = model
            try:
                return super().outer_sample(
                    noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed
                )
            finally:
                self.model_patcher = patcher


def sample(
    model,
    noise,
    positive,
    negative,
    cfg,
    device,
    sampler,
    sigmas,
    model_options=None,
    latent_image=None,
    denoise_mask=None,
    callback=None,
    disable_pbar=False,
    seed=None,
):  # noqa: ANN001, ANN201
    """ComfyUI `comfy.samplers.sample`: CFG guidance with a SAMPLER object over explicit sigmas."""
    guider = CFGGuider(model, model_options or None)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)


class KSampler(_ks.KSampler):
    """ComfyUI's KSampler over a MODEL (ModelPatcher or loaded model); SAMPLERS / SCHEDULERS are the
    module's (extensible) lists."""

    SAMPLERS = SAMPLER_NAMES
    SCHEDULERS = SCHEDULER_NAMES

    def _model_sampling(self) -> Any:
        return model_sampling_of(self.model)

    def _sampler(self) -> KSAMPLER:
        return sampler_object(self.sampler)

    def _run(
        self,
        noise,
        positive,
        negative,
        cfg,
        sampler,
        sigmas,
        latent_image,
        denoise_mask,
        callback,
        disable_pbar,
        seed,
    ):  # noqa: ANN001, ANN202
        return sample(
            self.model,
            noise,
            positive,
            negative,
            cfg,
            self.device,
            sampler,
            sigmas,
            self.model_options,
            latent_image=latent_image,
            denoise_mask=denoise_mask,
            callback=callback,
            disable_pbar=disable_pbar,
            seed=seed,
        )
