"""ComfyUI's `comfy.model_patcher`: the ModelPatcher class and the model_options helper functions."""

from __future__ import annotations

from typing import Any

from comfy_core.memory.patcher import ModelPatcher
from comfy_core.sampling.k_common import set_model_options_post_cfg_function

__all__ = [
    "ModelPatcher",
    "set_model_options_patch_replace",
    "set_model_options_post_cfg_function",
    "set_model_options_pre_cfg_function",
]


def set_model_options_patch_replace(
    model_options: dict,
    patch: Any,
    name: str,
    block_name: str,
    number: int,
    transformer_index: int | None = None,
) -> dict:
    """A copy of `model_options` with `patch` replacing `name` at (block, number[, transformer index])."""
    to = dict(model_options.get("transformer_options", {}))
    patches_replace = dict(to.get("patches_replace", {}))
    by_name = dict(patches_replace.get(name, {}))
    block = (block_name, number) if transformer_index is None else (block_name, number, transformer_index)
    by_name[block] = patch
    patches_replace[name] = by_name
    to["patches_replace"] = patches_replace
    return {**model_options, "transformer_options": to}


def set_model_options_pre_cfg_function(
    model_options: dict, pre_cfg_function: Any, disable_cfg1_optimization: bool = False
) -> dict:
    model_options["sampler_pre_cfg_function"] = model_options.get("sampler_pre_cfg_function", []) + [
        pre_cfg_function
    ]
    if disable_cfg1_optimization:
        model_options["disable_cfg1_optimization"] = True
    return model_options
