"""Splitting a single-file checkpoint into its parts by key prefix, and the inverse (CheckpointSave).

Every tensor is accounted for: UNet, VAE, one of the family's text encoders, or a knowingly ignored extra
(LDM's DDPM schedule buffers, LitEma bookkeeping `model_ema.*`, ComfyUI's `v_pred`/`ztsnr` markers). Anything
else is an error naming the first unexplained keys, so a wrong guess never loads silently.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from comfy_core.families.base import Family

CHECKPOINT_UNET_PREFIX = "model.diffusion_model."
SCHEDULE_BUFFERS = frozenset(
    {
        "betas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
        "logvar",
    }
)
MARKER_KEYS = frozenset({"v_pred", "ztsnr"})
IGNORED_PREFIXES = ("model_ema.",)


class UnexplainedKeysError(ValueError):
    """A weight file holds tensors no known part accounts for."""

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


def first_keys(keys: list[str], n: int = 8) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def is_ignored_key(key: str) -> bool:
    return key in SCHEDULE_BUFFERS or key in MARKER_KEYS or key.startswith(IGNORED_PREFIXES)


def split_checkpoint(state_dict: Mapping[str, torch.Tensor], family: Family, strict: bool = True) -> dict:
    """{"unet": {...}, "vae": {...}, "text_encoders": {name: {...}}, "ignored": {...}} with prefixes stripped.

    Text-encoder sub-dicts keep everything under their prefix (e.g. `transformer.text_model.*` for SD1's
    `cond_stage_model.`, `model.*` for SDXL's `conditioner.embedders.1.`), position_ids included.
    """
    unet_prefix = family.unet_prefix
    parts: dict = {
        "unet": {},
        "vae": {},
        "text_encoders": {te.name: {} for te in family.text_encoders},
        "ignored": {},
    }
    unexplained: list[str] = []
    for key, value in state_dict.items():
        if key.startswith(unet_prefix) and (unet_prefix or not is_ignored_key(key)):
            parts["unet"][key[len(unet_prefix) :]] = value
        elif unet_prefix and key.startswith(family.vae_prefix):
            parts["vae"][key[len(family.vae_prefix) :]] = value
        elif is_ignored_key(key):
            parts["ignored"][key] = value
        else:
            for te in family.text_encoders:
                if unet_prefix and key.startswith(te.prefix):
                    parts["text_encoders"][te.name][key[len(te.prefix) :]] = value
                    break
            else:
                unexplained.append(key)
    parts["text_encoders"] = {k: v for k, v in parts["text_encoders"].items() if v}
    if unexplained and strict:
        unexplained.sort()
        raise UnexplainedKeysError(
            f"{family.display_name} checkpoint has tensors no part accounts for: {first_keys(unexplained)}",
            unexplained,
        )
    return parts


def merge_checkpoint(
    parts: Mapping,
    family: Family,
    *,
    ignored: Mapping[str, torch.Tensor] | None = None,
    prefixed: Mapping[str, torch.Tensor] | None = None,
    comfyui_markers: bool = True,
) -> dict[str, torch.Tensor]:
    """Inverse of split_checkpoint: the single-file layout CheckpointSave writes.

    With `comfyui_markers` the file gets what ComfyUI's save adds: an empty `v_pred` tensor for
    v-prediction models (`ztsnr` too for zero-terminal-SNR ones) and, for SDXL, CLIP-L's int64
    `position_ids` when the encoder's own dict lacks them. Pass `ignored` (split's "ignored" part) and
    `comfyui_markers=False` to rebuild an original file key for key. `prefixed` holds tensors that already
    carry checkpoint names (e.g. `comfy_core.text.checkpoint.export_checkpoint`) and is copied verbatim.
    """
    out: dict[str, torch.Tensor] = {}
    for k, v in parts.get("unet", {}).items():
        out[CHECKPOINT_UNET_PREFIX + k] = v
    for k, v in parts.get("vae", {}).items():
        out[family.vae_prefix + k] = v
    specs = {te.name: te for te in family.text_encoders}
    for name, sub in parts.get("text_encoders", {}).items():
        if name not in specs:
            raise ValueError(
                f"{family.display_name} has no text encoder named {name!r} (has {sorted(specs)})"
            )
        for k, v in sub.items():
            out[specs[name].prefix + k] = v
    out.update(prefixed or {})
    if comfyui_markers:
        if family.adm == "sdxl" and "clip_l" in parts.get("text_encoders", {}):
            pid = specs["clip_l"].prefix + "transformer.text_model.embeddings.position_ids"
            out.setdefault(pid, torch.arange(77, dtype=torch.int64).unsqueeze(0))
        if family.prediction == "v_prediction":
            out["v_pred"] = torch.tensor([])
            if family.zsnr:
                out["ztsnr"] = torch.tensor([])
    for k, v in (ignored or {}).items():
        out.setdefault(k, v)
    return out
