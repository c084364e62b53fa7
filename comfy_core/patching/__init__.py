"""Weight adapters (LoRA, LoCon, LoHa, LoKr, GLoRA, diff, set) and LoRA key maps.

* `adapters`: the adapter data classes and their fp32 arithmetic.
* `parse.load_lora(lora_sd, key_map) -> (patches, unmatched_keys)`: a LoRA/LyCORIS file -> patches.
* `keymaps`: file module names -> model keys (UNet LDM + diffusers names, text encoders per text kind).
* `unet_names`: the diffusers <-> LDM UNet name map built from `UNetParams`.
* `models.load_lora_for_models(model, clip, lora_sd, strength_model, strength_clip)`: what LoraLoader does.
"""

from __future__ import annotations

from comfy_core.patching.adapters import (
    DiffAdapter,
    GLoRAAdapter,
    LoHaAdapter,
    LoKrAdapter,
    LoRAAdapter,
    SetAdapter,
    WeightAdapter,
)
from comfy_core.patching.parse import load_lora

__all__ = [
    "DiffAdapter",
    "GLoRAAdapter",
    "LoHaAdapter",
    "LoKrAdapter",
    "LoRAAdapter",
    "SetAdapter",
    "WeightAdapter",
    "load_lora",
]
