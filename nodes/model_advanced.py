"""Model patch nodes and checkpoint saving (ComfyUI's comfy_extras/nodes_model_advanced.py and
nodes_model_merging.py): ModelSamplingDiscrete, RescaleCFG, CheckpointSave."""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from nodes._sd_common import config_flag, paths


class ModelSamplingDiscrete:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_model_advanced"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "advanced/model"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "sampling": (["eps", "v_prediction", "lcm", "x0", "img_to_img"],),
                "zsnr": ("BOOLEAN", {"default": False}),
            }
        }

    def patch(self, model: Any, sampling: str, zsnr: bool):
        from comfy_core.sampling.discrete_variants import discrete_model_sampling

        current = model.get_model_object("model_sampling")
        m = model.clone()
        m.add_object_patch(
            "model_sampling",
            discrete_model_sampling(
                sampling,
                zsnr=zsnr,
                linear_start=getattr(current, "linear_start", 0.00085),
                linear_end=getattr(current, "linear_end", 0.012),
                timesteps=getattr(current, "num_timesteps", 1000),
            ),
        )
        return (m,)


def rescale_cfg_function(multiplier: float):
    """CFG rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
    eq. 15-16), computed on v-prediction outputs so it applies to eps models too."""

    def rescale_cfg(args: dict) -> torch.Tensor:
        cond, uncond, cond_scale = args["cond"], args["uncond"], args["cond_scale"]
        sigma = args["sigma"]
        sigma = sigma.view(sigma.shape[:1] + (1,) * (cond.ndim - 1))
        x_orig = args["input"]
        x = x_orig / (sigma * sigma + 1.0)
        cond = ((x - (x_orig - cond)) * (sigma**2 + 1.0) ** 0.5) / sigma
        uncond = ((x - (x_orig - uncond)) * (sigma**2 + 1.0) ** 0.5) / sigma
        x_cfg = uncond + cond_scale * (cond - uncond)
        dims = tuple(range(1, cond.ndim))
        ro_pos = torch.std(cond, dim=dims, keepdim=True)
        ro_cfg = torch.std(x_cfg, dim=dims, keepdim=True)
        x_rescaled = x_cfg * (ro_pos / ro_cfg)
        x_final = multiplier * x_rescaled + (1.0 - multiplier) * x_cfg
        return x_orig - (x - x_final * sigma / (sigma * sigma + 1.0) ** 0.5)

    return rescale_cfg


class RescaleCFG:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_model_advanced"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "advanced/model"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "multiplier": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.01}),
            }
        }

    def patch(self, model: Any, multiplier: float):
        m = model.clone()
        m.set_model_sampler_cfg_function(rescale_cfg_function(multiplier))
        return (m,)


MODELSPEC_ARCHITECTURES = {
    "sdxl": "stable-diffusion-xl-v1-base",
    "sdxl_inpaint": "stable-diffusion-xl-v1-base",
    "sdxl_refiner": "stable-diffusion-xl-v1-refiner",
}


def checkpoint_metadata(
    family: Any, title: str, prompt: Any = None, extra_pnginfo: dict | None = None
) -> dict[str, str]:
    """The safetensors metadata ComfyUI's CheckpointSave writes (modelspec for SDXL, prompt, workflow)."""
    metadata: dict[str, str] = {}
    architecture = MODELSPEC_ARCHITECTURES.get(family.name)
    if architecture is not None:
        metadata["modelspec.architecture"] = architecture
        metadata["modelspec.sai_model_spec"] = "1.0.0"
        metadata["modelspec.implementation"] = "sgm"
        metadata["modelspec.title"] = title
    if family.prediction == "eps":
        metadata["modelspec.predict_key"] = "epsilon"
    elif family.prediction == "v_prediction":
        metadata["modelspec.predict_key"] = "v"
    if not config_flag("disable_metadata", False):
        metadata["prompt"] = json.dumps(prompt) if prompt is not None else ""
        for key, value in (extra_pnginfo or {}).items():
            metadata[key] = json.dumps(value)
    return metadata


def save_checkpoint(
    model: Any,
    clip: Any = None,
    vae: Any = None,
    filename_prefix: str = "checkpoints/ComfyUI",
    output_dir: str | None = None,
    prompt: Any = None,
    extra_pnginfo: dict | None = None,
) -> str:
    """Write `<prefix>_<counter:05>_.safetensors` under the output directory; returns its path."""
    from comfy_core.families.loader import checkpoint_state_dict, model_info
    from comfy_core.io.checkpoint import save_safetensors

    info = model_info(model)
    if info is None:
        raise ValueError("this MODEL was not loaded from a supported checkpoint; it cannot be saved")
    p = paths()
    folder, filename, counter, _, _ = p.get_save_image_path(
        filename_prefix, output_dir or p.get_output_directory()
    )
    metadata = checkpoint_metadata(info.family, f"{filename} {counter}", prompt, extra_pnginfo)
    path = os.path.join(folder, f"{filename}_{counter:05}_.safetensors")
    save_safetensors(checkpoint_state_dict(model, clip, vae), path, metadata=metadata)
    return path


class CheckpointSave:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_model_merging"
    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = "advanced/model_merging"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "clip": ("CLIP",),
                "vae": ("VAE",),
                "filename_prefix": ("STRING", {"default": "checkpoints/ComfyUI"}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def save(self, model, clip, vae, filename_prefix, prompt=None, extra_pnginfo=None):  # noqa: ANN001
        save_checkpoint(model, clip, vae, filename_prefix, None, prompt, extra_pnginfo)
        return {}


NODE_CLASS_MAPPINGS = {
    "ModelSamplingDiscrete": ModelSamplingDiscrete,
    "RescaleCFG": RescaleCFG,
    "CheckpointSave": CheckpointSave,
}

NODE_DISPLAY_NAME_MAPPINGS = {"CheckpointSave": "Save Checkpoint"}
