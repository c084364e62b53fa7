"""The loading seam: where node code asks for models to be ready for computation.

With a memory manager installed (`runtime.current().memory`, built by main.py) the manager places the
weights (estimates, eviction, partial loads with streaming) and keeps them resident after the block;
object patches (e.g. `model_sampling`) are scoped to the block. Without one (unit tests), placement is
simple: the whole model goes to the device, patched for the block and restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from comfy_core import runtime
from comfy_core.memory.patcher import ModelPatcher


def current_manager() -> Any:
    return getattr(runtime.maybe_current(), "memory", None)


def compute_device() -> torch.device:
    """The device models run on: the manager's, else the device policy's, else CUDA unless `--cpu`."""
    services = runtime.maybe_current()
    for provider in (getattr(services, "memory", None), getattr(services, "device", None)):
        own = getattr(provider, "get_torch_device", None)
        if own is not None:
            return own()
    config = getattr(services, "config", None)
    if not getattr(config, "cpu", False) and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class InferenceModel:
    """A loaded, patched model as the sampling code sees it: the module's attributes (`apply_model`,
    `extra_conds`, `model_sampling`, ...) plus the patcher's `model_options` and the device it sits on."""

    def __init__(self, patcher: ModelPatcher, module: torch.nn.Module, device: torch.device) -> None:
        self.patcher = patcher
        self.module = module
        self.load_device = device

    @property
    def model_options(self) -> dict[str, Any]:
        return self.patcher.model_options

    def __getattr__(self, name: str) -> Any:
        if name in ("patcher", "module", "load_device"):
            raise AttributeError(name)
        return getattr(self.module, name)


@contextmanager
def load_for_inference(
    patchers: Sequence[ModelPatcher],
    device: torch.device | str | None = None,
    *,
    memory_required: int = 0,
    minimum_memory_required: int | None = None,
    force_full_load: bool = False,
) -> Iterator[list[InferenceModel]]:
    """Place and patch every model for the block; yields one `InferenceModel` per patcher, in order.

    `memory_required` is the activation estimate of the work in the block (see
    `comfy_core.memory.estimates`); the manager keeps that much free beside the weights.
    """
    manager = current_manager()
    if manager is not None:
        with manager.use(
            patchers, device, memory_required, minimum_memory_required, force_full_load
        ) as entries:
            yield [InferenceModel(p, p.model, lm.device) for p, lm in zip(patchers, entries, strict=True)]
        return
    target = torch.device(device) if device is not None else None
    with ExitStack() as stack:
        loaded = []
        for patcher in patchers:
            dev = target or patcher.load_device
            module = stack.enter_context(patcher.patched(dev))
            loaded.append(InferenceModel(patcher, module, dev))
        yield loaded
