"""Custom-sampling nodes (ComfyUI's comfy_extras/nodes_custom_sampler.py, V3 schema): samplers, schedulers,
sigma tools, noise sources, guiders, SamplerCustom and SamplerCustomAdvanced."""

from __future__ import annotations

import copy
from typing import Any

import torch

from comfy_core.memory.patcher import ModelPatcher
from comfy_core.registry.v3 import io
from nodes._sd_common import SEED_MAX

MODULE = "comfy_extras.nodes_custom_sampler"
SCHEDULERS_CATEGORY = "sampling/custom_sampling/schedulers"
SIGMAS_CATEGORY = "sampling/custom_sampling/sigmas"
NOISE_CATEGORY = "sampling/custom_sampling/noise"
GUIDERS_CATEGORY = "sampling/custom_sampling/guiders"


def _seed_input(name: str) -> io.Int.Input:
    return io.Int.Input(name, default=0, min=0, max=SEED_MAX, control_after_generate=True)


def _cfg_input(name: str) -> io.Float.Input:
    return io.Float.Input(name, default=8.0, min=0.0, max=100.0, step=0.1, round=0.01)


def _sigma_inputs() -> list[io.Float.Input]:
    return [
        io.Float.Input("sigma_max", default=14.614642, min=0.0, max=5000.0, step=0.01, round=False),
        io.Float.Input("sigma_min", default=0.0291675, min=0.0, max=5000.0, step=0.01, round=False),
    ]


def _latent_channels(model: Any) -> int | None:
    inner = model.model if isinstance(model, ModelPatcher) else model
    return getattr(inner, "latent_channels", None)


def _process_latent_out(model: Any, latent: torch.Tensor) -> torch.Tensor:
    inner = model.model if isinstance(model, ModelPatcher) else model
    fn = getattr(inner, "process_latent_out", None)
    return latent if fn is None else fn(latent)


def _prepare_latent(model: Any, latent_image: dict) -> dict:
    from comfy_core.sampling.noise import fix_empty_latent_channels

    latent = latent_image.copy()
    latent["samples"] = fix_empty_latent_channels(latent["samples"], _latent_channels(model))
    return latent


def _outputs(model: Any, latent: dict, samples: torch.Tensor, x0_output: dict) -> io.NodeOutput:
    out = latent.copy()
    out["samples"] = samples
    if "x0" in x0_output:
        out_denoised = latent.copy()
        out_denoised["samples"] = _process_latent_out(model, x0_output["x0"].cpu().float())
    else:
        out_denoised = out
    return io.NodeOutput(out, out_denoised)


class SamplerCustom(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SamplerCustom",
            category="sampling/custom_sampling",
            inputs=[
                io.Model.Input("model"),
                io.Boolean.Input("add_noise", default=True),
                _seed_input("noise_seed"),
                _cfg_input("cfg"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Sampler.Input("sampler"),
                io.Sigmas.Input("sigmas"),
                io.Latent.Input("latent_image"),
            ],
            outputs=[
                io.Latent.Output(display_name="output"),
                io.Latent.Output(display_name="denoised_output"),
            ],
        )

    @classmethod
    def execute(cls, model, add_noise, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image):  # noqa: ANN001
        from comfy_core.memory.estimates import sampling_memory
        from comfy_core.memory.loading import load_for_inference
        from comfy_core.preview import prepare_callback
        from comfy_core.sampling.ksampler import sample_custom
        from comfy_core.sampling.noise import Noise_EmptyNoise, Noise_RandomNoise

        latent = _prepare_latent(model, latent_image)
        source = Noise_RandomNoise(noise_seed) if add_noise else Noise_EmptyNoise()
        noise = source.generate_noise(latent)
        x0_output: dict = {}
        callback = prepare_callback(model, sigmas.shape[-1] - 1, x0_output)
        need, minimum = sampling_memory(model.model, latent["samples"].shape)
        with load_for_inference([model], memory_required=need, minimum_memory_required=minimum) as (loaded,):
            samples = sample_custom(
                loaded,
                noise,
                cfg,
                sampler,
                sigmas,
                positive,
                negative,
                latent["samples"],
                noise_mask=latent.get("noise_mask"),
                callback=callback,
                disable_pbar=True,
                seed=noise_seed,
            )
        return _outputs(model, latent, samples, x0_output)


class SamplerCustomAdvanced(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SamplerCustomAdvanced",
            category="sampling/custom_sampling",
            inputs=[
                io.Noise.Input("noise"),
                io.Guider.Input("guider"),
                io.Sampler.Input("sampler"),
                io.Sigmas.Input("sigmas"),
                io.Latent.Input("latent_image"),
            ],
            outputs=[
                io.Latent.Output(display_name="output"),
                io.Latent.Output(display_name="denoised_output"),
            ],
        )

    @classmethod
    def execute(cls, noise, guider, sampler, sigmas, latent_image):  # noqa: ANN001
        from comfy_core.memory.estimates import sampling_memory
        from comfy_core.memory.loading import load_for_inference
        from comfy_core.preview import prepare_callback

        patcher = guider.model_patcher
        latent = _prepare_latent(patcher, latent_image)
        x0_output: dict = {}
        callback = prepare_callback(patcher, sigmas.shape[-1] - 1, x0_output)
        models = [patcher] if isinstance(patcher, ModelPatcher) else []
        need, minimum = sampling_memory(getattr(patcher, "model", None), latent["samples"].shape)
        with load_for_inference(models, memory_required=need, minimum_memory_required=minimum) as loaded:
            run = copy.copy(guider)
            if loaded:
                run.model_patcher = loaded[0]
            samples = run.sample(
                noise.generate_noise(latent),
                latent["samples"],
                sampler,
                sigmas,
                denoise_mask=latent.get("noise_mask"),
                callback=callback,
                disable_pbar=True,
                seed=noise.seed,
            )
        return _outputs(patcher, latent, samples.to("cpu", torch.float32), x0_output)


class KSamplerSelect(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        from comfy_core.sampling.ksampler import SAMPLER_NAMES

        return io.Schema(
            node_id="KSamplerSelect",
            category="sampling/custom_sampling/samplers",
            inputs=[io.Combo.Input("sampler_name", options=list(SAMPLER_NAMES))],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    def execute(cls, sampler_name: str) -> io.NodeOutput:
        from comfy_core.sampling.ksampler import sampler_object

        return io.NodeOutput(sampler_object(sampler_name))


class BasicScheduler(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        from comfy_core.sampling.schedulers import SCHEDULER_NAMES

        return io.Schema(
            node_id="BasicScheduler",
            category=SCHEDULERS_CATEGORY,
            inputs=[
                io.Model.Input("model"),
                io.Combo.Input("scheduler", options=list(SCHEDULER_NAMES)),
                io.Int.Input("steps", default=20, min=1, max=10000),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, model, scheduler: str, steps: int, denoise: float) -> io.NodeOutput:  # noqa: ANN001
        from comfy_core.sampling.schedulers import calculate_sigmas

        total_steps = steps
        if denoise < 1.0:
            if denoise <= 0.0:
                return io.NodeOutput(torch.FloatTensor([]))
            total_steps = int(steps / denoise)
        sigmas = calculate_sigmas(model.get_model_object("model_sampling"), scheduler, total_steps).cpu()
        return io.NodeOutput(sigmas[-(steps + 1) :])


class KarrasScheduler(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="KarrasScheduler",
            category=SCHEDULERS_CATEGORY,
            inputs=[
                io.Int.Input("steps", default=20, min=1, max=10000),
                *_sigma_inputs(),
                io.Float.Input("rho", default=7.0, min=0.0, max=100.0, step=0.01, round=False),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, steps: int, sigma_max: float, sigma_min: float, rho: float) -> io.NodeOutput:
        from comfy_core.sampling.schedulers import get_sigmas_karras

        return io.NodeOutput(get_sigmas_karras(n=steps, sigma_min=sigma_min, sigma_max=sigma_max, rho=rho))


class ExponentialScheduler(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ExponentialScheduler",
            category=SCHEDULERS_CATEGORY,
            inputs=[io.Int.Input("steps", default=20, min=1, max=10000), *_sigma_inputs()],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, steps: int, sigma_max: float, sigma_min: float) -> io.NodeOutput:
        from comfy_core.sampling.schedulers import get_sigmas_exponential

        return io.NodeOutput(get_sigmas_exponential(n=steps, sigma_min=sigma_min, sigma_max=sigma_max))


class SDTurboScheduler(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SDTurboScheduler",
            category=SCHEDULERS_CATEGORY,
            inputs=[
                io.Model.Input("model"),
                io.Int.Input("steps", default=1, min=1, max=10),
                io.Float.Input("denoise", default=1.0, min=0, max=1.0, step=0.01),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, model, steps: int, denoise: float) -> io.NodeOutput:  # noqa: ANN001
        # SD-Turbo was distilled on timesteps 999, 899, ..., 99; denoise < 1 starts further down the list.
        start_step = 10 - int(10 * denoise)
        timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start_step : start_step + steps]
        sigmas = model.get_model_object("model_sampling").sigma(timesteps)
        return io.NodeOutput(torch.cat([sigmas, sigmas.new_zeros([1])]))


class SplitSigmas(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SplitSigmas",
            category=SIGMAS_CATEGORY,
            inputs=[io.Sigmas.Input("sigmas"), io.Int.Input("step", default=0, min=0, max=10000)],
            outputs=[
                io.Sigmas.Output(display_name="high_sigmas"),
                io.Sigmas.Output(display_name="low_sigmas"),
            ],
        )

    @classmethod
    def execute(cls, sigmas: torch.Tensor, step: int) -> io.NodeOutput:
        return io.NodeOutput(sigmas[: step + 1], sigmas[step:])


class SplitSigmasDenoise(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SplitSigmasDenoise",
            category=SIGMAS_CATEGORY,
            inputs=[
                io.Sigmas.Input("sigmas"),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01),
            ],
            outputs=[
                io.Sigmas.Output(display_name="high_sigmas"),
                io.Sigmas.Output(display_name="low_sigmas"),
            ],
        )

    @classmethod
    def execute(cls, sigmas: torch.Tensor, denoise: float) -> io.NodeOutput:
        steps = max(sigmas.shape[-1] - 1, 0)
        total_steps = round(steps * denoise)
        # ComfyUI slices with -(total_steps): denoise 0 gives an empty high part and one low sigma
        return io.NodeOutput(sigmas[:-total_steps], sigmas[-(total_steps + 1) :])


class FlipSigmas(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FlipSigmas",
            category=SIGMAS_CATEGORY,
            inputs=[io.Sigmas.Input("sigmas")],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, sigmas: torch.Tensor) -> io.NodeOutput:
        if len(sigmas) == 0:
            return io.NodeOutput(sigmas)
        sigmas = sigmas.flip(0)
        if sigmas[0] == 0:
            sigmas[0] = 0.0001
        return io.NodeOutput(sigmas)


class RandomNoise(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RandomNoise",
            category=NOISE_CATEGORY,
            inputs=[_seed_input("noise_seed")],
            outputs=[io.Noise.Output()],
        )

    @classmethod
    def execute(cls, noise_seed: int) -> io.NodeOutput:
        from comfy_core.sampling.noise import Noise_RandomNoise

        return io.NodeOutput(Noise_RandomNoise(noise_seed))


class DisableNoise(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DisableNoise", category=NOISE_CATEGORY, inputs=[], outputs=[io.Noise.Output()]
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        from comfy_core.sampling.noise import Noise_EmptyNoise

        return io.NodeOutput(Noise_EmptyNoise())


class CFGGuider(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="CFGGuider",
            category=GUIDERS_CATEGORY,
            inputs=[
                io.Model.Input("model"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                _cfg_input("cfg"),
            ],
            outputs=[io.Guider.Output()],
        )

    @classmethod
    def execute(cls, model, positive, negative, cfg: float) -> io.NodeOutput:  # noqa: ANN001
        from comfy_core.sampling import guiders

        guider = guiders.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        return io.NodeOutput(guider)


class BasicGuider(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="BasicGuider",
            category=GUIDERS_CATEGORY,
            inputs=[io.Model.Input("model"), io.Conditioning.Input("conditioning")],
            outputs=[io.Guider.Output()],
        )

    @classmethod
    def execute(cls, model, conditioning) -> io.NodeOutput:  # noqa: ANN001
        from comfy_core.sampling import guiders

        guider = guiders.BasicGuider(model)
        guider.set_conds(conditioning)
        return io.NodeOutput(guider)


class DualCFGGuider(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = MODULE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DualCFGGuider",
            category=GUIDERS_CATEGORY,
            inputs=[
                io.Model.Input("model"),
                io.Conditioning.Input("cond1"),
                io.Conditioning.Input("cond2"),
                io.Conditioning.Input("negative"),
                _cfg_input("cfg_conds"),
                _cfg_input("cfg_cond2_negative"),
                io.Combo.Input("style", options=["regular", "nested"]),
            ],
            outputs=[io.Guider.Output()],
        )

    @classmethod
    def execute(cls, model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style) -> io.NodeOutput:  # noqa: ANN001
        from comfy_core.sampling import guiders

        guider = guiders.DualCFGGuider(model)
        guider.set_conds(cond1, cond2, negative)
        guider.set_cfg(cfg_conds, cfg_cond2_negative, nested=(style == "nested"))
        return io.NodeOutput(guider)


NODES: tuple[type[io.ComfyNode], ...] = (
    SamplerCustom,
    SamplerCustomAdvanced,
    KSamplerSelect,
    BasicScheduler,
    KarrasScheduler,
    ExponentialScheduler,
    SDTurboScheduler,
    SplitSigmas,
    SplitSigmasDenoise,
    FlipSigmas,
    RandomNoise,
    DisableNoise,
    CFGGuider,
    BasicGuider,
    DualCFGGuider,
)

NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in NODES}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
