"""LoRA key maps: file module name -> model state-dict key, as data per model family.

UNet (SD1, SD2, SDXL; any UNet described by `UNetParams`), for each weight `diffusion_model.<path>.weight`:
  `lora_unet_<path with . -> _>` and `lora_prior_unet_...` (LDM names, e.g. SDXL kohya files),
  the same for the diffusers names (`lora_unet_down_blocks_0_attentions_0_...`, SD1 kohya files),
  `lycoris_<diffusers path>`, diffusers/PEFT names with and without `unet.` and the old attention-processor
  form (`...attn1.processor.to_q`, `...processor.to_out`), and the generic `diffusion_model.<path>`.
Text encoders (`clip.get_sd()` names `clip_<slot>.transformer.text_model.encoder.layers.N.<module>.weight`):
  kohya `<prefix>text_model_encoder_layers_N_<module with _>` with the prefixes of the text kind below,
  diffusers/PEFT `<prefix>text_model.encoder.layers.N.<module>`, and the generic `text_encoders.<key>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from comfy_core.models.unet import UNetParams
from comfy_core.patching.unet_names import unet_module_map

UNET_PREFIX = "diffusion_model."
UNET_KOHYA_PREFIXES = ("lora_unet_", "lora_prior_unet_")
UNET_DIFFUSERS_PREFIXES = ("", "unet.")

# text kind -> CLIP slot -> (kohya prefixes, diffusers prefixes). ComfyUI's rules: SD1/SD2 use
# lora_te_ (lora_te1_ accepted); SDXL CLIP-L is te1 (lora_te_ accepted), bigG te2; a lone bigG
# (SDXL refiner) is lora_te_ (and Stable Cascade's lora_prior_te_).
TEXT_RULES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "sd1": {"l": (("lora_te_", "lora_te1_"), ("text_encoder.",))},
    "sd2": {"h": (("lora_te_", "lora_te1_"), ("text_encoder.",))},
    "sdxl": {
        "l": (("lora_te1_", "lora_te_"), ("text_encoder.",)),
        "g": (("lora_te2_",), ("text_encoder_2.",)),
    },
    "sdxl_refiner": {"g": (("lora_te_", "lora_prior_te_"), ("text_encoder.",))},
}
CLIP_KEY = re.compile(r"^clip_(\w+?)\.transformer\.(text_model\.encoder\.layers\.\d+\.[\w.]+)\.weight$")


def _under(name: str) -> str:
    return name.replace(".", "_")


def unet_key_map(sd_keys: Iterable[str], params: UNetParams, prefix: str = UNET_PREFIX) -> dict[str, str]:
    """{LoRA module name: model key} for a UNet whose state-dict keys are `sd_keys` (with `prefix`)."""
    keys = set(sd_keys)
    out: dict[str, str] = {}
    for k in keys:
        if not k.startswith(prefix):
            continue
        if k.endswith(".weight"):
            path = k[len(prefix) : -len(".weight")]
            for p in UNET_KOHYA_PREFIXES:
                out[p + _under(path)] = k
            out[k[: -len(".weight")]] = k
        else:
            out[k] = k
    for diff, ldm in unet_module_map(params).items():
        target = f"{prefix}{ldm}.weight"
        if target not in keys:
            continue
        out["lora_unet_" + _under(diff)] = target
        out["lycoris_" + _under(diff)] = target
        for p in UNET_DIFFUSERS_PREFIXES:
            out[p + diff] = target
            processor = (p + diff).replace(".to_", ".processor.to_")
            out[processor[:-2] if processor.endswith(".to_out.0") else processor] = target
    return out


def clip_key_map(sd_keys: Iterable[str], text_kind: str) -> dict[str, str]:
    """{LoRA module name: CLIP key} for a CLIP object of `text_kind` whose `get_sd()` keys are `sd_keys`."""
    keys = list(sd_keys)
    rules = TEXT_RULES.get(text_kind, {})
    out: dict[str, str] = {}
    for k in keys:
        if k.endswith(".weight"):
            out["text_encoders." + k[: -len(".weight")]] = k
        m = CLIP_KEY.match(k)
        if m is None or m.group(1) not in rules:
            continue
        module = m.group(2)  # text_model.encoder.layers.N.self_attn.q_proj
        kohya, diffusers = rules[m.group(1)]
        for p in kohya:
            out[p + _under(module)] = k
        for p in diffusers:
            out[p + module] = k
    for slot, (kohya, _) in rules.items():
        proj = f"clip_{slot}.transformer.text_projection.weight"
        if proj in keys:
            for p in kohya:
                out[p + "text_projection"] = proj
    return out


def merged(*maps: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in maps:
        out.update(m)
    return out
