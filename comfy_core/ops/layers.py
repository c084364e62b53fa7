"""Injectable layer classes.

Two families of the same layers:
* plain  — the torch layer with weight initialisation skipped (weights always come from a file), computing
  with the stored weights as they are.
* manual cast — weights may be stored in another dtype or device (fp16/bf16/fp8 storage, weights left in
  RAM); each forward casts them to the input's dtype and device. This is what lets an fp8-stored or
  partially offloaded model run, and it is ComfyUI's `manual_cast` behaviour.

A module instance can also be switched to casting at run time (`comfy_cast_weights = True`), and
`weight_function` / `bias_function` hold callables applied to the cast weight (on-the-fly patches for
weights that are not resident), so the memory and patching packages need no other hook.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

WeightFn = Callable[[torch.Tensor], torch.Tensor]


class CastWeights:
    """Mixin: decide per call whether weights must be cast to the input's dtype/device."""

    comfy_cast_weights: bool = False
    weight_function: list[WeightFn]
    bias_function: list[WeightFn]

    def _init_cast(self) -> None:
        self.weight_function = []
        self.bias_function = []

    def _needs_cast(self) -> bool:
        return bool(self.comfy_cast_weights or self.weight_function or self.bias_function)

    def reset_parameters(self) -> None:  # weights come from checkpoints; skip the random init
        return None


def cast_to(t: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    if t is None:
        return None
    if t.dtype == dtype and t.device == device:
        return t
    return t.to(device=device, dtype=dtype, non_blocking=True)


def cast_bias_weight(
    layer: nn.Module, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    # a memory-manager copier (CUDA side-stream copy of streamed weights) replaces the plain cast
    copier = layer.__dict__.get("comfy_weight_copier")
    cast = copier.cast if copier is not None else cast_to
    weight = cast(layer.weight, dtype, device)
    bias = cast(getattr(layer, "bias", None), dtype, device)
    for fn in layer.weight_function:
        weight = fn(weight)
    if bias is not None:
        for fn in layer.bias_function:
            bias = fn(bias)
    return weight, bias


class Linear(CastWeights, nn.Linear):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_cast()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._needs_cast():
            w, b = cast_bias_weight(self, x.dtype, x.device)
            return F.linear(x, w, b)
        return super().forward(x)


class Conv2d(CastWeights, nn.Conv2d):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_cast()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._needs_cast():
            w, b = cast_bias_weight(self, x.dtype, x.device)
            return self._conv_forward(x, w, b)
        return super().forward(x)


class Conv3d(CastWeights, nn.Conv3d):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_cast()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._needs_cast():
            w, b = cast_bias_weight(self, x.dtype, x.device)
            return self._conv_forward(x, w, b)
        return super().forward(x)


class GroupNorm(CastWeights, nn.GroupNorm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_cast()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._needs_cast() and self.weight is not None:
            w, b = cast_bias_weight(self, x.dtype, x.device)
            return F.group_norm(x, self.num_groups, w, b, self.eps)
        return super().forward(x)


class LayerNorm(CastWeights, nn.LayerNorm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_cast()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._needs_cast() and self.weight is not None:
            w, b = cast_bias_weight(self, x.dtype, x.device)
            return F.layer_norm(x, self.normalized_shape, w, b, self.eps)
        return super().forward(x)


class Embedding(CastWeights, nn.Embedding):
    """Indices carry no dtype: with casting on, the table is cast to `out_dtype` (or kept) on x's device."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_cast()

    def forward(self, x: torch.Tensor, out_dtype: torch.dtype | None = None) -> torch.Tensor:
        if self._needs_cast() or out_dtype is not None:
            dtype = out_dtype or self.weight.dtype
            if dtype not in (torch.float32, torch.float16, torch.bfloat16):
                dtype = torch.float32
            w, _ = cast_bias_weight(self, dtype, x.device)
            return F.embedding(x, w, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq)
        return super().forward(x)


class CastLinear(Linear):
    comfy_cast_weights = True


class CastConv2d(Conv2d):
    comfy_cast_weights = True


class CastConv3d(Conv3d):
    comfy_cast_weights = True


class CastGroupNorm(GroupNorm):
    comfy_cast_weights = True


class CastLayerNorm(LayerNorm):
    comfy_cast_weights = True


class CastEmbedding(Embedding):
    comfy_cast_weights = True
