"""End-to-end Stable Diffusion through the nodes on a full-size random checkpoint: load, text encode,
KSampler steps, VAE decode and peak memory, the way a user's txt2img workflow runs.

    python bench/sd_pipeline.py                         # SD1.5 at 256x256 and SDXL at 512x512, 4 steps
    python bench/sd_pipeline.py --family sd15 --size 512 --steps 8

The checkpoint is written from the tensor manifest of the real file (names, shapes, fp16 dtypes) with
seeded random weights into a temporary directory; each family is measured in a fresh process so the
peak RSS is that family's alone. SDXL is skipped when the machine has too little memory for it.

Measured on the 2-core / 24 GB CPU dev box (other jobs running), fp32 compute, 2 threads:
  SD1.5 256x256: load 6.1 s, 12.7 s/step (= one raw UNet forward at batch 2), decode 7.1 s,
                 end to end 68 s for 4 steps, peak RSS 6.3 GiB
  SDXL 512x512:  load 40.5 s, 37.2 s/step, decode 17.4 s, end to end 253 s, peak RSS 19.0 GiB
                 (RSS counts the file's mapped pages while weights are converted)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MANIFESTS = {"sd15": "sd15_comfyui_checkpointsave_fp16", "sdxl": "sdxl_sd_xl_base_1.0"}
DEFAULT_SIZE = {"sd15": 256, "sdxl": 512}
# rough peak need (GiB) on the CPU: fp32 UNet + fp32 text encoders + the part of the file still held
MEMORY_NEED_GIB = {"sd15": 7.0, "sdxl": 18.0}


def write_random_checkpoint(manifest: str, path: Path, seed: int = 0) -> None:
    """Every tensor of the manifest, fp16 where the file is, with fan-in scaled random values."""
    import torch

    from comfy_core.io.checkpoint import save_safetensors
    from tests.fixtures.checkpoints import manifest_entries

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, dtype in manifest_entries(manifest):
        if not dtype.is_floating_point:
            value = torch.arange(shape[-1]).expand(shape).clone() if shape else torch.zeros(shape)
        elif len(shape) >= 2:
            fan_in = max(1, int(torch.Size(shape[1:]).numel()))
            value = torch.randn(shape, generator=g) / fan_in**0.5
        elif name.endswith("weight"):
            value = torch.ones(shape)
        else:
            value = torch.zeros(shape)
        out[name] = value.to(dtype)
    save_safetensors(out, path)


def measure(base: Path, ckpt: str, size: int, steps: int) -> dict[str, float]:
    import torch

    from comfy_core import runtime
    from comfy_core.config import Config
    from comfy_core.paths import Paths
    from comfy_core.progress import ExecutingContext, set_executing_context
    from nodes.conditioning import CLIPTextEncode
    from nodes.latent import EmptyLatentImage, VAEDecode
    from nodes.loaders import CheckpointLoaderSimple
    from nodes.sampling import KSampler

    torch.set_grad_enabled(False)
    runtime.install(runtime.Services(paths=Paths(str(base)), config=Config(cpu=True)))
    stamps: list[float] = []
    set_executing_context(
        ExecutingContext("bench", "ksampler", None, lambda *a: stamps.append(time.perf_counter()))
    )
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint(ckpt)
    t1 = time.perf_counter()
    pos = CLIPTextEncode().encode(clip, "a photograph of an astronaut riding a horse")[0]
    neg = CLIPTextEncode().encode(clip, "blurry, low quality")[0]
    t2 = time.perf_counter()
    latent = EmptyLatentImage().generate(size, size, 1)[0]
    samples = KSampler().sample(model, 42, steps, 7.0, "euler", "normal", pos, neg, latent)[0]
    t3 = time.perf_counter()
    image = VAEDecode().decode(vae, samples)[0]
    t4 = time.perf_counter()
    out["load_s"] = t1 - t0
    out["encode_s"] = t2 - t1
    out["sample_s"] = t3 - t2
    out["first_step_s"] = stamps[0] - t2
    out["s_per_step"] = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    out["decode_s"] = t4 - t3
    out["end_to_end_s"] = t4 - t0
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out["image_mean"] = float(image.mean())
    out["threads"] = torch.get_num_threads()
    return out


def available_gib() -> float:
    import psutil

    return psutil.virtual_memory().available / 1024**3


def run_family(family: str, size: int, steps: int, workdir: Path, threads: int = 0) -> dict | None:
    if available_gib() < MEMORY_NEED_GIB[family]:
        print(
            f"{family}: skipped, {available_gib():.1f} GiB available < {MEMORY_NEED_GIB[family]} GiB needed"
        )
        return None
    ckpt_dir = workdir / "models" / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpt = f"random_{family}.safetensors"
    t = time.perf_counter()
    me = [sys.executable, __file__]
    subprocess.run(me + ["--write", MANIFESTS[family], str(ckpt_dir / ckpt)], check=True)
    file_gib = (ckpt_dir / ckpt).stat().st_size / 1024**3
    print(f"{family}: wrote {file_gib:.2f} GiB checkpoint in {time.perf_counter() - t:.1f} s")
    args = ["--measure", str(workdir), ckpt, str(size), str(steps), "--threads", str(threads)]
    proc = subprocess.run(me + args, check=True, capture_output=True, text=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (ckpt_dir / ckpt).unlink()
    result["file_gib"] = file_gib
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=["sd15", "sdxl", "both"], default="both")
    ap.add_argument(
        "--size", type=int, default=None, help="image side in pixels (default 256 SD1.5, 512 SDXL)"
    )
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--write", nargs=2, metavar=("MANIFEST", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--measure", nargs=4, metavar=("BASE", "CKPT", "SIZE", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write:
        write_random_checkpoint(args.write[0], Path(args.write[1]))
        return
    if args.measure:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        base, ckpt, size, steps = args.measure
        print(json.dumps(measure(Path(base), ckpt, int(size), int(steps))))
        return
    families = ["sd15", "sdxl"] if args.family == "both" else [args.family]
    with tempfile.TemporaryDirectory(prefix="sd_pipeline_bench_") as tmp:
        for family in families:
            size = args.size or DEFAULT_SIZE[family]
            result = run_family(family, size, args.steps, Path(tmp), args.threads)
            if result is None:
                continue
            print(
                f"{family} {size}x{size}, {args.steps} steps euler, cfg 7 (batch 2), {result['threads']} threads:\n"
                f"  load {result['load_s']:.1f} s ({result['file_gib']:.2f} GiB fp16 file -> fp32)\n"
                f"  text encode (2 prompts) {result['encode_s']:.2f} s\n"
                f"  sampling {result['sample_s']:.1f} s: first step {result['first_step_s']:.2f} s, "
                f"then {result['s_per_step']:.2f} s/step\n"
                f"  VAE decode {result['decode_s']:.2f} s\n"
                f"  end to end {result['end_to_end_s']:.1f} s, peak RSS {result['peak_rss_gib']:.2f} GiB"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
