"""LoRA nodes: LoraLoader and LoraLoaderModelOnly (ComfyUI's nodes.py).

The node object keeps the last file it read, keyed by path, size and modification time, so re-running
with another strength patches again without reading the file (the executor keeps node objects between
prompts). Inputs are cloned, never changed; a strength of 0 returns that input as it is.
"""

from __future__ import annotations

import os
from typing import Any

from nodes._sd_common import filenames, full_path

STRENGTH = ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01})


class _LoraFileCache:
    """The last LoRA file read by one node object: ((path, size, mtime_ns), state dict)."""

    def __init__(self) -> None:
        self.entry: tuple[tuple[str, int, int], dict] | None = None
        self.reads = 0

    def get(self, path: str) -> dict:
        from comfy_core.io.checkpoint import load_state_dict_file

        st = os.stat(path)
        ident = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        if self.entry is None or self.entry[0] != ident:
            self.entry = None  # drop the old file before reading the new one
            sd, _ = load_state_dict_file(path)
            self.entry = (ident, sd)
            self.reads += 1
        return self.entry[1]


class LoraLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "load_lora"
    CATEGORY = "loaders"
    DESCRIPTION = (
        "LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are "
        "denoised such as applying styles. Multiple LoRA nodes can be linked together."
    )
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", "The modified CLIP model.")

    def __init__(self) -> None:
        self.lora_cache = _LoraFileCache()

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}),
                "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}),
                "lora_name": (filenames("loras"), {"tooltip": "The name of the LoRA."}),
                "strength_model": (
                    STRENGTH[0],
                    {
                        **STRENGTH[1],
                        "tooltip": "How strongly to modify the diffusion model. This value can be negative.",
                    },
                ),
                "strength_clip": (
                    STRENGTH[0],
                    {
                        **STRENGTH[1],
                        "tooltip": "How strongly to modify the CLIP model. This value can be negative.",
                    },
                ),
            }
        }

    def load_lora(self, model: Any, clip: Any, lora_name: str, strength_model: float, strength_clip: float):
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        from comfy_core.patching.models import load_lora_for_models

        lora_sd = self.lora_cache.get(full_path("loras", lora_name))
        model_out, clip_out, _ = load_lora_for_models(model, clip, lora_sd, strength_model, strength_clip)
        return (model_out, clip_out)


class LoraLoaderModelOnly(LoraLoader):
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_lora_model_only"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "lora_name": (filenames("loras"),),
                "strength_model": STRENGTH,
            }
        }

    def load_lora_model_only(self, model: Any, lora_name: str, strength_model: float):
        return (self.load_lora(model, None, lora_name, strength_model, 0)[0],)


NODE_CLASS_MAPPINGS = {"LoraLoader": LoraLoader, "LoraLoaderModelOnly": LoraLoaderModelOnly}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraLoader": "Load LoRA"}
