"""Sampler names, SAMPLER objects and the KSampler entry points (ComfyUI `comfy/samplers.py` and
`comfy/sample.py` semantics).

* `SAMPLER_NAMES` / `KSAMPLER_NAMES`: the 44 combo entries in ComfyUI's order; `sampler_function(name)`
  resolves each to a function (the two DPM-Solver variants adapt their (sigma_min, sigma_max, n) API).
* `KSAMPLER`: the SAMPLER object (function + options) that scales the start noise, wraps the guider for
  inpainting masks and forwards per-step callbacks as `callback(step, x0, x, total_steps)`.
* `KSampler`: steps / scheduler / denoise -> sigmas, then start/end step slicing.
* `sample` / `sample_custom` / `common_ksampler`: what the KSampler, KSamplerAdvanced and SamplerCustom
  nodes call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from comfy_core.sampling import dpm_adaptive, dpm_solvers, exp_sde, k_samplers, multistep, uni_pc
from comfy_core.sampling.guiders import CFGGuider
from comfy_core.sampling.noise import fix_empty_latent_channels, prepare_noise
from comfy_core.sampling.schedulers import SCHEDULER_NAMES, calculate_sigmas

KSAMPLER_NAMES: tuple[str, ...] = (
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "exp_heun_2_x0",
    "exp_heun_2_x0_sde",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "gradient_estimation_cfg_pp",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
)
SAMPLER_NAMES: tuple[str, ...] = KSAMPLER_NAMES + ("ddim", "uni_pc", "uni_pc_bh2")
DISCARD_PENULTIMATE_SIGMA_SAMPLERS = frozenset(("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"))

_MODULES = (k_samplers, dpm_solvers, dpm_adaptive, multistep, exp_sde)


def _dpm_fast_function(model, noise, sigmas, extra_args, callback, disable):
    if len(sigmas) <= 1:
        return noise
    sigma_min = sigmas[-1]
    if sigma_min == 0:
        sigma_min = sigmas[-2]
    return dpm_adaptive.sample_dpm_fast(
        model,
        noise,
        sigma_min,
        sigmas[0],
        len(sigmas) - 1,
        extra_args=extra_args,
        callback=callback,
        disable=disable,
    )


def _dpm_adaptive_function(model, noise, sigmas, extra_args, callback, disable, **extra_options):
    if len(sigmas) <= 1:
        return noise
    sigma_min = sigmas[-1]
    if sigma_min == 0:
        sigma_min = sigmas[-2]
    return dpm_adaptive.sample_dpm_adaptive(
        model,
        noise,
        sigma_min,
        sigmas[0],
        extra_args=extra_args,
        callback=callback,
        disable=disable,
        **extra_options,
    )


def sampler_function(name: str) -> Callable[..., torch.Tensor]:
    """The k-diffusion-style function behind a KSAMPLER name (not ddim / uni_pc; see `sampler_object`)."""
    if name == "dpm_fast":
        return _dpm_fast_function
    if name == "dpm_adaptive":
        return _dpm_adaptive_function
    if name not in KSAMPLER_NAMES:
        raise ValueError(f"unknown sampler {name!r}")
    for module in _MODULES:
        fn = getattr(module, f"sample_{name}", None)
        if fn is not None:
            return fn
    raise LookupError(f"sampler {name!r} has no implementation")  # guarded by a test over all names


class KSamplerX0Inpaint:
    """The denoiser the sampler functions see: blends the known latent back in outside `denoise_mask`
    before and after each guided evaluation (the latent is re-noised to the current sigma)."""

    def __init__(self, guider: Any, sigmas: torch.Tensor) -> None:
        self.inner_model = guider
        self.sigmas = sigmas
        self.model_sampling = guider.inner_model.model_sampling
        self.latent_image: torch.Tensor | None = None
        self.noise: torch.Tensor | None = None

    def _scale_latent_inpaint(self, sigma: torch.Tensor) -> torch.Tensor:
        model = self.inner_model.inner_model
        custom = getattr(model, "scale_latent_inpaint", None)
        if custom is not None:
            return custom(x=None, sigma=sigma, noise=self.noise, latent_image=self.latent_image)
        sigma = sigma.reshape([sigma.shape[0]] + [1] * (len(self.noise.shape) - 1))
        return self.model_sampling.noise_scaling(sigma, self.noise, self.latent_image)

    def __call__(self, x, sigma, denoise_mask=None, model_options=None, seed=None):
        model_options = {} if model_options is None else model_options
        if denoise_mask is not None:
            if "denoise_mask_function" in model_options:
                denoise_mask = model_options["denoise_mask_function"](
                    sigma, denoise_mask, extra_options={"model": self.inner_model, "sigmas": self.sigmas}
                )
            latent_mask = 1.0 - denoise_mask
            x = x * denoise_mask + self._scale_latent_inpaint(sigma) * latent_mask
        out = self.inner_model(x, sigma, model_options=model_options, seed=seed)
        if denoise_mask is not None:
            out = out * denoise_mask + self.latent_image * latent_mask
        return out


def max_denoise(model_sampling: Any, sigmas: torch.Tensor) -> bool:
    """Starting at (or above) the model's sigma_max: the start noise is scaled to unit-variance x_T."""
    max_sigma = float(model_sampling.sigma_max)
    sigma = float(sigmas[0])
    return math.isclose(max_sigma, sigma, rel_tol=1e-05) or sigma > max_sigma


class KSAMPLER:
    """SAMPLER object: a sampler function plus fixed keyword options."""

    def __init__(
        self,
        sampler_function: Callable[..., torch.Tensor],
        extra_options: dict | None = None,
        inpaint_options: dict | None = None,
    ) -> None:
        self.sampler_function = sampler_function
        self.extra_options = {} if extra_options is None else extra_options
        self.inpaint_options = {} if inpaint_options is None else inpaint_options

    def max_denoise(self, model_wrap: Any, sigmas: torch.Tensor) -> bool:
        return max_denoise(model_wrap.inner_model.model_sampling, sigmas)

    def sample(
        self,
        model_wrap,
        sigmas,
        extra_args,
        callback,
        noise,
        latent_image=None,
        denoise_mask=None,
        disable_pbar=False,
    ):
        extra_args["denoise_mask"] = denoise_mask
        model_k = KSamplerX0Inpaint(model_wrap, sigmas)
        model_k.latent_image = latent_image
        if self.inpaint_options.get("random", False):
            seed = extra_args.get("seed")
            generator = torch.manual_seed((41 if seed is None else seed) + 1)
            model_k.noise = (
                torch.randn(noise.shape, generator=generator, device="cpu").to(noise.dtype).to(noise.device)
            )
        else:
            model_k.noise = noise
        ms = model_wrap.inner_model.model_sampling
        noise = ms.noise_scaling(sigmas[0], noise, latent_image, self.max_denoise(model_wrap, sigmas))
        total_steps = len(sigmas) - 1
        k_callback = None
        if callback is not None:

            def k_callback(info: dict) -> None:
                callback(info["i"], info["denoised"], info["x"], total_steps)

        samples = self.sampler_function(
            model_k,
            noise,
            sigmas,
            extra_args=extra_args,
            callback=k_callback,
            disable=disable_pbar,
            **self.extra_options,
        )
        return ms.inverse_noise_scaling(sigmas[-1], samples)


def ksampler(
    sampler_name: str, extra_options: dict | None = None, inpaint_options: dict | None = None
) -> KSAMPLER:
    return KSAMPLER(sampler_function(sampler_name), extra_options, inpaint_options)


def sampler_object(name: str) -> KSAMPLER:
    """KSamplerSelect: `ddim` is Euler with fresh inpaint noise; `uni_pc*` are UniPC."""
    if name == "uni_pc":
        return KSAMPLER(uni_pc.sample_unipc)
    if name == "uni_pc_bh2":
        return KSAMPLER(uni_pc.sample_unipc_bh2)
    if name == "ddim":
        return ksampler("euler", inpaint_options={"random": True})
    return ksampler(name)


def sample_with_sampler(
    model,
    noise,
    positive,
    negative,
    cfg,
    sampler,
    sigmas,
    model_options=None,
    latent_image=None,
    denoise_mask=None,
    callback=None,
    disable_pbar=False,
    seed=None,
):
    """ComfyUI `comfy.samplers.sample`: a CFGGuider run with a SAMPLER object over explicit sigmas."""
    guider = CFGGuider(model, model_options)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)


class KSampler:
    """steps / scheduler / denoise -> sigmas, then start/end step slicing (ComfyUI `KSampler`)."""

    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = DISCARD_PENULTIMATE_SIGMA_SAMPLERS

    def __init__(
        self, model, steps, device=None, sampler=None, scheduler=None, denoise=None, model_options=None
    ):
        self.model = model
        self.device = device if device is not None else getattr(model, "load_device", None) or "cpu"
        self.scheduler = scheduler if scheduler in self.SCHEDULERS else self.SCHEDULERS[0]
        self.sampler = sampler if sampler in self.SAMPLERS else self.SAMPLERS[0]
        self.set_steps(steps, denoise)
        self.denoise = denoise
        self.model_options = getattr(model, "model_options", {}) if model_options is None else model_options

    def calculate_sigmas(self, steps: int) -> torch.Tensor:
        discard_penultimate = self.sampler in self.DISCARD_PENULTIMATE_SIGMA_SAMPLERS
        if discard_penultimate:
            steps += 1
        sigmas = calculate_sigmas(self._model_sampling(), self.scheduler, steps)
        if discard_penultimate:
            sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
        return sigmas

    def set_steps(self, steps: int, denoise: float | None = None) -> None:
        self.steps = steps
        if denoise is None or denoise > 0.9999:
            self.sigmas = self.calculate_sigmas(steps).to(self.device)
        elif denoise <= 0.0:
            self.sigmas = torch.FloatTensor([])
        else:
            new_steps = int(steps / denoise)
            sigmas = self.calculate_sigmas(new_steps).to(self.device)
            self.sigmas = sigmas[-(steps + 1) :]

    def sample(
        self,
        noise,
        positive,
        negative,
        cfg,
        latent_image=None,
        start_step=None,
        last_step=None,
        force_full_denoise=False,
        denoise_mask=None,
        sigmas=None,
        callback=None,
        disable_pbar=False,
        seed=None,
    ):
        if sigmas is None:
            sigmas = self.sigmas
        if last_step is not None and last_step < (len(sigmas) - 1):
            sigmas = sigmas[: last_step + 1]
            if force_full_denoise:
                sigmas[-1] = 0
        if start_step is not None:
            if start_step < (len(sigmas) - 1):
                sigmas = sigmas[start_step:]
            else:
                return latent_image if latent_image is not None else torch.zeros_like(noise)
        return self._run(
            noise,
            positive,
            negative,
            cfg,
            self._sampler(),
            sigmas,
            latent_image,
            denoise_mask,
            callback,
            disable_pbar,
            seed,
        )

    # The three points a subclass (the compat `comfy.samplers.KSampler`) changes.
    def _model_sampling(self) -> Any:
        return self.model.model_sampling

    def _sampler(self) -> Any:
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
    ):
        return sample_with_sampler(
            self.model,
            noise,
            positive,
            negative,
            cfg,
            sampler,
            sigmas,
            self.model_options,
            latent_image=latent_image,
            denoise_mask=denoise_mask,
            callback=callback,
            disable_pbar=disable_pbar,
            seed=seed,
        )


def sample(
    model,
    noise,
    steps,
    cfg,
    sampler_name,
    scheduler,
    positive,
    negative,
    latent_image,
    denoise=1.0,
    disable_noise=False,
    start_step=None,
    last_step=None,
    force_full_denoise=False,
    noise_mask=None,
    sigmas=None,
    callback=None,
    disable_pbar=False,
    seed=None,
    *,
    sampler_class: type[KSampler] | None = None,
):
    """ComfyUI `comfy.sample.sample` (same positional order): returns the sampled latent (float32, CPU).
    `sampler_class`: a KSampler subclass to use instead (the compat one, which knows pack samplers)."""
    cls = KSampler if sampler_class is None else sampler_class
    sampler = cls(model, steps=steps, sampler=sampler_name, scheduler=scheduler, denoise=denoise)
    samples = sampler.sample(
        noise,
        positive,
        negative,
        cfg=cfg,
        latent_image=latent_image,
        start_step=start_step,
        last_step=last_step,
        force_full_denoise=force_full_denoise,
        denoise_mask=noise_mask,
        sigmas=sigmas,
        callback=callback,
        disable_pbar=disable_pbar,
        seed=seed,
    )
    return samples.to(device="cpu", dtype=torch.float32)


def sample_custom(
    model,
    noise,
    cfg,
    sampler,
    sigmas,
    positive,
    negative,
    latent_image,
    noise_mask=None,
    callback=None,
    disable_pbar=False,
    seed=None,
):
    """ComfyUI `comfy.sample.sample_custom`: CFG guidance with a SAMPLER object and explicit sigmas."""
    samples = sample_with_sampler(
        model,
        noise,
        positive,
        negative,
        cfg,
        sampler,
        sigmas,
        getattr(model, "model_options", {}),
        latent_image=latent_image,
        denoise_mask=noise_mask,
        callback=callback,
        disable_pbar=disable_pbar,
        seed=seed,
    )
    return samples.to(device="cpu", dtype=torch.float32)


def common_ksampler(
    model,
    seed,
    steps,
    cfg,
    sampler_name,
    scheduler,
    positive,
    negative,
    latent,
    denoise=1.0,
    disable_noise=False,
    start_step=None,
    last_step=None,
    force_full_denoise=False,
    callback=None,
    disable_pbar=True,
):
    """The KSampler / KSamplerAdvanced node body: noise from the seed (or zeros), noise_mask, sampling.
    Returns a copy of the LATENT dict with new `samples`."""
    latent_image = fix_empty_latent_channels(latent["samples"], getattr(model, "latent_channels", None))
    if disable_noise:
        noise = torch.zeros(
            latent_image.size(), dtype=latent_image.dtype, layout=latent_image.layout, device="cpu"
        )
    else:
        noise = prepare_noise(latent_image, seed, latent.get("batch_index"))
    samples = sample(
        model,
        noise,
        steps,
        cfg,
        sampler_name,
        scheduler,
        positive,
        negative,
        latent_image,
        denoise=denoise,
        disable_noise=disable_noise,
        start_step=start_step,
        last_step=last_step,
        force_full_denoise=force_full_denoise,
        noise_mask=latent.get("noise_mask"),
        callback=callback,
        disable_pbar=disable_pbar,
        seed=seed,
    )
    out = latent.copy()
    out["samples"] = samples
    return out
