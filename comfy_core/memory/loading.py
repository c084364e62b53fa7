"""The loading seam: where node code asks for models to be ready for computation.

Until the memory manager exists, placement is simple: the whole model goes to the compute device (CUDA
when available and not disabled with `--cpu`, else the CPU), its patches are applied for the duration of
the `with` block and removed afterwards. The memory manager replaces `load_for_inference` (and
`compute_device`) with its own bookkeeping (estimates, eviction, partial loads) without callers changing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from comfy_core import runtime
from comfy_core.memory.patcher import ModelPatcher


def compute_device() -> torch.device:
    """The device models run on: CUDA unless `--cpu` was given or no GPU is present."""
    services = runtime.maybe_current()
    memory = getattr(services, "memory", None)
    own = getattr(memory, "get_torch_device", None)
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
    patchers: Sequence[ModelPatcher], device: torch.device | str | None = None
) -> Iterator[list[InferenceModel]]:
    """Place and patch every model for the block; yields one `InferenceModel` per patcher, in order.

    Patches (weights and object patches such as `model_sampling`) are undone on exit, so clones never see
    each other's patches. The weights stay where they were placed (the next user will want them there).
    """
    target = torch.device(device) if device is not None else None
    with ExitStack() as stack:
        loaded = []
        for patcher in patchers:
            dev = target or patcher.load_device
            module = stack.enter_context(patcher.patched(dev))
            loaded.append(InferenceModel(patcher, module, dev))
        yield loaded
