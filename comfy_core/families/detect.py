"""Which family a state dict belongs to, and its UNet configuration, from keys and shapes alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import torch

from comfy_core.families.base import Family
from comfy_core.families.checkpoint import UnexplainedKeysError, first_keys, is_ignored_key
from comfy_core.families.sd import FAMILIES
from comfy_core.families.unet_detect import detect_unet_structure, find_unet_prefix
from comfy_core.models.unet import UNetParams


class UnknownModelError(UnexplainedKeysError):
    """No family matches the file."""


def _unexplained(sd: Mapping[str, torch.Tensor]) -> list[str]:
    return sorted(k for k in sd if not is_ignored_key(k))


def detect(state_dict: Mapping[str, torch.Tensor]) -> tuple[Family, UNetParams]:
    """(family, unet params) of a checkpoint or bare UNet state dict. The returned family is resolved for
    this file: its `prediction`/`zsnr` follow the file's rules and `unet_prefix` is where its UNet sits."""
    prefix = find_unet_prefix(state_dict)
    if prefix is None:
        keys = _unexplained(state_dict)
        raise UnknownModelError(
            f"no supported diffusion model in this file; first keys: {first_keys(keys)}", keys
        )
    structure = detect_unet_structure(state_dict, prefix)
    for family in FAMILIES:
        if family.matches(structure):
            prediction, zsnr = family.resolve_prediction(state_dict, prefix)
            family = replace(family, prediction=prediction, zsnr=zsnr, unet_prefix=prefix)
            return family, family.unet_params(structure)
    keys = sorted(k for k in state_dict if k.startswith(prefix) and "input_blocks.0" in k) or _unexplained(
        state_dict
    )
    raise UnknownModelError(
        f"UNet ({structure.model_channels} channels, mult {structure.channel_mult}, context "
        f"{structure.context_dim}, adm {structure.adm_in_channels}, in {structure.in_channels}) matches no "
        f"supported family; first keys: {first_keys(keys)}",
        keys,
    )


def get_family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(f"unknown model family {name!r}")
