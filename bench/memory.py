"""Memory-manager bench: SDXL-layout UNets (random weights) under a virtual budget against unlimited.

    .venv/bin/python bench/memory.py [--channels 128] [--latent 32] [--steps 3] [--budget-mb N]

The UNet keeps SDXL's exact layout (depths, attention, context 2048, ADM 2816) at `--channels` model
channels (320 is full size; the default is reduced so two copies fit beside other work on a small CPU
box). The default budget scales ComfyUI's "4 GB GPU" case to the reduced model: 4 GiB / full SDXL UNet
bytes at fp16 (about 0.78), times the reduced model's bytes, so the model does not fit and about a fifth
of it streams. Figures:
* seconds per CFG step (one batch-2 UNet evaluation) unlimited vs under the budget, and their ratio;
* the A->B->A switch: placing A again after B under the budget (eviction + re-placement) vs unlimited
  (both resident, a reuse);
* peak RSS of the process.
On a CUDA machine, `--device cuda` runs the same with the real device (add `--budget-mb` to cap it).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfy_core.memory.budget import RamMemory, VirtualMemory, device_memory  # noqa: E402
from comfy_core.memory.manager import MemoryManager  # noqa: E402
from comfy_core.memory.patcher import ModelPatcher  # noqa: E402

MiB = 1024**2
FOUR_GB = 4 * 1024**3
MANIFEST = "sdxl_sd_xl_base_1.0"


def sdxl_patcher(channels: int, seed: int, device: torch.device) -> ModelPatcher:
    from comfy_core.families import detect
    from comfy_core.families.build import build_diffusion_model
    from tests.fixtures.checkpoints import manifest_meta_state_dict

    family, params = detect(manifest_meta_state_dict(MANIFEST))
    params = dataclasses.replace(params, model_channels=channels)
    wrapper = build_diffusion_model(family, params, None, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in wrapper.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.02 if p.ndim > 1 else 0.1))
    return ModelPatcher(wrapper, load_device=device, offload_device="cpu")


def full_sdxl_fp16_bytes() -> int:
    from tests.fixtures.checkpoints import manifest_entries

    return sum(
        2 * int(torch.Size(shape).numel())
        for name, shape, _ in manifest_entries(MANIFEST)
        if name.startswith("model.diffusion_model.")
    )


def step_seconds(manager: MemoryManager, patcher: ModelPatcher, latent: int, steps: int) -> float:
    device = patcher.load_device
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, latent, latent, generator=g).to(device)
    context = torch.randn(2, 77, 2048, generator=g).to(device)
    y = torch.randn(2, 2816, generator=g).to(device)
    sigma = torch.full((2,), 5.0, device=device)
    times = []
    for _ in range(steps + 1):  # the first evaluation warms up and is not counted
        start = time.perf_counter()
        need = int(patcher.model.memory_required(x.shape))
        with manager.use([patcher], memory_required=need), torch.inference_mode():
            patcher.model.apply_model(x, sigma, c_crossattn=context, y=y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / steps


def switch_seconds(manager: MemoryManager, a: ModelPatcher, b: ModelPatcher) -> tuple[float, float]:
    """(seconds to place A after B, seconds to place A again right after)."""
    with manager.use([a]):
        pass
    with manager.use([b]):
        pass
    start = time.perf_counter()
    with manager.use([a]):
        pass
    switch = time.perf_counter() - start
    start = time.perf_counter()
    with manager.use([a]):
        pass
    return switch, time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--budget-mb", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    t0 = time.perf_counter()
    a = sdxl_patcher(args.channels, 1, device)
    b = sdxl_patcher(args.channels, 2, device)
    size = a.model_size()
    print(
        f"built two SDXL-layout UNets ({args.channels} ch): {size / MiB:.0f} MB each, {time.perf_counter() - t0:.1f} s"
    )
    ratio = FOUR_GB / full_sdxl_fp16_bytes()
    budget = args.budget_mb * MiB if args.budget_mb else int(size * ratio)
    print(
        f"budget: {budget / MiB:.0f} MB ({budget / size:.2f} x model; 4 GiB / full SDXL UNet fp16 = {ratio:.2f})"
    )

    unlimited = MemoryManager(device_memory(device) if device.type == "cuda" else RamMemory(device))
    s_full = step_seconds(unlimited, a, args.latent, args.steps)
    sw_full, reuse_full = switch_seconds(unlimited, a, b)
    unlimited.unload_all_models()

    real = device_memory(device) if device.type == "cuda" else None
    limited = MemoryManager(VirtualMemory(budget, device, backing=real))
    s_part = step_seconds(limited, a, args.latent, args.steps)
    st = a.weight_state
    print(
        f"under the budget: {st.device_bytes / MiB:.0f} MB resident, {st.streamed_bytes / MiB:.0f} MB streamed"
    )
    sw_part, reuse_part = switch_seconds(limited, a, b)

    print(f"s/step  unlimited {s_full:.3f}  budget {s_part:.3f}  ratio {s_part / s_full:.2f}")
    print(
        f"A->B->A switch  unlimited {sw_full * 1000:.1f} ms (reuse)  budget {sw_part * 1000:.1f} ms (evict + place)"
    )
    print(f"A again  unlimited {reuse_full * 1000:.2f} ms  budget {reuse_part * 1000:.2f} ms")
    print(
        f"manager under budget: {limited.stats.loads} placements, {limited.stats.unloads} unloads, "
        f"{limited.stats.partial_loads} partial"
    )
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
