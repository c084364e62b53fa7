"""Write the trained parts as one SD1-layout `.safetensors` checkpoint (fp16 weights, recipe metadata)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from comfy_core.io.checkpoint import save_safetensors
from comfy_core.models.unet import UNetModel
from comfy_core.models.vae import AutoencoderKL
from tools.default_model.dataset import DATASET_VERSION
from tools.default_model.recipe import RECIPE_VERSION, Recipe

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."


def checkpoint_state_dict(unet: UNetModel, text_sd: dict[str, torch.Tensor], vae: AutoencoderKL) -> dict:
    """SD1 key names at reduced size; every float tensor in fp16, `position_ids` int64 as in SD1 files."""
    out: dict[str, torch.Tensor] = {}
    for k, v in unet.state_dict().items():
        out[UNET_PREFIX + k] = v.detach().to(torch.float16)
    for k, v in vae.state_dict().items():
        out[VAE_PREFIX + k] = v.detach().to(torch.float16)
    for k, v in text_sd.items():
        out[TEXT_PREFIX + k] = v.detach().to(torch.float16)
    n = text_sd["text_model.embeddings.position_embedding.weight"].shape[0]
    out[TEXT_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(n, dtype=torch.int64)[None]
    return out


def metadata(recipe: Recipe, command: str, seconds: float, final_loss: float | None) -> dict[str, str]:
    return {
        "modelspec.title": "comfy-core shapes (default model)",
        "modelspec.architecture": "stable-diffusion-v1 (reduced widths)",
        "modelspec.description": (
            "Tiny SD1-layout text-to-image model trained from scratch on synthetic coloured shapes; "
            "128x128, eps prediction, latent scale 0.18215."
        ),
        "comfy_core.default_model.recipe_version": RECIPE_VERSION,
        "comfy_core.default_model.recipe": recipe.to_json(),
        "comfy_core.default_model.dataset_version": DATASET_VERSION,
        "comfy_core.default_model.command": command,
        "comfy_core.default_model.train_seconds": f"{seconds:.0f}",
        "comfy_core.default_model.final_loss": "" if final_loss is None else f"{final_loss:.4f}",
    }


def write_checkpoint(sd: dict[str, torch.Tensor], path: Path, meta: dict[str, str]) -> str:
    """Save and return the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(sd, path, meta)
    return hashlib.sha256(path.read_bytes()).hexdigest()
