"""Loader nodes: checkpoints, diffusion models, text encoders and VAEs (ComfyUI's nodes.py loaders)."""

from __future__ import annotations

from typing import Any

from nodes._sd_common import embedding_dirs, filenames, full_path, paths

CLIP_TYPES = [
    "stable_diffusion",
    "stable_cascade",
    "sd3",
    "stable_audio",
    "mochi",
    "ltxv",
    "pixart",
    "cosmos",
    "lumina2",
    "wan",
    "hidream",
    "chroma",
    "ace",
    "omnigen2",
    "qwen_image",
    "hunyuan_image",
    "flux2",
    "ovis",
]
DUAL_CLIP_TYPES = [
    "sdxl",
    "sd3",
    "flux",
    "hunyuan_video",
    "hidream",
    "hunyuan_image",
    "hunyuan_video_15",
    "kandinsky5",
    "kandinsky5_image",
    "ltxv",
    "newbie",
]
WEIGHT_DTYPE_OPTIONS = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
TAESD_NAMES = ("taesd", "taesdxl", "taesd3", "taef1")


def _load_checkpoint(ckpt_name: str) -> tuple[Any, Any, Any]:
    from comfy_core.families.loader import load_checkpoint

    return load_checkpoint(full_path("checkpoints", ckpt_name), embedding_dirs())


class CheckpointLoaderSimple:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    CATEGORY = "loaders"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"ckpt_name": (filenames("checkpoints"), {})}}

    def load_checkpoint(self, ckpt_name: str):
        return _load_checkpoint(ckpt_name)


class CheckpointLoader:
    """Deprecated: the config file is ignored; the model configuration is read from the weights."""

    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    CATEGORY = "advanced/loaders"
    DEPRECATED = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "config_name": (filenames("configs"),),
                "ckpt_name": (filenames("checkpoints"),),
            }
        }

    def load_checkpoint(self, config_name: str, ckpt_name: str):
        return _load_checkpoint(ckpt_name)


class UNETLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_unet"
    CATEGORY = "advanced/loaders"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "unet_name": (filenames("diffusion_models"),),
                "weight_dtype": (list(WEIGHT_DTYPE_OPTIONS),),
            }
        }

    def load_unet(self, unet_name: str, weight_dtype: str):
        from comfy_core.families.loader import load_diffusion_model

        return (load_diffusion_model(full_path("diffusion_models", unet_name), weight_dtype),)


def _load_clip(names: list[str], clip_type: str, device: str) -> Any:
    import torch

    from comfy_core.io.checkpoint import load_state_dict_file
    from comfy_core.text.loader import load_clip_files

    state_dicts = [load_state_dict_file(full_path("text_encoders", n))[0] for n in names]
    options: dict[str, Any] = {}
    if device == "cpu":
        options.update(device="cpu", dtype=torch.float32)
    else:
        from comfy_core.memory.loading import compute_device

        dev = compute_device()
        options.update(device=dev, dtype=torch.float32 if dev.type == "cpu" else torch.float16)
    return load_clip_files(state_dicts, clip_type, embedding_dirs(), **options)


class CLIPLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    CATEGORY = "advanced/loaders"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"clip_name": (filenames("text_encoders"),), "type": (list(CLIP_TYPES),)},
            "optional": {"device": (["default", "cpu"], {"advanced": True})},
        }

    def load_clip(self, clip_name: str, type: str = "stable_diffusion", device: str = "default"):
        return (_load_clip([clip_name], type, device),)


class DualCLIPLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    CATEGORY = "advanced/loaders"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "clip_name1": (filenames("text_encoders"),),
                "clip_name2": (filenames("text_encoders"),),
                "type": (list(DUAL_CLIP_TYPES),),
            },
            "optional": {"device": (["default", "cpu"], {"advanced": True})},
        }

    def load_clip(self, clip_name1: str, clip_name2: str, type: str, device: str = "default"):
        return (_load_clip([clip_name1, clip_name2], type, device),)


def taesd_pairs(approx: list[str]) -> dict[str, tuple[str, str]]:
    """Synthetic VAE names whose encoder and decoder files both exist in vae_approx -> (encoder, decoder)."""
    out = {}
    for name in TAESD_NAMES:
        enc = next((f for f in approx if f.startswith(f"{name}_encoder.")), None)
        dec = next((f for f in approx if f.startswith(f"{name}_decoder.")), None)
        if enc is not None and dec is not None:
            out[name] = (enc, dec)
    return out


class VAELoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"
    CATEGORY = "loaders"

    @staticmethod
    def vae_list() -> list[str]:
        return filenames("vae") + list(taesd_pairs(filenames("vae_approx"))) + ["pixel_space"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"vae_name": (cls.vae_list(),)}}

    def load_vae(self, vae_name: str):
        from comfy_core.families import loader

        if vae_name == "pixel_space":
            return (loader.pixel_space_vae(),)
        if vae_name in TAESD_NAMES:
            pair = taesd_pairs(filenames("vae_approx")).get(vae_name)
            if pair is None:
                raise FileNotFoundError(f"{vae_name}: encoder and decoder files are needed in vae_approx")
            p = paths()
            enc, dec = (p.get_full_path_or_raise("vae_approx", f) for f in pair)
            return (loader.load_taesd(vae_name, enc, dec),)
        return (loader.load_vae_file(full_path("vae", vae_name)),)


NODE_CLASS_MAPPINGS = {
    "CheckpointLoaderSimple": CheckpointLoaderSimple,
    "CheckpointLoader": CheckpointLoader,
    "UNETLoader": UNETLoader,
    "CLIPLoader": CLIPLoader,
    "DualCLIPLoader": DualCLIPLoader,
    "VAELoader": VAELoader,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "CheckpointLoaderSimple": "Load Checkpoint",
    "CheckpointLoader": "Load Checkpoint With Config (DEPRECATED)",
    "UNETLoader": "Load Diffusion Model",
    "CLIPLoader": "Load CLIP",
    "VAELoader": "Load VAE",
}
