"""Classifier-free guidance and the GUIDER objects (ComfyUI `CFGGuider`, `Guider_Basic`, `Guider_DualCFG`).

CFG (Ho & Salimans 2022): D = D_uncond + cfg * (D_cond - D_uncond), computed on denoised predictions.
With cfg == 1 (and no `disable_cfg1_optimization`) the unconditional pass is skipped. Hooks in
`model_options` follow ComfyUI: `sampler_calc_cond_batch_function`, `sampler_pre_cfg_function` (list),
`sampler_cfg_function` (gets noise-space `cond`/`uncond`, returns the guided noise),
`sampler_post_cfg_function` (list, gets and returns denoised), `model_function_wrapper`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from comfy_core.sampling.cond_batch import (
    calc_cond_batch,
    calculate_start_end_timesteps,
    convert_cond,
    copy_nested_dicts,
    create_cond_with_same_area_if_none,
    resolve_areas_and_cond_masks,
)
from comfy_core.sampling.conds import repeat_to_batch_size, wrap_cond


def cfg_function(
    model, cond_pred, uncond_pred, cond_scale, x, timestep, model_options=None, cond=None, uncond=None
):
    model_options = {} if model_options is None else model_options
    if "sampler_cfg_function" in model_options:
        args = {
            "cond": x - cond_pred,
            "uncond": x - uncond_pred,
            "cond_scale": cond_scale,
            "timestep": timestep,
            "input": x,
            "sigma": timestep,
            "cond_denoised": cond_pred,
            "uncond_denoised": uncond_pred,
            "model": model,
            "model_options": model_options,
            "input_cond": cond,
            "input_uncond": uncond,
        }
        cfg_result = x - model_options["sampler_cfg_function"](args)
    else:
        cfg_result = uncond_pred + (cond_pred - uncond_pred) * cond_scale
    for fn in model_options.get("sampler_post_cfg_function", []):
        args = {
            "denoised": cfg_result,
            "cond": cond,
            "uncond": uncond,
            "cond_scale": cond_scale,
            "model": model,
            "uncond_denoised": uncond_pred,
            "cond_denoised": cond_pred,
            "sigma": timestep,
            "model_options": model_options,
            "input": x,
        }
        cfg_result = fn(args)
    return cfg_result


def sampling_function(model, x, timestep, uncond, cond, cond_scale, model_options=None, seed=None):
    """One guided denoiser evaluation (cond and uncond batched together when they fit)."""
    model_options = dict(model_options or {})
    model_options["current_cfg_scale"] = cond_scale
    if math.isclose(cond_scale, 1.0) and not model_options.get("disable_cfg1_optimization", False):
        uncond_ = None
    else:
        uncond_ = uncond
    conds = [cond, uncond_]
    if "sampler_calc_cond_batch_function" in model_options:
        args = {"conds": conds, "input": x, "sigma": timestep, "model": model, "model_options": model_options}
        out = model_options["sampler_calc_cond_batch_function"](args)
    else:
        out = calc_cond_batch(model, conds, x, timestep, model_options)
    for fn in model_options.get("sampler_pre_cfg_function", []):
        args = {
            "conds": conds,
            "conds_out": out,
            "cond_scale": cond_scale,
            "timestep": timestep,
            "input": x,
            "sigma": timestep,
            "model": model,
            "model_options": model_options,
        }
        out = fn(args)
    return cfg_function(
        model, out[0], out[1], cond_scale, x, timestep, model_options=model_options, cond=cond, uncond=uncond_
    )


def reshape_mask(input_mask: torch.Tensor, output_shape: torch.Size) -> torch.Tensor:
    """Resize a noise mask to the latent shape (bilinear/trilinear), repeat channels and batch."""
    dims = len(output_shape) - 2
    if dims == 1:
        scale_mode = "linear"
    elif dims == 2:
        input_mask = input_mask.reshape((-1, 1, input_mask.shape[-2], input_mask.shape[-1]))
        scale_mode = "bilinear"
    elif dims == 3:
        if len(input_mask.shape) < 5:
            input_mask = input_mask.reshape((1, 1, -1, input_mask.shape[-2], input_mask.shape[-1]))
        scale_mode = "trilinear"
    else:
        raise ValueError(f"unsupported latent rank {len(output_shape)}")
    mask = torch.nn.functional.interpolate(input_mask, size=output_shape[2:], mode=scale_mode)
    if mask.shape[1] < output_shape[1]:
        mask = mask.repeat((1, output_shape[1]) + (1,) * dims)[:, : output_shape[1]]
    return repeat_to_batch_size(mask, output_shape[0])


def _encode_model_conds(model, conds, noise, device, prompt_type, latent_image, denoise_mask, seed):
    for t in range(len(conds)):
        x = conds[t]
        params = x.copy()
        params["device"] = device
        params["noise"] = noise
        params["width"] = params.get("width", noise.shape[3] * 8 if len(noise.shape) >= 4 else None)
        params["height"] = params.get("height", noise.shape[2] * 8)
        params["prompt_type"] = params.get("prompt_type", prompt_type)
        params.setdefault("seed", seed)
        out = model.extra_conds(params, noise, latent_image, denoise_mask, device)
        x = x.copy()
        model_conds = x["model_conds"].copy()
        for k, v in out.items():
            model_conds[k] = wrap_cond(k, v)
        x["model_conds"] = model_conds
        conds[t] = x
    return conds


def _apply_empty_x_to_equal_area(conds, uncond, name):
    """Give uncond entries the cond's ControlNet/GLIGEN object so both halves are controlled alike."""
    cond_objs = [x[name] for x in conds if "area" not in x and x.get(name) is not None]
    uncond_objs = [x[name] for x in uncond if "area" not in x and x.get(name) is not None]
    uncond_other = [(x, t) for t, x in enumerate(uncond) if "area" not in x and x.get(name) is None]
    if len(uncond_objs) > 0 or not uncond_other:
        return
    for k in range(len(cond_objs)):
        o, idx = uncond_other[k % len(uncond_other)]
        n = o.copy()
        n[name] = cond_objs[k]
        if name in o and o[name] is not None:
            uncond += [n]
        else:
            uncond[idx] = n


def process_conds(model, noise, conds, device, latent_image=None, denoise_mask=None, seed=None):
    """Resolve areas/masks/timestep ranges, encode model inputs and pair areas across the lists."""
    ms = model.model_sampling
    for k in conds:
        conds[k] = conds[k][:]
        resolve_areas_and_cond_masks(conds[k], tuple(noise.shape[2:]), device)
    for k in conds:
        calculate_start_end_timesteps(ms, conds[k])
    if hasattr(model, "extra_conds"):
        for k in conds:
            conds[k] = _encode_model_conds(
                model, conds[k], noise, device, k, latent_image, denoise_mask, seed
            )
    for k in conds:
        for c in conds[k]:
            for kk in conds:
                if k != kk:
                    create_cond_with_same_area_if_none(conds[kk], c)
    for k in conds:
        for c in conds[k]:
            if "control" in c and hasattr(c["control"], "pre_run"):
                c["control"].pre_run(model, lambda a: ms.percent_to_sigma(a))
    if "positive" in conds:
        positive = conds["positive"]
        for k in conds:
            if k != "positive":
                _apply_empty_x_to_equal_area(
                    [c for c in positive if c.get("control_apply_to_uncond", False)], conds[k], "control"
                )
                _apply_empty_x_to_equal_area(positive, conds[k], "gligen")
    return conds


class CFGGuider:
    """GUIDER for positive/negative conditioning with a CFG scale (ComfyUI `comfy.samplers.CFGGuider`)."""

    def __init__(self, model: Any, model_options: dict | None = None) -> None:
        self.model_patcher = model  # ComfyUI name; here the DiffusionModel itself
        self.model_options = dict(
            getattr(model, "model_options", {}) if model_options is None else model_options
        )
        self.original_conds: dict[str, list[dict]] = {}
        self.cfg = 1.0

    def set_conds(self, positive: list, negative: list) -> None:
        self.inner_set_conds({"positive": positive, "negative": negative})

    def set_cfg(self, cfg: float) -> None:
        self.cfg = cfg

    def inner_set_conds(self, conds: dict[str, list]) -> None:
        for k in conds:
            self.original_conds[k] = convert_cond(conds[k])

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.predict_noise(*args, **kwargs)

    def predict_noise(self, x, timestep, model_options=None, seed=None):
        return sampling_function(
            self.inner_model,
            x,
            timestep,
            self.conds.get("negative"),
            self.conds.get("positive"),
            self.cfg,
            model_options=model_options,
            seed=seed,
        )

    def inner_sample(
        self, noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed
    ):
        if (
            latent_image is not None and torch.count_nonzero(latent_image) > 0
        ):  # an empty latent is not shifted
            latent_image = _process_latent(self.inner_model, "process_latent_in", latent_image)
        self.conds = process_conds(
            self.inner_model, noise, self.conds, device, latent_image, denoise_mask, seed
        )
        extra_model_options = copy_nested_dicts(self.model_options)
        extra_model_options.setdefault("transformer_options", {})["sample_sigmas"] = sigmas
        extra_args = {"model_options": extra_model_options, "seed": seed}
        samples = sampler.sample(
            self, sigmas, extra_args, callback, noise, latent_image, denoise_mask, disable_pbar
        )
        return _process_latent(self.inner_model, "process_latent_out", samples.to(torch.float32))

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
    ):
        self.inner_model = self.model_patcher
        device = getattr(self.model_patcher, "load_device", None) or noise.device
        noise = noise.to(device=device, dtype=torch.float32)
        latent_image = latent_image.to(device=device, dtype=torch.float32)
        sigmas = sigmas.to(device)
        try:
            return self.inner_sample(
                noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed
            )
        finally:
            del self.inner_model

    def sample(
        self,
        noise,
        latent_image,
        sampler,
        sigmas,
        denoise_mask=None,
        callback=None,
        disable_pbar=False,
        seed=None,
    ):
        """Run `sampler` over `sigmas` from `noise` (+ `latent_image` for img2img); returns the latent."""
        if sigmas.shape[-1] == 0:
            return latent_image
        if denoise_mask is not None:
            device = getattr(self.model_patcher, "load_device", None) or latent_image.device
            denoise_mask = reshape_mask(denoise_mask, latent_image.shape).to(device).float()
        self.conds = {k: [c.copy() for c in v] for k, v in self.original_conds.items()}
        orig_model_options = self.model_options
        self.model_options = copy_nested_dicts(self.model_options)
        try:
            return self.outer_sample(
                noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed
            )
        finally:
            self.model_options = orig_model_options
            del self.conds


def _process_latent(model: Any, name: str, latent: torch.Tensor) -> torch.Tensor:
    fn = getattr(model, name, None)
    return latent if fn is None else fn(latent)


class BasicGuider(CFGGuider):
    """GUIDER with one conditioning and no CFG (ComfyUI `Guider_Basic`, e.g. for Flux guidance-distilled models)."""

    def set_conds(self, positive: list) -> None:  # type: ignore[override]
        self.inner_set_conds({"positive": positive})


class DualCFGGuider(CFGGuider):
    """Two positive conditionings and a negative (ComfyUI `Guider_DualCFG`): "regular" =
    cfg_function(cond2 vs negative, cfg2) + cfg1 * (cond1 - cond2); "nested" =
    neg + cfg2 * (cfg_function(cond1 vs cond2, cfg1) - neg)."""

    def set_cfg(self, cfg1: float, cfg2: float, nested: bool = False) -> None:  # type: ignore[override]
        self.cfg1 = cfg1
        self.cfg2 = cfg2
        self.nested = nested

    def set_conds(self, positive: list, middle: list, negative: list) -> None:  # type: ignore[override]
        middle = [[c[0], dict(c[1], prompt_type="negative")] for c in middle]
        self.inner_set_conds({"positive": positive, "middle": middle, "negative": negative})

    def predict_noise(self, x, timestep, model_options=None, seed=None):
        model_options = {} if model_options is None else model_options
        negative_cond = self.conds.get("negative")
        middle_cond = self.conds.get("middle")
        positive_cond = self.conds.get("positive")
        if self.nested:
            out = calc_cond_batch(
                self.inner_model, [negative_cond, middle_cond, positive_cond], x, timestep, model_options
            )
            pred_text = cfg_function(
                self.inner_model,
                out[2],
                out[1],
                self.cfg1,
                x,
                timestep,
                model_options=model_options,
                cond=positive_cond,
                uncond=middle_cond,
            )
            return out[0] + self.cfg2 * (pred_text - out[0])
        if not model_options.get("disable_cfg1_optimization", False) and math.isclose(self.cfg2, 1.0):
            negative_cond = None
            if math.isclose(self.cfg1, 1.0):
                middle_cond = None
        out = calc_cond_batch(
            self.inner_model, [negative_cond, middle_cond, positive_cond], x, timestep, model_options
        )
        return (
            cfg_function(
                self.inner_model,
                out[1],
                out[0],
                self.cfg2,
                x,
                timestep,
                model_options=model_options,
                cond=middle_cond,
                uncond=negative_cond,
            )
            + (out[2] - out[1]) * self.cfg1
        )
