"""Partial loading: which modules of a model sit on the compute device and which are streamed.

A model that does not fit its device budget is split at leaf modules. Modules built from the injectable
layer ops (`comfy_core.ops.layers`) can run with their weights left in RAM: `comfy_cast_weights` makes
their forward copy the weight to the input's device each call, and `weight_function` / `bias_function`
apply the patcher's weight patches to that copy (ComfyUI's lowvram patches). Every other module that
owns tensors (a plain torch layer, a bare parameter) must be on the device.

Streamable modules are placed largest first while the budget lasts (§12 of the contract); the rest
stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

WeightFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LeafModule:
    name: str  # dotted path inside the model ("" for the root)
    module: nn.Module
    nbytes: int
    streamable: bool


@dataclass
class LoadPlan:
    resident: list[LeafModule] = field(default_factory=list)
    streamed: list[LeafModule] = field(default_factory=list)

    @property
    def resident_bytes(self) -> int:
        return sum(m.nbytes for m in self.resident)

    @property
    def streamed_bytes(self) -> int:
        return sum(m.nbytes for m in self.streamed)


def _own_tensors(module: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    yield from module.named_parameters(recurse=False)
    yield from module.named_buffers(recurse=False)


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def is_streamable(module: nn.Module) -> bool:
    """Layer ops with the cast hooks, whose only parameters are `weight` and `bias`."""
    if not (hasattr(module, "comfy_cast_weights") and hasattr(module, "weight_function")):
        return False
    names = {n for n, _ in module.named_parameters(recurse=False)}
    return names <= {"weight", "bias"} and not list(module.named_buffers(recurse=False))


def leaf_modules(model: nn.Module) -> list[LeafModule]:
    """Every module that owns parameters or buffers, with the bytes it owns."""
    out = []
    for name, module in model.named_modules():
        nbytes = sum(tensor_bytes(t) for _, t in _own_tensors(module))
        if nbytes:
            out.append(LeafModule(name, module, nbytes, is_streamable(module)))
    return out


def plan_load(model: nn.Module, budget: int | None) -> LoadPlan:
    """Resident and streamed modules for `budget` device bytes (None: everything resident).

    Modules that cannot stream are always resident and count first; the budget may therefore be exceeded
    by exactly those bytes."""
    leaves = leaf_modules(model)
    if budget is None:
        return LoadPlan(resident=leaves)
    plan = LoadPlan(resident=[m for m in leaves if not m.streamable])
    left = budget - plan.resident_bytes
    for leaf in sorted((m for m in leaves if m.streamable), key=lambda m: -m.nbytes):
        if leaf.nbytes <= left:
            plan.resident.append(leaf)
            left -= leaf.nbytes
        else:
            plan.streamed.append(leaf)
    return plan


def move_own_tensors(module: nn.Module, device: torch.device) -> None:
    """Move the tensors `module` owns (not its children's) to `device`."""
    for param in module.parameters(recurse=False):
        if param.device != device:
            param.data = param.data.to(device)
    for name, buf in list(module.named_buffers(recurse=False)):
        if buf.device != device:
            module._buffers[name] = buf.to(device)


@dataclass
class StreamHooks:
    """What `install_streaming` changed on one module, so `remove_streaming` can undo exactly that."""

    module: nn.Module
    had_own_flag: bool
    own_flag: bool
    weight_fn: WeightFn | None
    bias_fn: WeightFn | None
    copier: Any = None  # comfy_core.memory.streaming.StreamCopier set on the module, if any


def install_streaming(
    module: nn.Module, weight_fn: WeightFn | None, bias_fn: WeightFn | None, copier: Any = None
) -> StreamHooks:
    """Make `module` cast its weights per forward; `copier` (async only) replaces the plain cast."""
    hooks = StreamHooks(
        module,
        "comfy_cast_weights" in module.__dict__,
        bool(module.__dict__.get("comfy_cast_weights", False)),
        weight_fn,
        bias_fn,
        copier,
    )
    module.comfy_cast_weights = True
    if copier is not None:
        module.__dict__["comfy_weight_copier"] = copier
    if weight_fn is not None:
        module.weight_function.append(weight_fn)
    if bias_fn is not None:
        module.bias_function.append(bias_fn)
    return hooks


def remove_streaming(hooks: StreamHooks) -> None:
    module = hooks.module
    if hooks.had_own_flag:
        module.comfy_cast_weights = hooks.own_flag
    else:
        module.__dict__.pop("comfy_cast_weights", None)
    if hooks.copier is not None:
        module.__dict__.pop("comfy_weight_copier", None)
    for fn, fns in ((hooks.weight_fn, module.weight_function), (hooks.bias_fn, module.bias_function)):
        if fn is not None:
            for i, existing in enumerate(fns):
                if existing is fn:
                    del fns[i]
                    break
