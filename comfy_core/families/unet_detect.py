"""Read an LDM UNet's structure from tensor names and shapes (works on meta tensors and reduced widths).

Walks input_blocks: a block holding `0.op` is a downsample (closes a level); a block with `0.in_layers` is
a ResBlock whose `out_layers.3` width gives the level's channel multiplier; `N.1.transformer_blocks.K` counts
transformer depth; proj_in being 2-D means Linear projections (SD2/SDXL). Output blocks are read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

UNET_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "")


@dataclass(frozen=True)
class UNetStructure:
    in_channels: int
    out_channels: int
    model_channels: int
    num_res_blocks: tuple[int, ...]
    channel_mult: tuple[int, ...]
    transformer_depth: tuple[int, ...]
    transformer_depth_output: tuple[int, ...]
    transformer_depth_middle: int
    context_dim: int | None
    use_linear_in_transformer: bool
    adm_in_channels: int | None


def find_unet_prefix(keys: Mapping[str, object] | set[str]) -> str | None:
    for p in UNET_PREFIXES:
        if f"{p}input_blocks.0.0.weight" in keys:
            return p
    return None


def _count(keys: set[str], fmt: str) -> int:
    n = 0
    while any(k.startswith(fmt.format(n)) for k in keys):
        n += 1
    return n


def _transformer(sd: Mapping[str, torch.Tensor], keys: set[str], block: str) -> tuple[int, int, bool] | None:
    """(depth, context_dim, linear) of the transformer at `{block}1.`, or None."""
    tb = f"{block}1.transformer_blocks."
    if f"{tb}0.attn2.to_k.weight" not in keys:
        return None
    depth = _count(keys, tb + "{}.")
    context = int(sd[f"{tb}0.attn2.to_k.weight"].shape[1])
    linear = len(sd[f"{block}1.proj_in.weight"].shape) == 2
    return depth, context, linear


def detect_unet_structure(sd: Mapping[str, torch.Tensor], prefix: str) -> UNetStructure:
    keys = {k for k in sd if k.startswith(prefix)}
    w_in = sd[f"{prefix}input_blocks.0.0.weight"]
    model_channels, in_channels = int(w_in.shape[0]), int(w_in.shape[1])
    out_key = f"{prefix}out.2.weight"
    out_channels = int(sd[out_key].shape[0]) if out_key in keys else 4
    adm_key = f"{prefix}label_emb.0.0.weight"
    adm = int(sd[adm_key].shape[1]) if adm_key in keys else None

    n_in = _count(keys, prefix + "input_blocks.{}.")
    num_res, mults, depth_in = [], [], []
    context_dim, linear = None, False
    res_in_level, mult = 0, 0
    for i in range(1, n_in):
        block = f"{prefix}input_blocks.{i}."
        if f"{block}0.op.weight" in keys:
            num_res.append(res_in_level)
            mults.append(mult)
            res_in_level = 0
            continue
        if f"{block}0.in_layers.0.weight" not in keys:
            raise ValueError(f"unexpected layout at {block}")
        res_in_level += 1
        mult = int(sd[f"{block}0.out_layers.3.weight"].shape[0]) // model_channels
        t = _transformer(sd, keys, block)
        depth_in.append(t[0] if t else 0)
        if t and context_dim is None:
            context_dim, linear = t[1], t[2]
    num_res.append(res_in_level)
    mults.append(mult)

    n_out = _count(keys, prefix + "output_blocks.{}.")
    depth_out = []
    for i in range(n_out):
        t = _transformer(sd, keys, f"{prefix}output_blocks.{i}.")
        depth_out.append(t[0] if t else 0)

    mid = _transformer(sd, keys, f"{prefix}middle_block.")
    return UNetStructure(
        in_channels=in_channels,
        out_channels=out_channels,
        model_channels=model_channels,
        num_res_blocks=tuple(num_res),
        channel_mult=tuple(mults),
        transformer_depth=tuple(depth_in),
        transformer_depth_output=tuple(depth_out),
        transformer_depth_middle=mid[0] if mid else -1,
        context_dim=context_dim if context_dim is not None else (mid[1] if mid else None),
        use_linear_in_transformer=linear or bool(mid and mid[2]),
        adm_in_channels=adm,
    )
