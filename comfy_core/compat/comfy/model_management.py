"""ComfyUI's `comfy.model_management`: devices, memory queries and the interrupt switch.

Device and memory questions go to the running instance's memory manager when it offers the function
(same name); otherwise they are answered from the configuration and torch. Unknown names are looked up on
the memory manager. Torch is imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from comfy_core import runtime
from comfy_core.progress import InterruptFlag, InterruptProcessingException, get_executing_context
from comfy_core.progress import throw_if_interrupted as _throw_if_interrupted

__all__ = ["InterruptProcessingException"]


def _services() -> Any:
    return runtime.maybe_current()


def _memory_function(name: str) -> Any:
    memory = getattr(_services(), "memory", None)
    return getattr(memory, name, None) if memory is not None else None


def _config_flag(name: str) -> Any:
    return getattr(getattr(_services(), "config", None), name, None)


def get_torch_device() -> Any:
    own = _memory_function("get_torch_device")
    if own is not None:
        return own()
    import torch

    if _config_flag("cpu"):
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def intermediate_device() -> Any:
    own = _memory_function("intermediate_device")
    if own is not None:
        return own()
    import torch

    return get_torch_device() if _config_flag("gpu_only") else torch.device("cpu")


def unet_offload_device() -> Any:
    own = _memory_function("unet_offload_device")
    if own is not None:
        return own()
    import torch

    return get_torch_device() if _config_flag("highvram") or _config_flag("gpu_only") else torch.device("cpu")


def text_encoder_offload_device() -> Any:
    return unet_offload_device()


def vae_offload_device() -> Any:
    return unet_offload_device()


def get_total_memory(dev: Any = None, torch_total_too: bool = False) -> Any:
    own = _memory_function("get_total_memory")
    if own is not None:
        return own(dev, torch_total_too)
    import psutil

    dev = dev if dev is not None else get_torch_device()
    if getattr(dev, "type", "cpu") in ("cpu", "mps"):
        total = psutil.virtual_memory().total
        return (total, total) if torch_total_too else total
    import torch

    _, total = torch.cuda.mem_get_info(dev)
    return (total, torch.cuda.memory_reserved(dev)) if torch_total_too else total


def get_free_memory(dev: Any = None, torch_free_too: bool = False) -> Any:
    own = _memory_function("get_free_memory")
    if own is not None:
        return own(dev, torch_free_too)
    import psutil

    dev = dev if dev is not None else get_torch_device()
    if getattr(dev, "type", "cpu") in ("cpu", "mps"):
        free = psutil.virtual_memory().available
        return (free, free) if torch_free_too else free
    import torch

    free_cuda, _ = torch.cuda.mem_get_info(dev)
    stats = torch.cuda.memory_stats(dev)
    free_torch = stats.get("reserved_bytes.all.current", 0) - stats.get("active_bytes.all.current", 0)
    return (free_cuda + free_torch, free_torch) if torch_free_too else free_cuda + free_torch


def is_device_cpu(device: Any) -> bool:
    return getattr(device, "type", device) == "cpu"


def is_device_mps(device: Any) -> bool:
    return getattr(device, "type", device) == "mps"


def is_device_cuda(device: Any) -> bool:
    return getattr(device, "type", device) == "cuda"


def soft_empty_cache(force: bool = False) -> None:
    own = _memory_function("soft_empty_cache")
    if own is not None:
        own(force)
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


def _interrupt_flag() -> InterruptFlag | None:
    ctx = get_executing_context()
    if ctx is not None and ctx.interrupt is not None:
        return ctx.interrupt
    executor = getattr(_services(), "executor", None)
    for name in ("interrupt", "interrupt_flag"):
        flag = getattr(executor, name, None)
        if isinstance(flag, InterruptFlag):
            return flag
    return None


def interrupt_current_processing(value: bool = True) -> None:
    flag = _interrupt_flag()
    if flag is None:
        return
    if value:
        flag.set()
    else:
        flag.clear()


def processing_interrupted() -> bool:
    flag = _interrupt_flag()
    return flag is not None and flag.is_set()


def throw_exception_if_processing_interrupted() -> None:
    _throw_if_interrupted()


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    if name in ("total_vram", "total_ram"):
        dev = get_torch_device() if name == "total_vram" else None
        if dev is None:
            import psutil

            return psutil.virtual_memory().total / (1024 * 1024)
        return get_total_memory(dev) / (1024 * 1024)
    own = _memory_function(name)
    if own is not None:
        return own
    raise AttributeError(f"comfy.model_management has no attribute {name!r}")
