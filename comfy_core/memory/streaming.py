"""How streamed weights reach the compute device: a synchronous copy, or a CUDA side-stream copy.

Partially loaded models keep some layer weights in CPU RAM; the layer ops copy them to the input's
device on each forward. On CUDA that copy runs on a dedicated side stream from pinned memory with
`non_blocking=True`: the host usually runs ahead of the GPU, so the copy for the next layer overlaps the
kernels still queued on the compute stream. The compute stream waits on an event recorded after the
copy, and the copied tensor is recorded on the compute stream so the caching allocator does not hand its
memory out before the kernels using it have run.

Everywhere else (CPU, MPS, async offload disabled) no copier is installed and the layer ops keep their
plain synchronous cast. `SyncCopier` is that same cast behind the copier interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from comfy_core import runtime

DEFAULT_STREAMS = 2


class StreamCopier(Protocol):
    """Casts one stored tensor to the compute dtype and device for one forward."""

    is_async: bool

    def cast(
        self, t: torch.Tensor | None, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor | None: ...


class SyncCopier:
    """The layer ops' own cast: a plain `.to()` on the current stream."""

    is_async = False

    def cast(self, t: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        if t is None:
            return None
        if t.dtype == dtype and t.device == device:
            return t
        return t.to(device=device, dtype=dtype, non_blocking=True)


class CudaStreamCopier:
    """Copies on a round-robin of side streams; the compute stream waits on an event per copy."""

    is_async = True

    def __init__(self, device: torch.device, n_streams: int = DEFAULT_STREAMS) -> None:
        self.device = torch.device(device)
        self.streams = [torch.cuda.Stream(device=self.device) for _ in range(max(1, n_streams))]
        self._next = 0

    def cast(self, t: torch.Tensor | None, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        if t is None:
            return None
        if t.device == device:
            return t if t.dtype == dtype else t.to(dtype)
        if device.type != "cuda":
            return t.to(device=device, dtype=dtype)
        side = self.streams[self._next]
        self._next = (self._next + 1) % len(self.streams)
        compute = torch.cuda.current_stream(device)
        with torch.cuda.stream(side):
            # copy in the stored dtype (fewest bytes over the bus); cast on the compute stream afterwards
            out = t.to(device=device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(side)
        compute.wait_event(done)
        out.record_stream(compute)
        return out if out.dtype == dtype else out.to(dtype)


def current_config() -> Any:
    """The running instance's parsed configuration, or None when no services are installed."""
    services = runtime.maybe_current()
    return services.config if services is not None else None


def _config_value(config: Any, name: str, default: Any) -> Any:
    return getattr(config, name, default) if config is not None else default


def stream_count(config: Any) -> int:
    """Side streams for async offload: 0 when disabled, `--async-offload N` when given, else the default."""
    if _config_value(config, "disable_async_offload", False):
        return 0
    n = _config_value(config, "async_offload", None)
    return DEFAULT_STREAMS if n is None else max(0, int(n))


def select_copier(
    device: torch.device | str,
    config: Any = None,
    cuda_factory: Callable[[torch.device, int], StreamCopier] = CudaStreamCopier,
) -> StreamCopier:
    """The CUDA side-stream copier for a cuda device with async offload on; the synchronous one otherwise."""
    dev = torch.device(device)
    n = stream_count(config)
    if dev.type != "cuda" or n <= 0:
        return SyncCopier()
    return cuda_factory(dev, n)


def use_pinned_memory(device: torch.device | str, config: Any = None) -> bool:
    """Pinning only helps host-to-CUDA copies and can be turned off with `--disable-pinned-memory`."""
    return torch.device(device).type == "cuda" and not _config_value(config, "disable_pinned_memory", False)


def _pin(t: torch.Tensor) -> torch.Tensor:
    return t.pin_memory()


def pin_module_tensors(module: nn.Module, pin: Callable[[torch.Tensor], torch.Tensor] = _pin) -> bool:
    """Pin the CPU tensors `module` owns in place of the pageable ones. False (and nothing changed for the
    tensor that failed) when pinning is not possible; the copy then simply runs from pageable memory."""
    try:
        for param in module.parameters(recurse=False):
            if param.device.type == "cpu" and not param.data.is_pinned():
                param.data = pin(param.data)
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf.device.type == "cpu" and not buf.is_pinned():
                module._buffers[name] = pin(buf)
    except (RuntimeError, NotImplementedError):
        return False
    return True
