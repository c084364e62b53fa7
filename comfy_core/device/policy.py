"""The device and dtype policy: where each model role runs and in which dtype, from the flags and the
probed device (ComfyUI's model_management rules, as one object made by `main.py`).

Roles: the diffusion model (weights dtype plus a manual-cast compute dtype when the device cannot
compute in the storage dtype: fp8 storage always computes in a 16/32-bit dtype through the manual-cast
layer ops), the text encoders and the VAE. On the CPU nothing computes in fp16; fp32 unless a flag asks
for bf16. The VRAM state (§12) decides offload and initial-load devices.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

import torch

from comfy_core.device.probe import DeviceCaps, DeviceInfo

log = logging.getLogger(__name__)

GiB = 1024**3
MiB = 1024**2
FP8 = {
    name: getattr(torch, name)
    for name in ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu")
    if hasattr(torch, name)
}
DEFAULT_SUPPORTED = (torch.bfloat16, torch.float16, torch.float32)  # families that state no preference
VAE_DEFAULT = (torch.bfloat16, torch.float32)
# VAEs whose fp16 decode overflows to NaN (SDXL's): decode again in fp32/bf16 when that happens
VAE_FP16_NAN_FAMILIES = frozenset({"sdxl", "sdxl_inpaint", "sdxl_refiner"})


class VRAMState(enum.IntEnum):
    DISABLED = 0  # no accelerator: everything on the CPU
    NO_VRAM = 1  # stream every weight
    LOW_VRAM = 2  # partial loading
    NORMAL_VRAM = 3
    HIGH_VRAM = 4  # keep models on the device
    SHARED = 5  # Apple unified memory


class CPUState(enum.Enum):
    GPU = "gpu"
    CPU = "cpu"
    MPS = "mps"


@dataclass(frozen=True)
class VaeDtype:
    dtype: torch.dtype
    nan_fallback: bool  # redo a decode that produced NaN in fp32 (fp16 SDXL VAE)


def _flag(config: Any, name: str) -> bool:
    return bool(getattr(config, name, False))


class DevicePolicy:
    """Decisions for one process. Construct with `DevicePolicy(config, probe(config))`."""

    def __init__(self, config: Any, info: DeviceInfo) -> None:
        self.config = config
        self.info = info
        self.caps: DeviceCaps = info.device
        self.cpu_state = {"cpu": CPUState.CPU, "mps": CPUState.MPS}.get(self.caps.type, CPUState.GPU)
        self.vram_state = self._vram_state()
        self.reserved_vram = self._reserved_vram()
        log.info("Set vram state to: %s", self.vram_state.name)

    # ---- devices ------------------------------------------------------------------------------
    def _vram_state(self) -> VRAMState:
        if self.cpu_state == CPUState.CPU:
            return VRAMState.DISABLED
        if self.cpu_state == CPUState.MPS:
            return VRAMState.SHARED
        c = self.config
        if _flag(c, "lowvram"):
            return VRAMState.LOW_VRAM
        if _flag(c, "novram"):
            return VRAMState.NO_VRAM
        if _flag(c, "highvram") or _flag(c, "gpu_only"):
            return VRAMState.HIGH_VRAM
        return VRAMState.NORMAL_VRAM

    def _reserved_vram(self) -> int:
        flag = getattr(self.config, "reserve_vram", None)
        if flag is not None:
            return int(flag * GiB)
        if self.info.windows:
            extra = 100 * MiB if self.caps.total_memory > 15 * GiB else 0
            return 600 * MiB + extra
        return 400 * MiB

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.caps.torch_device)

    def get_torch_device(self) -> torch.device:
        return self.torch_device

    @property
    def cpu(self) -> torch.device:
        return torch.device("cpu")

    def minimum_inference_memory(self) -> int:
        return int(0.8 * GiB) + self.reserved_vram

    def unet_offload_device(self) -> torch.device:
        return self.torch_device if self.vram_state == VRAMState.HIGH_VRAM else self.cpu

    def unet_initial_load_device(self, model_bytes: int, free_device: int, free_cpu: int) -> torch.device:
        """Load straight onto the device when it fits and the device has more free memory than RAM."""
        if self.vram_state == VRAMState.HIGH_VRAM:
            return self.torch_device
        if self.cpu_state == CPUState.CPU or self.vram_state == VRAMState.NO_VRAM:
            return self.cpu
        if _flag(self.config, "disable_smart_memory"):
            return self.cpu
        if model_bytes < free_device and free_device > free_cpu:
            return self.torch_device
        return self.cpu

    def text_encoder_device(self) -> torch.device:
        if _flag(self.config, "gpu_only"):
            return self.torch_device
        if self.vram_state in (VRAMState.HIGH_VRAM, VRAMState.NORMAL_VRAM) and self.should_use_fp16(
            prioritize_performance=False
        ):
            return self.torch_device
        return self.cpu

    def text_encoder_offload_device(self) -> torch.device:
        return self.torch_device if _flag(self.config, "gpu_only") else self.cpu

    def vae_device(self) -> torch.device:
        return self.cpu if _flag(self.config, "cpu_vae") else self.torch_device

    def vae_offload_device(self) -> torch.device:
        return self.torch_device if _flag(self.config, "gpu_only") else self.cpu

    # ---- dtype capability ----------------------------------------------------------------------
    def _caps_for(self, device: torch.device | str | None) -> DeviceCaps | None:
        dev = torch.device(device) if device is not None else self.torch_device
        return None if dev.type == "cpu" else self.caps

    def should_use_fp16(
        self,
        device: torch.device | str | None = None,
        prioritize_performance: bool = True,
        manual_cast: bool = False,
    ) -> bool:
        caps = self._caps_for(device)
        if caps is None or self.cpu_state == CPUState.CPU:
            return False
        if _flag(self.config, "force_fp16"):
            return True
        if _flag(self.config, "force_fp32"):
            return False
        if caps.fp16:
            return True
        # Pascal: fp16 works but computes slower than fp32 on Linux; use it for storage (manual cast)
        return caps.fp16_storage and (manual_cast or self.info.windows)

    def should_use_bf16(self, device: torch.device | str | None = None) -> bool:
        caps = self._caps_for(device)
        if caps is None or _flag(self.config, "force_fp32"):
            return False
        return caps.bf16

    def supports_dtype(self, dtype: torch.dtype, device: torch.device | str | None = None) -> bool:
        if dtype == torch.float32:
            return True
        if dtype == torch.float16:
            return self.should_use_fp16(device, prioritize_performance=False)
        if dtype == torch.bfloat16:
            dev = torch.device(device) if device is not None else self.torch_device
            return dev.type == "cpu" or self.should_use_bf16(device)  # bf16 is exact but slow on CPU
        return False

    # ---- diffusion model -----------------------------------------------------------------------
    def _unet_flag_dtype(self) -> torch.dtype | None:
        c = self.config
        for flag, dtype in (
            ("fp64_unet", torch.float64),
            ("fp32_unet", torch.float32),
            ("bf16_unet", torch.bfloat16),
            ("fp16_unet", torch.float16),
            ("force_fp16", torch.float16),
            ("fp8_e4m3fn_unet", FP8.get("float8_e4m3fn")),
            ("fp8_e5m2_unet", FP8.get("float8_e5m2")),
            ("fp8_e8m0fnu_unet", FP8.get("float8_e8m0fnu")),
        ):
            if _flag(c, flag) and dtype is not None:
                return dtype
        if _flag(c, "force_fp32"):
            return torch.float32
        return None

    def unet_dtype(
        self,
        device: torch.device | str | None = None,
        model_params: int = 0,
        supported_dtypes: tuple[torch.dtype, ...] = DEFAULT_SUPPORTED,
        weight_dtype: torch.dtype | None = None,
        free_device_bytes: int | None = None,
    ) -> torch.dtype:
        """Storage dtype of a diffusion model: the flag, else fp8 kept when the file is fp8 and the device
        computes fp8 or the model would not fit in 16 bits, else the first of the family's supported
        dtypes the device runs well, else fp32 (the CPU, unless a flag asks)."""
        forced = self._unet_flag_dtype()
        if forced is not None:
            return forced
        if weight_dtype in FP8.values():
            if self.caps.fp8_compute and self._caps_for(device) is not None:
                return weight_dtype
            if free_device_bytes is not None and model_params * 2 > free_device_bytes:
                return weight_dtype
        for manual_cast in (False, True):
            for dt in supported_dtypes:
                if dt == torch.float16 and self.should_use_fp16(device, manual_cast=manual_cast):
                    return torch.float16
                if dt == torch.bfloat16 and self.should_use_bf16(device):
                    return torch.bfloat16
        return torch.float32

    def unet_manual_cast(
        self,
        weight_dtype: torch.dtype,
        device: torch.device | str | None = None,
        supported_dtypes: tuple[torch.dtype, ...] = DEFAULT_SUPPORTED,
    ) -> torch.dtype | None:
        """The compute dtype when weights stored in `weight_dtype` cannot be used as they are (None when
        they can): fp8 always casts; fp16/bf16 cast when the device lacks them."""
        if weight_dtype in (torch.float32, torch.float64):
            return None
        if weight_dtype == torch.float16 and self.should_use_fp16(device, prioritize_performance=False):
            return None
        if weight_dtype == torch.bfloat16 and self.should_use_bf16(device):
            return None
        for dt in supported_dtypes:
            if dt == torch.float16 and self.should_use_fp16(device, prioritize_performance=False):
                return torch.float16
            if dt == torch.bfloat16 and self.should_use_bf16(device):
                return torch.bfloat16
        return torch.float32

    # ---- text encoders and VAE -----------------------------------------------------------------
    def text_encoder_dtype(self, device: torch.device | str | None = None) -> torch.dtype:
        c = self.config
        for flag, dtype in (
            ("fp8_e4m3fn_text_enc", FP8.get("float8_e4m3fn")),
            ("fp8_e5m2_text_enc", FP8.get("float8_e5m2")),
            ("fp16_text_enc", torch.float16),
            ("bf16_text_enc", torch.bfloat16),
            ("fp32_text_enc", torch.float32),
        ):
            if _flag(c, flag) and dtype is not None:
                return dtype
        dev = device if device is not None else self.text_encoder_device()
        if self._caps_for(dev) is None:
            return torch.float32
        if self.should_use_fp16(dev, prioritize_performance=False):
            return torch.float16
        return torch.bfloat16 if self.should_use_bf16(dev) else torch.float32

    def text_encoder_compute_dtype(
        self, storage: torch.dtype, device: torch.device | str | None = None
    ) -> torch.dtype:
        """What a text encoder stored in `storage` computes in on `device` (fp8 and CPU-fp16 cast up)."""
        dev = device if device is not None else self.text_encoder_device()
        if self.supports_dtype(storage, dev):
            return storage
        return (
            torch.float32 if self._caps_for(dev) is None else self.unet_manual_cast(storage, dev) or storage
        )

    def vae_dtype(
        self,
        device: torch.device | str | None = None,
        allowed_dtypes: tuple[torch.dtype, ...] = VAE_DEFAULT,
        family: str | None = None,
    ) -> VaeDtype:
        c = self.config
        dev = device if device is not None else self.vae_device()
        dtype = torch.float32
        if _flag(c, "fp16_vae"):
            dtype = torch.float16
        elif _flag(c, "bf16_vae"):
            dtype = torch.bfloat16
        elif _flag(c, "fp32_vae"):
            dtype = torch.float32
        else:
            for dt in allowed_dtypes:
                if dt == torch.float16 and self.should_use_fp16(dev, prioritize_performance=False):
                    dtype = dt
                    break
                if dt == torch.bfloat16 and self.should_use_bf16(dev):
                    dtype = dt
                    break
        if dtype == torch.float16 and self._caps_for(dev) is None:
            dtype = torch.float32  # never fp16 arithmetic on the CPU
        return VaeDtype(dtype, dtype == torch.float16 and family in VAE_FP16_NAN_FAMILIES)

    def describe(self) -> dict[str, Any]:
        """Figures for logs and /system_stats."""
        return {
            "device": self.caps.torch_device,
            "name": self.caps.name,
            "type": self.caps.type,
            "vram_total": self.caps.total_memory,
            "vram_state": self.vram_state.name,
            "reserved_vram": self.reserved_vram,
        }


def setup_devices(config: Any, torch_module: Any = None) -> DevicePolicy:
    """Start-up entry point for main.py: visible-device flags, probe, policy."""
    from comfy_core.device.probe import apply_visible_devices, probe

    apply_visible_devices(config)
    return DevicePolicy(config, probe(config, torch_module))
