"""Devices and dtypes: probing at start-up (`probe`), the per-role dtype and device policy (`DevicePolicy`).

Nothing here touches the hardware at import. `main.py` calls `setup_devices(config)` once; tests build
`DevicePolicy(config, DeviceInfo(device=nvidia_caps(...)))` to simulate any GPU.
"""

from __future__ import annotations

from comfy_core.device.policy import CPUState, DevicePolicy, VaeDtype, VRAMState, setup_devices
from comfy_core.device.probe import (
    CPU_CAPS,
    DeviceCaps,
    DeviceInfo,
    apply_visible_devices,
    nvidia_caps,
    probe,
)

__all__ = [
    "CPU_CAPS",
    "CPUState",
    "DeviceCaps",
    "DeviceInfo",
    "DevicePolicy",
    "VRAMState",
    "VaeDtype",
    "apply_visible_devices",
    "nvidia_caps",
    "probe",
    "setup_devices",
]
