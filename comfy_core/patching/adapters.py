"""Weight adapters: the data of one patch to one weight tensor and the arithmetic that applies it.

Every adapter answers `apply(weight, strength) -> patched weight` on an fp32 weight (the patcher casts
back to the storage dtype). Most adapters are additive and only implement `delta(weight)`, the change at
strength 1; `apply` is then `weight + strength * delta`. DoRA (weight-decomposed LoRA, Liu et al. 2024)
and `set` are not additive and override `apply`.

Formats (LyCORIS / kohya sd-scripts documentation):
* LoRA (Hu et al. 2021): up [out, r(, 1, 1)] @ down [r, in(, kh, kw)] scaled by alpha / r; LoCon conv
  layers may add a Tucker core `mid` [r, r, kh, kw] (then down and up are 1x1).
* LoHa (Hyeon-Woo et al. 2022): (w1a @ w1b) * (w2a @ w2b) scaled by alpha / rank(w1b), optional Tucker
  cores t1, t2.
* LoKr (Yeh et al. 2024): kron(w1, w2), each factor stored whole or as a low-rank pair; alpha is divided
  by the rank of the decomposed factor (w2 first, as LyCORIS writes it), 1 when neither is decomposed.
* GLoRA (Chavan et al. 2023): W @ A + B with A = a1 @ a2, B = b1 @ b2 (and the older LyCORIS layout).
* diff: a full difference tensor; set: replace the weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _f32(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(device=like.device, dtype=torch.float32)


def _scale(alpha: float | None, rank: int) -> float:
    return 1.0 if alpha is None else alpha / rank


def _tucker(core: torch.Tensor, down: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Rebuild a conv kernel from a Tucker core [r_up, r_down, kh, kw] and its two factor matrices:
    down [r_down, in] (flattened), up [out, r_up] -> [out, in, kh, kw]."""
    return torch.einsum("i j k l, j r, i p -> p r k l", core, down, up)


def dora_apply(
    weight: torch.Tensor, diff: torch.Tensor, dora_scale: torch.Tensor, strength: float
) -> torch.Tensor:
    """DoRA: W' = (W + diff) * m / ||W + diff|| with the norm taken per input channel (over every dim but
    dim 1, as kohya/LyCORIS store `dora_scale`), then blended with W by strength."""
    calc = weight + diff
    norm = calc.transpose(0, 1).reshape(calc.shape[1], -1).norm(dim=1, keepdim=True)
    norm = norm.reshape(calc.shape[1], *[1] * (calc.dim() - 1)).transpose(0, 1)
    calc = calc * (_f32(dora_scale, weight) / norm)
    if strength == 1.0:
        return calc
    return weight + strength * (calc - weight)


class WeightAdapter:
    """Base class: additive adapters implement `delta`; `apply` adds it scaled by strength."""

    name = "adapter"
    dora_scale: torch.Tensor | None = None

    def delta(self, weight: torch.Tensor, key_shape: torch.Size | None = None) -> torch.Tensor:
        raise NotImplementedError

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        if self.dora_scale is not None:
            return dora_apply(weight, self.delta(weight), self.dora_scale, strength)
        return weight + strength * self.delta(weight)

    def tensors(self) -> list[torch.Tensor]:
        return [v for v in vars(self).values() if isinstance(v, torch.Tensor)]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())


@dataclass(eq=False)
class LoRAAdapter(WeightAdapter):
    up: torch.Tensor  # [out, r(, 1, 1)]
    down: torch.Tensor  # [r, in(, kh, kw)]
    alpha: float | None = None
    mid: torch.Tensor | None = None  # LoCon Tucker core [r, r, kh, kw]
    dora_scale: torch.Tensor | None = None
    reshape: tuple[int, ...] | None = None  # target shape larger than the weight (zero-padded)

    name = "lora"

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    def delta(self, weight: torch.Tensor, key_shape: torch.Size | None = None) -> torch.Tensor:
        up, down = _f32(self.up, weight), _f32(self.down, weight)
        if self.mid is not None:
            mid = _f32(self.mid, weight)
            # fold the core into `down`: [r, in, kh, kw]
            down = torch.einsum("i j k l, j r -> i r k l", mid, down.flatten(1))
        diff = up.flatten(1) @ down.flatten(1)
        return _scale(self.alpha, self.rank) * diff.reshape(weight.shape)

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        if self.reshape is not None and tuple(weight.shape) != tuple(self.reshape):
            padded = weight.new_zeros(self.reshape)
            padded[tuple(slice(0, d) for d in weight.shape)] = weight
            weight = padded
        return super().apply(weight, strength)


@dataclass(eq=False)
class LoHaAdapter(WeightAdapter):
    w1a: torch.Tensor
    w1b: torch.Tensor
    w2a: torch.Tensor
    w2b: torch.Tensor
    alpha: float | None = None
    t1: torch.Tensor | None = None
    t2: torch.Tensor | None = None
    dora_scale: torch.Tensor | None = None

    name = "loha"

    def delta(self, weight: torch.Tensor, key_shape: torch.Size | None = None) -> torch.Tensor:
        w1a, w1b = _f32(self.w1a, weight), _f32(self.w1b, weight)
        w2a, w2b = _f32(self.w2a, weight), _f32(self.w2b, weight)
        if self.t1 is not None and self.t2 is not None:
            m1 = _tucker(_f32(self.t1, weight), w1b, w1a)
            m2 = _tucker(_f32(self.t2, weight), w2b, w2a)
        else:
            m1, m2 = w1a @ w1b, w2a @ w2b
        return _scale(self.alpha, self.w1b.shape[0]) * (m1 * m2).reshape(weight.shape)


@dataclass(eq=False)
class LoKrAdapter(WeightAdapter):
    w1: torch.Tensor | None = None
    w2: torch.Tensor | None = None
    alpha: float | None = None
    w1a: torch.Tensor | None = None
    w1b: torch.Tensor | None = None
    w2a: torch.Tensor | None = None
    w2b: torch.Tensor | None = None
    t2: torch.Tensor | None = None
    dora_scale: torch.Tensor | None = None

    name = "lokr"

    def delta(self, weight: torch.Tensor, key_shape: torch.Size | None = None) -> torch.Tensor:
        rank = None
        if self.w1 is not None:
            w1 = _f32(self.w1, weight)
        else:
            rank = self.w1b.shape[0]
            w1 = _f32(self.w1a, weight) @ _f32(self.w1b, weight)
        if self.w2 is not None:
            w2 = _f32(self.w2, weight)
        else:
            rank = self.w2b.shape[0]
            w2a, w2b = _f32(self.w2a, weight), _f32(self.w2b, weight)
            w2 = w2a @ w2b if self.t2 is None else _tucker(_f32(self.t2, weight), w2b, w2a)
        if w2.dim() == 4:
            w1 = w1[:, :, None, None]
        scale = 1.0 if rank is None else _scale(self.alpha, rank)
        return scale * torch.kron(w1, w2).reshape(weight.shape)


@dataclass(eq=False)
class GLoRAAdapter(WeightAdapter):
    a1: torch.Tensor
    a2: torch.Tensor
    b1: torch.Tensor
    b2: torch.Tensor
    alpha: float | None = None
    dora_scale: torch.Tensor | None = None

    name = "glora"

    def _layout(self, weight: torch.Tensor) -> tuple[bool, int]:
        """(old LyCORIS layout?, rank). The two layouts are told apart by which dims agree."""
        a1, a2, b1, b2 = self.a1, self.a2, self.b1, self.b2
        old = b2.shape[1] == b1.shape[0] == a1.shape[0] == a2.shape[1]
        rank = a1.shape[0] if old else a2.shape[0]
        if b2.shape[0] == b1.shape[1] == a1.shape[1] == a2.shape[0]:
            if not (old and a2.shape[0] == weight.shape[0] and weight.shape[0] == weight.shape[1]):
                old, rank = False, a2.shape[0]
        return old, rank

    def delta(self, weight: torch.Tensor, key_shape: torch.Size | None = None) -> torch.Tensor:
        old, rank = self._layout(weight)
        a1, a2 = _f32(self.a1, weight).flatten(1), _f32(self.a2, weight).flatten(1)
        b1, b2 = _f32(self.b1, weight).flatten(1), _f32(self.b2, weight).flatten(1)
        if old:
            diff = b2 @ b1 + (weight.flatten(1) @ a2) @ a1
        elif weight.dim() > 2:
            diff = torch.einsum("o i ..., i j -> o j ...", weight, a1)
            diff = torch.einsum("o i ..., i j -> o j ...", diff, a2) + (b1 @ b2).reshape(weight.shape)
        else:
            diff = (weight @ a1) @ a2 + b1 @ b2
        return _scale(self.alpha, rank) * diff.reshape(weight.shape)


@dataclass(eq=False)
class DiffAdapter(WeightAdapter):
    """A full difference tensor (`.diff`, `.diff_b`, `.w_norm`, `.b_norm`, model merges)."""

    diff: torch.Tensor

    name = "diff"

    def delta(self, weight: torch.Tensor, key_shape: torch.Size | None = None) -> torch.Tensor:
        if self.diff.numel() != weight.numel():
            raise ValueError(
                f"diff of shape {tuple(self.diff.shape)} does not fit weight {tuple(weight.shape)}"
            )
        return _f32(self.diff, weight).reshape(weight.shape)


@dataclass(eq=False)
class SetAdapter(WeightAdapter):
    """`.set_weight`: the weight is replaced outright; strength does not scale it."""

    value: torch.Tensor

    name = "set"

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        return _f32(self.value, weight).reshape(weight.shape).clone()


def as_adapter(value: object) -> object:
    """Normalise what custom nodes pass to `add_patches`: an adapter, a tensor or 1-tuple (a diff), or
    ComfyUI's `("diff" | "set", (tensor,))` tuples."""
    if isinstance(value, torch.Tensor):
        return DiffAdapter(value)
    if isinstance(value, tuple):
        if len(value) == 1 and isinstance(value[0], torch.Tensor):
            return DiffAdapter(value[0])
        if len(value) == 2 and isinstance(value[0], str):
            kind, data = value
            if kind == "diff":
                return DiffAdapter(data[0])
            if kind == "set":
                return SetAdapter(data[0])
        raise ValueError(f"unsupported patch tuple: {type(value[0]).__name__} x{len(value)}")
    return value
