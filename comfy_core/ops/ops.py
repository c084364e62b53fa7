"""The `Operations` namespaces handed to architectures, and the rule that picks one."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from comfy_core.ops import layers

FP8_DTYPES = tuple(
    getattr(torch, name)
    for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
    if hasattr(torch, name)
)


@dataclass(frozen=True)
class Operations:
    """Layer classes an architecture builds with. Construct layers as `ops.Linear(i, o, dtype=, device=)`."""

    name: str
    Linear: type[nn.Linear]
    Conv2d: type[nn.Conv2d]
    Conv3d: type[nn.Conv3d]
    GroupNorm: type[nn.GroupNorm]
    LayerNorm: type[nn.LayerNorm]
    Embedding: type[nn.Embedding]

    def conv_nd(self, dims: int, *args, **kwargs) -> nn.Module:
        if dims == 2:
            return self.Conv2d(*args, **kwargs)
        if dims == 3:
            return self.Conv3d(*args, **kwargs)
        raise ValueError(f"unsupported convolution dims: {dims}")


PLAIN = Operations(
    "plain", layers.Linear, layers.Conv2d, layers.Conv3d, layers.GroupNorm, layers.LayerNorm, layers.Embedding
)
MANUAL_CAST = Operations(
    "manual_cast",
    layers.CastLinear,
    layers.CastConv2d,
    layers.CastConv3d,
    layers.CastGroupNorm,
    layers.CastLayerNorm,
    layers.CastEmbedding,
)


def pick_operations(weight_dtype: torch.dtype | None, compute_dtype: torch.dtype | None) -> Operations:
    """Plain when weights are used as stored; manual cast when storage and compute dtypes differ (fp8 always)."""
    if weight_dtype in FP8_DTYPES:
        return MANUAL_CAST
    if compute_dtype is None or weight_dtype is None or compute_dtype == weight_dtype:
        return PLAIN
    return MANUAL_CAST
