"""Device and dtype policy on simulated devices: the CPU, NVIDIA parts from a capability table, MPS."""

from __future__ import annotations

import pytest
import torch

from comfy_core.config import Config, parse_args
from comfy_core.device import (
    CPU_CAPS,
    DeviceCaps,
    DeviceInfo,
    DevicePolicy,
    VRAMState,
    apply_visible_devices,
    nvidia_caps,
    probe,
)
from comfy_core.device.policy import GiB, MiB

FP16, BF16, FP32 = torch.float16, torch.bfloat16, torch.float32
SD_FAMILY = (FP16, BF16, FP32)  # ComfyUI's SD1/SD2/SDXL supported inference dtypes
# name, compute capability -> (fp16 usable, bf16, fp8 compute)
GPUS = {
    "Tesla K80": ((3, 7), False, False, False),
    "NVIDIA GeForce GTX 1080": ((6, 1), False, False, False),
    "Tesla P100-PCIE-16GB": ((6, 0), False, False, False),
    "NVIDIA GeForce GTX 1660 SUPER": ((7, 5), False, False, False),
    "Tesla V100-SXM2-16GB": ((7, 0), True, False, False),
    "NVIDIA GeForce RTX 2080 Ti": ((7, 5), True, False, False),
    "NVIDIA GeForce RTX 3090": ((8, 6), True, True, False),
    "NVIDIA GeForce RTX 4090": ((8, 9), True, True, True),
    "NVIDIA H100 80GB HBM3": ((9, 0), True, True, True),
}


def policy(caps: DeviceCaps = CPU_CAPS, argv: list[str] | None = None, windows: bool = False) -> DevicePolicy:
    return DevicePolicy(parse_args(argv or []), DeviceInfo(device=caps, ram_total=64 * GiB, windows=windows))


def gpu(name: str, memory: int = 24 * GiB) -> DeviceCaps:
    return nvidia_caps(name, GPUS[name][0], memory)


@pytest.mark.parametrize("name", sorted(GPUS))
def test_capability_table(name: str) -> None:
    _, fp16, bf16, fp8 = GPUS[name]
    caps = gpu(name)
    assert (caps.fp16, caps.bf16, caps.fp8_compute) == (fp16, bf16, fp8)


def test_cpu_decisions() -> None:
    p = policy()
    assert p.vram_state == VRAMState.DISABLED and p.torch_device == torch.device("cpu")
    assert p.unet_dtype(supported_dtypes=SD_FAMILY) == FP32
    assert p.unet_dtype() == FP32
    assert p.text_encoder_dtype() == FP32 and p.vae_dtype().dtype == FP32
    assert p.unet_manual_cast(FP16) == FP32  # fp16 weights compute in fp32 on the CPU
    assert p.unet_manual_cast(torch.float8_e4m3fn) == FP32


def test_cpu_flags_are_honoured_but_never_compute_fp16() -> None:
    p = policy(argv=["--cpu", "--bf16-unet", "--fp16-vae"])
    assert p.unet_dtype() == BF16
    assert p.unet_manual_cast(BF16) == FP32
    assert p.vae_dtype().dtype == FP32
    assert policy(argv=["--force-fp16"]).unet_manual_cast(policy(argv=["--force-fp16"]).unet_dtype()) == FP32


@pytest.mark.parametrize(
    "name, family_dtype, generic_dtype, vae",
    [
        ("NVIDIA GeForce RTX 3090", FP16, BF16, BF16),
        ("NVIDIA H100 80GB HBM3", FP16, BF16, BF16),
        ("NVIDIA GeForce RTX 2080 Ti", FP16, FP16, FP32),
        ("Tesla V100-SXM2-16GB", FP16, FP16, FP32),
        ("NVIDIA GeForce GTX 1080", FP16, FP16, FP32),  # second pass: fp16 for storage on Pascal
        ("NVIDIA GeForce GTX 1660 SUPER", FP32, FP32, FP32),
        ("Tesla K80", FP32, FP32, FP32),
    ],
)
def test_gpu_dtypes(name: str, family_dtype, generic_dtype, vae) -> None:
    p = policy(gpu(name))
    assert p.vram_state == VRAMState.NORMAL_VRAM
    assert p.unet_dtype(supported_dtypes=SD_FAMILY) == family_dtype  # the family's order (ComfyUI)
    assert p.unet_dtype() == generic_dtype  # no family preference: bf16 where supported, then fp16
    assert p.vae_dtype().dtype == vae


def test_manual_cast_on_gpus() -> None:
    ampere = policy(gpu("NVIDIA GeForce RTX 3090"))
    assert ampere.unet_manual_cast(FP16) is None and ampere.unet_manual_cast(BF16) is None
    assert ampere.unet_manual_cast(torch.float8_e4m3fn) == BF16  # fp8 storage computes in bf16
    assert ampere.unet_manual_cast(torch.float8_e4m3fn, supported_dtypes=SD_FAMILY) == FP16
    turing = policy(gpu("NVIDIA GeForce RTX 2080 Ti"))
    assert turing.unet_manual_cast(BF16) == FP16
    pascal = policy(gpu("NVIDIA GeForce GTX 1080"))
    assert pascal.unet_manual_cast(FP16) == FP32  # fp16 storage, fp32 arithmetic on Linux
    assert policy(gpu("NVIDIA GeForce GTX 1080"), windows=True).unet_manual_cast(FP16) is None
    assert pascal.text_encoder_device().type == "cpu"
    assert policy(gpu("NVIDIA GeForce GTX 1660 SUPER")).unet_manual_cast(FP16) == FP32


def test_fp8_weights_kept_when_computable_or_too_big() -> None:
    e4 = torch.float8_e4m3fn
    assert policy(gpu("NVIDIA GeForce RTX 4090")).unet_dtype(weight_dtype=e4) == e4
    ampere = policy(gpu("NVIDIA GeForce RTX 3090"))
    assert ampere.unet_dtype(weight_dtype=e4, supported_dtypes=SD_FAMILY) == FP16
    big = ampere.unet_dtype(weight_dtype=e4, model_params=12 * 10**9, free_device_bytes=20 * GiB)
    assert big == e4


@pytest.mark.parametrize(
    "flag, dtype",
    [
        ("--fp32-unet", FP32),
        ("--bf16-unet", BF16),
        ("--fp16-unet", FP16),
        ("--fp8_e4m3fn-unet", torch.float8_e4m3fn),
        ("--fp8_e5m2-unet", torch.float8_e5m2),
        ("--force-fp32", FP32),
        ("--force-fp16", FP16),
    ],
)
def test_unet_flags(flag: str, dtype) -> None:
    assert policy(gpu("NVIDIA GeForce RTX 3090"), [flag]).unet_dtype(supported_dtypes=SD_FAMILY) == dtype


def test_text_encoder_and_vae_flags() -> None:
    ampere = gpu("NVIDIA GeForce RTX 3090")
    assert policy(ampere).text_encoder_dtype() == FP16
    assert policy(ampere, ["--fp8_e4m3fn-text-enc"]).text_encoder_dtype() == torch.float8_e4m3fn
    assert policy(ampere, ["--fp8_e4m3fn-text-enc"]).text_encoder_compute_dtype(torch.float8_e4m3fn) == BF16
    assert policy(ampere, ["--fp16-vae"]).vae_dtype(family="sdxl") == policy(ampere).vae_dtype(
        allowed_dtypes=(FP16,), family="sdxl"
    )
    fp16_sdxl = policy(ampere, ["--fp16-vae"]).vae_dtype(family="sdxl")
    assert fp16_sdxl.dtype == FP16 and fp16_sdxl.nan_fallback
    assert not policy(ampere, ["--fp16-vae"]).vae_dtype(family="sd15").nan_fallback
    assert policy(ampere, ["--bf16-vae"]).vae_dtype().dtype == BF16
    assert policy(ampere, ["--fp32-vae"]).vae_dtype().dtype == FP32
    assert policy(ampere, ["--force-fp32"]).vae_dtype().dtype == FP32


@pytest.mark.parametrize(
    "argv, state",
    [
        ([], VRAMState.NORMAL_VRAM),
        (["--lowvram"], VRAMState.LOW_VRAM),
        (["--novram"], VRAMState.NO_VRAM),
        (["--highvram"], VRAMState.HIGH_VRAM),
        (["--gpu-only"], VRAMState.HIGH_VRAM),
        (["--normalvram"], VRAMState.NORMAL_VRAM),
    ],
)
def test_vram_states(argv: list[str], state: VRAMState) -> None:
    assert policy(gpu("NVIDIA GeForce RTX 3090"), argv).vram_state == state


def test_mps_is_shared() -> None:
    mps = DeviceCaps("mps", None, "mps", 0, "apple", None, True, True, True, False)
    p = policy(mps)
    assert p.vram_state == VRAMState.SHARED and p.unet_dtype(supported_dtypes=SD_FAMILY) == FP16


def test_devices_per_state() -> None:
    cuda = torch.device("cuda:0")
    normal = policy(gpu("NVIDIA GeForce RTX 3090"))
    assert normal.unet_offload_device() == torch.device("cpu") and normal.text_encoder_device() == cuda
    assert normal.vae_device() == cuda and normal.text_encoder_offload_device() == torch.device("cpu")
    assert normal.unet_initial_load_device(2 * GiB, free_device=20 * GiB, free_cpu=10 * GiB) == cuda
    assert normal.unet_initial_load_device(2 * GiB, free_device=20 * GiB, free_cpu=40 * GiB).type == "cpu"
    high = policy(gpu("NVIDIA GeForce RTX 3090"), ["--gpu-only"])
    assert high.unet_offload_device() == cuda and high.text_encoder_offload_device() == cuda
    low = policy(gpu("NVIDIA GeForce RTX 3090"), ["--lowvram", "--cpu-vae"])
    assert low.text_encoder_device().type == "cpu" and low.vae_device().type == "cpu"
    assert (
        policy(gpu("NVIDIA GeForce RTX 3090"), ["--novram"]).unet_initial_load_device(1, 10, 1).type == "cpu"
    )


def test_reserved_vram() -> None:
    caps = gpu("NVIDIA GeForce RTX 3090", 24 * GiB)
    assert policy(caps).reserved_vram == 400 * MiB
    assert policy(caps, windows=True).reserved_vram == 700 * MiB
    assert policy(gpu("NVIDIA GeForce RTX 3090", 12 * GiB), windows=True).reserved_vram == 600 * MiB
    assert policy(caps, ["--reserve-vram", "2.5"]).reserved_vram == int(2.5 * GiB)
    assert policy(caps).minimum_inference_memory() == int(0.8 * GiB) + 400 * MiB


def test_visible_devices() -> None:
    env: dict[str, str] = {}
    apply_visible_devices(parse_args(["--cuda-device", "1"]), env)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["HIP_VISIBLE_DEVICES"] == "1"
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2"}
    apply_visible_devices(parse_args(["--default-device", "2"]), env)
    assert env["CUDA_VISIBLE_DEVICES"] == "2,0,1"


class _FakeCuda:
    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def current_device() -> int:
        return 0

    @staticmethod
    def get_device_properties(index: int):
        from types import SimpleNamespace

        return SimpleNamespace(name="NVIDIA GeForce RTX 4090", major=8, minor=9, total_memory=24 * GiB)


def test_probe_with_a_fake_cuda_and_cpu_flag() -> None:
    from types import SimpleNamespace

    fake = SimpleNamespace(__version__="2.5.0", cuda=_FakeCuda(), version=SimpleNamespace(hip=None))
    info = probe(Config(), fake)
    assert info.device.type == "cuda" and info.device.fp8_compute and info.device.total_memory == 24 * GiB
    assert probe(Config(cpu=True), fake).device == CPU_CAPS
    real = probe(Config(cpu=True))
    assert real.device.type == "cpu" and real.ram_total > 0


def test_fp8_storage_computes_through_manual_cast_ops() -> None:
    from comfy_core.ops import MANUAL_CAST, pick_operations

    ops = pick_operations(torch.float8_e4m3fn, BF16)
    assert ops is MANUAL_CAST
    layer = ops.Linear(8, 4, dtype=torch.float8_e4m3fn)
    w = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.weight.copy_(w.to(torch.float8_e4m3fn))
        layer.bias.copy_(torch.zeros(4).to(torch.float8_e4m3fn))
    x = torch.randn(2, 8, dtype=BF16)
    out = layer(x)
    assert out.dtype == BF16
    torch.testing.assert_close(out, x @ w.to(torch.float8_e4m3fn).to(BF16).t())
