"""KSampler and KSamplerAdvanced (ComfyUI's nodes.py), over `comfy_core.sampling.common_ksampler`."""

from __future__ import annotations

from typing import Any

from nodes._sd_common import cfg_spec, seed_spec


def _sampler_names() -> list[str]:
    from comfy_core.sampling.ksampler import SAMPLER_NAMES

    return list(SAMPLER_NAMES)


def _scheduler_names() -> list[str]:
    from comfy_core.sampling.schedulers import SCHEDULER_NAMES

    return list(SCHEDULER_NAMES)


def common_ksampler(
    model: Any,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: list,
    negative: list,
    latent: dict,
    denoise: float = 1.0,
    disable_noise: bool = False,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
) -> tuple[dict]:
    """The shared body of KSampler and KSamplerAdvanced: load the MODEL, sample with per-step progress and
    previews, return the LATENT (a copy of the input dict with new `samples`)."""
    from comfy_core.memory.estimates import sampling_memory
    from comfy_core.memory.loading import load_for_inference
    from comfy_core.preview import prepare_callback
    from comfy_core.sampling import ksampler as sampling

    callback = prepare_callback(model, steps)
    need, minimum = sampling_memory(model.model, latent["samples"].shape)
    with load_for_inference([model], memory_required=need, minimum_memory_required=minimum) as (loaded,):
        out = sampling.common_ksampler(
            loaded,
            seed,
            steps,
            cfg,
            sampler_name,
            scheduler,
            positive,
            negative,
            latent,
            denoise=denoise,
            disable_noise=disable_noise,
            start_step=start_step,
            last_step=last_step,
            force_full_denoise=force_full_denoise,
            callback=callback,
        )
    return (out,)


class KSampler:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "sampling"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL", {}),
                "seed": seed_spec(),
                "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
                "cfg": cfg_spec(),
                "sampler_name": (_sampler_names(), {}),
                "scheduler": (_scheduler_names(), {}),
                "positive": ("CONDITIONING", {}),
                "negative": ("CONDITIONING", {}),
                "latent_image": ("LATENT", {}),
                "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
            }
        }

    def sample(
        self, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=1.0
    ):  # noqa: ANN001
        return common_ksampler(
            model,
            seed,
            steps,
            cfg,
            sampler_name,
            scheduler,
            positive,
            negative,
            latent_image,
            denoise=denoise,
        )


class KSamplerAdvanced:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "sampling"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "add_noise": (["enable", "disable"],),
                "noise_seed": seed_spec(),
                "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
                "cfg": cfg_spec(),
                "sampler_name": (_sampler_names(),),
                "scheduler": (_scheduler_names(),),
                "positive": ("CONDITIONING",),
                "negative": ("CONDITIONING",),
                "latent_image": ("LATENT",),
                "start_at_step": ("INT", {"default": 0, "min": 0, "max": 10000}),
                "end_at_step": ("INT", {"default": 10000, "min": 0, "max": 10000}),
                "return_with_leftover_noise": (["disable", "enable"],),
            }
        }

    def sample(  # noqa: ANN201
        self,
        model,  # noqa: ANN001
        add_noise: str,
        noise_seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        positive: list,
        negative: list,
        latent_image: dict,
        start_at_step: int,
        end_at_step: int,
        return_with_leftover_noise: str,
        denoise: float = 1.0,
    ):
        return common_ksampler(
            model,
            noise_seed,
            steps,
            cfg,
            sampler_name,
            scheduler,
            positive,
            negative,
            latent_image,
            denoise=denoise,
            disable_noise=add_noise == "disable",
            start_step=start_at_step,
            last_step=end_at_step,
            force_full_denoise=return_with_leftover_noise != "enable",
        )


NODE_CLASS_MAPPINGS = {"KSampler": KSampler, "KSamplerAdvanced": KSamplerAdvanced}

NODE_DISPLAY_NAME_MAPPINGS = {"KSampler": "KSampler", "KSamplerAdvanced": "KSampler (Advanced)"}
