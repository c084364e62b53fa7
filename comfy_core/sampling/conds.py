"""Model-input conditioning values that know how to be cropped, batched and concatenated.

`extra_conds` of a model returns a dict name -> value; plain values are wrapped by `wrap_cond`:
`c_crossattn` as cross attention (token counts may differ; padded by repetition to their LCM, at most 4x),
`c_concat` as a latent-shaped tensor (cropped with the conditioning area), other tensors as per-batch
values (repeated to the batch), anything else as a constant that must be equal to batch together.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
    if tensor.shape[dim] > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if tensor.shape[dim] < batch_size:
        reps = [1] * dim + [math.ceil(batch_size / tensor.shape[dim])] + [1] * (tensor.ndim - 1 - dim)
        return tensor.repeat(reps).narrow(dim, 0, batch_size)
    return tensor


class CondRegular:
    def __init__(self, cond: Any) -> None:
        self.cond = cond

    def _copy_with(self, cond: Any) -> CondRegular:
        return self.__class__(cond)

    def process_cond(self, batch_size: int, area: list[int] | None = None, **kwargs: Any) -> CondRegular:
        return self._copy_with(repeat_to_batch_size(self.cond, batch_size))

    def can_concat(self, other: CondRegular) -> bool:
        return self.cond.shape == other.cond.shape

    def concat(self, others: list[CondRegular]) -> Any:
        return torch.cat([self.cond] + [x.cond for x in others])

    def size(self) -> list[int]:
        return list(self.cond.size())


class CondNoiseShape(CondRegular):
    """Latent-shaped input (inpaint concat, image conditioning): cropped to the cond's area."""

    def process_cond(self, batch_size: int, area: list[int] | None = None, **kwargs: Any) -> CondRegular:
        data = self.cond
        if area is not None:
            dims = len(area) // 2
            for i in range(dims):
                data = data.narrow(i + 2, area[i + dims], area[i])
        return self._copy_with(repeat_to_batch_size(data, batch_size))


class CondCrossAttn(CondRegular):
    def can_concat(self, other: CondRegular) -> bool:
        s1, s2 = self.cond.shape, other.cond.shape
        if s1 != s2:
            if s1[0] != s2[0] or s1[2] != s2[2]:
                return False
            diff = math.lcm(s1[1], s2[1]) // min(s1[1], s2[1])
            if diff > 4:  # padding by repetition costs compute; ComfyUI stops at 4x
                return False
        return True

    def concat(self, others: list[CondRegular]) -> Any:
        conds = [self.cond] + [x.cond for x in others]
        max_len = self.cond.shape[1]
        for c in conds[1:]:
            max_len = math.lcm(max_len, c.shape[1])
        out = []
        for c in conds:
            if c.shape[1] < max_len:
                c = c.repeat(1, max_len // c.shape[1], 1)  # repeating tokens leaves attention unchanged
            out.append(c)
        return torch.cat(out)


class CondConstant(CondRegular):
    def process_cond(self, batch_size: int, area: list[int] | None = None, **kwargs: Any) -> CondRegular:
        return self._copy_with(self.cond)

    def can_concat(self, other: CondRegular) -> bool:
        return bool(self.cond == other.cond)

    def concat(self, others: list[CondRegular]) -> Any:
        return self.cond


def wrap_cond(name: str, value: Any) -> CondRegular:
    if isinstance(value, CondRegular):
        return value
    if hasattr(value, "process_cond") and hasattr(value, "concat"):  # ComfyUI CONDRegular-like objects
        return value
    if isinstance(value, torch.Tensor):
        if name == "c_crossattn":
            return CondCrossAttn(value)
        if name == "c_concat":
            return CondNoiseShape(value)
        return CondRegular(value)
    return CondConstant(value)
