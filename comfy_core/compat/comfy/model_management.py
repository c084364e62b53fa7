"""ComfyUI's `comfy.model_management`: devices, memory queries and the interrupt switch.

Device and memory questions go to the running instance's memory manager (`services.memory`) or device
policy (`services.device`) when one offers the function under ComfyUI's name; otherwise they are answered
from the configuration and torch (CPU-friendly fallbacks: loading functions do nothing, because comfy-core
places models where they are used). Unknown names are looked up on the memory manager, then the device
policy. Torch is imported inside the functions: this module is preloaded and must stay torch-free.
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
    """`name` on the memory manager, else on the device policy, else None."""
    services = _services()
    for owner in (getattr(services, "memory", None), getattr(services, "device", None)):
        own = getattr(owner, name, None) if owner is not None else None
        if own is not None:
            return own
    return None


def _manager_function(name: str) -> Any:
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
    free_bytes = _manager_function("free_bytes")
    if free_bytes is not None:  # comfy-core's manager: what its (possibly virtual) budget has left
        free = free_bytes(dev)
        return (free, free) if torch_free_too else free
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


# ---- loading and freeing (the memory manager's job; no-ops without one) ------------------------
def _accepts(fn: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def load_models_gpu(
    models: list,
    memory_required: int = 0,
    force_patch_weights: bool = False,
    minimum_memory_required: int | None = None,
    force_full_load: bool = False,
) -> None:
    """Have the memory manager place these MODELs now (ComfyUI's name, or comfy-core's `load_models`)."""
    own = _manager_function("load_models_gpu")
    if own is not None:
        own(
            models,
            memory_required=memory_required,
            force_patch_weights=force_patch_weights,
            minimum_memory_required=minimum_memory_required,
            force_full_load=force_full_load,
        )
        return
    own = _manager_function("load_models")
    if own is not None:
        patchers = [m for m in models if hasattr(m, "load_device") and hasattr(m, "model")]
        own(
            patchers,
            memory_required=memory_required,
            minimum_memory_required=minimum_memory_required,
            force_full_load=force_full_load,
        )


def load_model_gpu(model: Any) -> None:
    load_models_gpu([model])


def free_memory(memory_required: int, device: Any, keep_loaded: list | None = None) -> Any:
    own = _manager_function("free_memory")
    if own is None:
        soft_empty_cache()
        return []
    keep_loaded = list(keep_loaded or [])
    if _accepts(own, "keep_loaded"):
        return own(memory_required, device, keep_loaded=keep_loaded)
    if _accepts(own, "keep"):  # comfy-core's manager keeps loaded-model entries by id
        return own(memory_required, device, keep={id(lm) for lm in keep_loaded})
    return own(memory_required, device)


def unload_all_models() -> None:
    own = _manager_function("unload_all_models")
    if own is not None:
        own()
        return
    soft_empty_cache()


def cleanup_models() -> None:
    own = _manager_function("cleanup_models") or _manager_function("cleanup")
    if own is not None:
        own()


def cleanup_models_gc() -> None:
    own = _manager_function("cleanup_models_gc")
    if own is not None:
        own()


def _resident(entries: Any) -> list:
    """Loaded-model entries that still hold weights on their device (unloaded ones are dropped)."""
    return [lm for lm in entries if getattr(lm, "device_bytes", 1) > 0]


def loaded_models(only_currently_used: bool = False) -> list:
    own = _manager_function("loaded_models")
    if own is None:
        return []
    entries = _resident(own(only_currently_used) if _accepts(own, "only_currently_used") else own())
    if only_currently_used:
        entries = [lm for lm in entries if getattr(lm, "in_use", 1)]
    return entries


def minimum_inference_memory() -> int:
    own = _memory_function("minimum_inference_memory")
    return int(own()) if own is not None else 1024 * 1024 * 1024


# ---- devices and dtypes per role (the device policy's job) -------------------------------------
def text_encoder_device() -> Any:
    own = _memory_function("text_encoder_device")
    return own() if own is not None else get_torch_device()


def vae_device() -> Any:
    own = _memory_function("vae_device")
    return own() if own is not None else get_torch_device()


def _float32() -> Any:
    import torch

    return torch.float32


def unet_dtype(
    device: Any = None, model_params: int = 0, supported_dtypes: Any = None, weight_dtype: Any = None
) -> Any:
    own = _memory_function("unet_dtype")
    if own is None:
        return _float32()
    kwargs: dict[str, Any] = {"device": device, "model_params": model_params}
    if supported_dtypes is not None:
        kwargs["supported_dtypes"] = tuple(supported_dtypes)
    return own(**kwargs)


def unet_manual_cast(weight_dtype: Any, inference_device: Any, supported_dtypes: Any = None) -> Any:
    own = _memory_function("unet_manual_cast")
    if own is None:
        return None if weight_dtype == _float32() else _float32()
    if supported_dtypes is None:
        return own(weight_dtype, inference_device)
    return own(weight_dtype, inference_device, tuple(supported_dtypes))


def text_encoder_dtype(device: Any = None) -> Any:
    own = _memory_function("text_encoder_dtype")
    return own(device) if own is not None else _float32()


def vae_dtype(device: Any = None, allowed_dtypes: Any = None) -> Any:
    own = _memory_function("vae_dtype")
    if own is None:
        return _float32()
    return own(device) if not allowed_dtypes else own(device, tuple(allowed_dtypes))


def should_use_fp16(
    device: Any = None, model_params: int = 0, prioritize_performance: bool = True, manual_cast: bool = False
) -> bool:
    own = _memory_function("should_use_fp16")
    if own is None:
        return False
    return bool(own(device, prioritize_performance=prioritize_performance, manual_cast=manual_cast))


def should_use_bf16(
    device: Any = None, model_params: int = 0, prioritize_performance: bool = True, manual_cast: bool = False
) -> bool:
    own = _memory_function("should_use_bf16")
    return bool(own(device)) if own is not None else False


def cast_to(
    weight: Any,
    dtype: Any = None,
    device: Any = None,
    non_blocking: bool = False,
    copy: bool = False,
    stream: Any = None,
) -> Any:
    """`weight` on `device` in `dtype` (a fresh tensor with `copy`, else the same one when nothing changes)."""
    return weight.to(device=device, dtype=dtype, non_blocking=non_blocking, copy=copy)


def cast_to_device(tensor: Any, device: Any, dtype: Any, copy: bool = False) -> Any:
    non_blocking = device_supports_non_blocking(device)
    return cast_to(tensor, dtype=dtype, device=device, non_blocking=non_blocking, copy=copy)


def device_supports_non_blocking(device: Any) -> bool:
    return is_device_cuda(device)


def get_autocast_device(dev: Any) -> str:
    return getattr(dev, "type", "cuda")


def module_size(module: Any) -> int:
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


def dtype_size(dtype: Any) -> int:
    import torch

    return torch.empty((), dtype=dtype).element_size()


def cpu_mode() -> bool:
    return is_device_cpu(get_torch_device())


def mps_mode() -> bool:
    return is_device_mps(get_torch_device())


def is_intel_xpu() -> bool:
    return getattr(get_torch_device(), "type", None) == "xpu"


def directml_enabled() -> bool:
    return False


def xformers_enabled() -> bool:
    return False


def xformers_enabled_vae() -> bool:
    return False


def pytorch_attention_enabled() -> bool:
    return True


def pytorch_attention_flash_attention() -> bool:
    return is_device_cuda(get_torch_device())


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
    if name == "OOM_EXCEPTION":
        import torch

        return torch.cuda.OutOfMemoryError
    if name == "current_loaded_models":
        memory = getattr(_services(), "memory", None)
        own = getattr(memory, name, None)
        return own if own is not None else _resident(getattr(memory, "loaded", None) or [])
    if name in ("vram_state", "cpu_state"):
        policy = getattr(_services(), "device", None)
        if policy is not None and hasattr(policy, name):
            return getattr(policy, name)
    if name in ("VRAMState", "CPUState"):
        from comfy_core.device import policy as device_policy

        return getattr(device_policy, name)
    own = _memory_function(name)
    if own is not None:
        return own
    raise AttributeError(f"comfy.model_management has no attribute {name!r}")
