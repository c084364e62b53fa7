"""The embedded default model on this machine: load time and end-to-end seconds per image for the default
workflow (`workflows/default.json`: CheckpointLoaderSimple -> CLIPTextEncode x2 -> EmptyLatentImage 128x128
-> KSampler 20 euler steps -> VAEDecode -> SaveImage), run through the real executor.

    python bench/default_model.py                 # 5 images after the first
    python bench/default_model.py --images 10 --threads 1

Reports: checkpoint load (CheckpointLoaderSimple alone, in process), the first workflow run (load + image),
then per image once loaded (new seed each run so only KSampler..SaveImage re-execute), and the cold
`python main.py run workflows/default.json` wall time (new process: imports, node registry, load, image).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKFLOW = ROOT / "workflows" / "default.json"
PROMPT = "a yellow star on a purple background"


def measure_load(threads: int) -> float:
    from tools.default_model.pipeline import ShapesPipeline

    pipe = ShapesPipeline(threads=threads)
    t0 = time.perf_counter()
    pipe.load()
    return time.perf_counter() - t0


def measure_workflow(images: int, threads: int, out_dir: str) -> tuple[float, list[float]]:
    import torch

    import main
    from comfy_core.config import parse_run_args
    from comfy_core.events import NullSink

    torch.set_num_threads(threads)
    config = parse_run_args([str(WORKFLOW), "--output-directory", out_dir, "--cpu"])
    services = main.build_services(config, lambda _s: NullSink())
    prompt, workflow = main.load_workflow(str(WORKFLOW), services.registry.object_info)
    main.apply_overrides(prompt, [f"6.text={PROMPT}"])
    sampler_id = next(k for k, v in prompt.items() if v["class_type"] == "KSampler")
    times = []
    for i in range(images + 1):
        prompt[sampler_id]["inputs"]["seed"] = 1000 + i
        t0 = time.perf_counter()
        services.executor.execute(
            prompt,
            f"bench-{i}",
            {"client_id": "bench"},
            [k for k in prompt if prompt[k]["class_type"] == "SaveImage"],
        )
        times.append(time.perf_counter() - t0)
        if not services.executor.success:
            raise RuntimeError("the default workflow failed")
    written = list(Path(out_dir).glob("*.png"))
    if len(written) != images + 1:
        raise RuntimeError(f"expected {images + 1} PNGs in {out_dir}, found {len(written)}")
    return times[0], times[1:]


def measure_cli(out_dir: str) -> float:
    from tools.default_model.pipeline import cli_command

    cmd = cli_command(WORKFLOW, PROMPT, out_dir)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def main_() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    load = measure_load(args.threads)
    with tempfile.TemporaryDirectory() as out:
        first, rest = measure_workflow(args.images, args.threads, out)
    with tempfile.TemporaryDirectory() as out:
        cli = measure_cli(out)
    print(f"checkpoint load (CheckpointLoaderSimple): {load:.2f} s")
    print(f"first workflow run (load + 1 image):      {first:.2f} s")
    print(
        f"per image once loaded ({len(rest)} runs):         median {statistics.median(rest):.2f} s, "
        f"min {min(rest):.2f} s, max {max(rest):.2f} s"
    )
    print(f"cold CLI `main.py run workflows/default.json`: {cli:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_())
