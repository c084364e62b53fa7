"""Device probing, done once at start-up by `main.py` (never at import): which accelerator torch sees, what
it can compute in, and how much memory it has. The result is plain data (`DeviceInfo`), so the dtype
policy can be tested on simulated devices (a fake CUDA capability table) without a GPU.

Capability rules (ComfyUI's model_management): NVIDIA fp16 from compute capability 6 except the
GTX 16xx / T-series Turing parts that produce NaNs in fp16, bf16 from Ampere (8.x), fp8 compute on
Ada (8.9) with torch >= 2.3 and on Hopper and later; AMD, Intel XPU and Apple MPS run fp16; bf16 there
is what the backend reports.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# NVIDIA parts where fp16 is broken (16xx Turing) or slower than fp32 (Pascal 10xx); substrings of the name
NVIDIA_16_SERIES = (
    "1660", "1650", "1630", "t500", "t550", "t600", "mx550", "mx450", "cmp 30hx", "t2000", "t1000", "t1200",
)  # fmt: skip
NVIDIA_10_SERIES = (
    "1080", "1070", "titan x", "p3000", "p3200", "p4000", "p4200", "p5000", "p5200", "p6000", "1060", "1050",
    "p40", "p100", "p6", "p4",
)  # fmt: skip


@dataclass(frozen=True)
class DeviceCaps:
    """One compute device as probed. `type`: "cuda" | "mps" | "xpu" | "cpu"."""

    type: str
    index: int | None = None
    name: str = "cpu"
    total_memory: int = 0  # bytes (0 = unknown / shared with RAM)
    vendor: str = "cpu"  # "nvidia" | "amd" | "intel" | "apple" | "cpu"
    capability: tuple[int, int] | None = None  # CUDA compute capability
    fp16: bool = False  # fp16 arithmetic is usable and not slower than fp32
    fp16_storage: bool = False  # fp16 works, possibly slowly (Pascal): fine when weights do not fit otherwise
    bf16: bool = False
    fp8_compute: bool = False

    @property
    def torch_device(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU_CAPS = DeviceCaps("cpu")


@dataclass(frozen=True)
class DeviceInfo:
    """What start-up probing found: the compute device (CPU when none), RAM and the OS."""

    device: DeviceCaps = CPU_CAPS
    ram_total: int = 0
    windows: bool = False
    torch_version: tuple[int, int] = (2, 0)
    extra: dict[str, Any] = field(default_factory=dict)


def nvidia_caps(
    name: str,
    capability: tuple[int, int],
    total_memory: int,
    index: int = 0,
    torch_version: tuple[int, int] = (2, 4),
) -> DeviceCaps:
    """The capabilities of an NVIDIA GPU from its name and compute capability (also used to simulate one)."""
    major, minor = capability
    lower = name.lower()
    slow_fp16 = any(s in lower for s in NVIDIA_10_SERIES)
    broken_fp16 = any(s in lower for s in NVIDIA_16_SERIES)
    fp16 = major >= 8 or (major >= 6 and not slow_fp16 and not broken_fp16)
    fp8 = major >= 9 or (major == 8 and minor >= 9 and torch_version >= (2, 3))
    return DeviceCaps(
        type="cuda",
        index=index,
        name=name,
        total_memory=total_memory,
        vendor="nvidia",
        capability=capability,
        fp16=fp16,
        fp16_storage=fp16 or (slow_fp16 and major >= 6),
        bf16=major >= 8,
        fp8_compute=fp8,
    )


def _torch_version(torch: Any) -> tuple[int, int]:
    try:
        major, minor = torch.__version__.split(".")[:2]
        return int(major), int(minor)
    except (ValueError, AttributeError):
        return (2, 0)


def _probe_cuda(torch: Any, index: int, version: tuple[int, int]) -> DeviceCaps:
    props = torch.cuda.get_device_properties(index)
    if getattr(torch.version, "hip", None):
        bf16 = bool(torch.cuda.is_bf16_supported())
        return DeviceCaps("cuda", index, props.name, props.total_memory, "amd", None, True, True, bf16, False)
    return nvidia_caps(props.name, (props.major, props.minor), props.total_memory, index, version)


def probe(config: Any = None, torch: Any = None) -> DeviceInfo:
    """Ask torch which device to compute on. `--cpu` skips accelerators; CUDA (and ROCm) first, then
    Intel XPU, then Apple MPS."""
    import psutil

    if torch is None:
        import torch as torch_module

        torch = torch_module
    version = _torch_version(torch)
    ram = psutil.virtual_memory().total
    windows = platform.system() == "Windows"
    device = CPU_CAPS
    if not getattr(config, "cpu", False):
        if torch.cuda.is_available():
            device = _probe_cuda(torch, torch.cuda.current_device(), version)
        elif hasattr(torch, "xpu") and torch.xpu.is_available():
            props = torch.xpu.get_device_properties(0)
            device = DeviceCaps(
                "xpu", 0, props.name, props.total_memory, "intel", None, True, True,
                bool(torch.xpu.is_bf16_supported()), False,
            )  # fmt: skip
        elif torch.backends.mps.is_available():
            macos14 = getattr(torch.backends.mps, "is_macos_or_newer", lambda a, b: False)(14, 0)
            device = DeviceCaps("mps", None, "mps", 0, "apple", None, True, True, bool(macos14), False)
    if getattr(config, "supports_fp8_compute", False) and device.type != "cpu":
        device = DeviceCaps(**{**device.__dict__, "fp8_compute": True})
    info = DeviceInfo(device=device, ram_total=ram, windows=windows, torch_version=version)
    log.info("Device: %s (%s), total VRAM %d MB, RAM %d MB", device.torch_device, device.name,
             device.total_memory // 2**20, ram // 2**20)  # fmt: skip
    return info


def apply_visible_devices(config: Any, environ: MutableMapping[str, str] | None = None) -> None:
    """`--cuda-device N` / `--default-device N`: restrict or reorder the devices CUDA/ROCm/Ascend see.
    Must run before the first CUDA call (main.py does it right after parsing flags)."""
    env = os.environ if environ is None else environ
    index = getattr(config, "cuda_device", None)
    if index is not None:
        for var in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES"):
            env[var] = str(index)
        log.info("Set cuda device to: %s", index)
        return
    default = getattr(config, "default_device", None)
    if default is not None:
        count = _visible_count(env)
        order = [str(default)] + [str(i) for i in range(count) if i != default]
        for var in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"):
            env[var] = ",".join(order)


def _visible_count(env: MutableMapping[str, str]) -> int:
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return len([x for x in listed.split(",") if x.strip()])
    return 32  # CUDA ignores ids past the last device
