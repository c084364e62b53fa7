"""The model folder table of a ComfyUI install: keys, default directories and file extensions."""

from __future__ import annotations

import os

# Files ComfyUI accepts as model weights (compared lower-cased).
SUPPORTED_PT_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})

# Old folder keys that now name another key; both spellings reach the same list.
LEGACY_FOLDER_NAMES = {"unet": "diffusion_models", "clip": "text_encoders"}

# Keys under `<output>` that hold what save nodes (CheckpointSave, LoraSave, ...) wrote, so loaders see them.
OUTPUT_MODEL_FOLDERS = ("checkpoints", "clip", "vae", "diffusion_models", "loras")

PT = "pt"  # marker: the shared supported_pt_extensions set

# key -> (directories relative to models/ (or to base when prefixed with "<base>/"), extensions)
_DEFAULT_TABLE: tuple[tuple[str, tuple[str, ...], object], ...] = (
    ("checkpoints", ("checkpoints",), PT),
    ("configs", ("configs",), [".yaml"]),
    ("loras", ("loras",), PT),
    ("vae", ("vae",), PT),
    ("text_encoders", ("text_encoders", "clip"), PT),
    ("diffusion_models", ("unet", "diffusion_models"), PT),
    ("clip_vision", ("clip_vision",), PT),
    ("style_models", ("style_models",), PT),
    ("embeddings", ("embeddings",), PT),
    ("diffusers", ("diffusers",), ["folder"]),
    ("vae_approx", ("vae_approx",), PT),
    ("controlnet", ("controlnet", "t2i_adapter"), PT),
    ("gligen", ("gligen",), PT),
    ("upscale_models", ("upscale_models",), PT),
    ("latent_upscale_models", ("latent_upscale_models",), PT),
    ("custom_nodes", ("<base>/custom_nodes",), set()),
    ("hypernetworks", ("hypernetworks",), PT),
    ("photomaker", ("photomaker",), PT),
    ("classifiers", ("classifiers",), {""}),
    ("model_patches", ("model_patches",), PT),
    ("audio_encoders", ("audio_encoders",), PT),
)


def map_legacy(folder_name: str) -> str:
    return LEGACY_FOLDER_NAMES.get(folder_name, folder_name)


def default_folders(
    base_path: str, models_dir: str, pt_extensions: set[str]
) -> dict[str, tuple[list[str], set[str] | list[str]]]:
    """A fresh folder table; every PT entry shares the one `pt_extensions` set (as in ComfyUI, where
    adding to `supported_pt_extensions` widens every model folder)."""
    table: dict[str, tuple[list[str], set[str] | list[str]]] = {}
    for key, dirs, exts in _DEFAULT_TABLE:
        paths = []
        for d in dirs:
            if d.startswith("<base>/"):
                paths.append(os.path.join(base_path, d[len("<base>/") :]))
            else:
                paths.append(os.path.join(models_dir, d))
        if exts == PT:
            ext_value: set[str] | list[str] = pt_extensions
        else:
            ext_value = type(exts)(exts)  # fresh copy of the literal list/set
        table[key] = (paths, ext_value)
    return table
