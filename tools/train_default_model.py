"""Train the embedded default model (`models/checkpoints/comfy-core-shapes.safetensors`) on this CPU.

    nice -n 5 .venv/bin/python tools/train_default_model.py            # full recipe (see docs/default-model.md)
    .venv/bin/python tools/train_default_model.py --scale 0.05 --out /tmp/x.safetensors   # smoke run

Stages (each cached in --work, reused with --reuse vae,latents,diffusion): autoencoder on rendered shapes,
latents of 128x128 training scenes, UNet + CLIP text encoder jointly (eps loss, SD1 schedule, 10% empty
captions for CFG), then one fp16 SD1-layout safetensors file. Seeded: the same command gives the same file
on the same torch build and thread count. Sample grids of held-out prompts go to --work as PNGs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "models" / "checkpoints" / "comfy-core-shapes.safetensors"


def _grid(images, path: Path) -> None:
    import numpy as np
    from PIL import Image

    n = len(images)
    cols = min(8, n)
    rows = (n + cols - 1) // cols
    canvas = np.zeros((rows * 128, cols * 128, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        canvas[(i // cols) * 128 : (i // cols + 1) * 128, (i % cols) * 128 : (i % cols + 1) * 128] = im
    Image.fromarray(canvas).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, default=Path("/tmp/comfy-core-default-model"))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply step/image counts (smoke runs)")
    parser.add_argument(
        "--reuse", default="", help="comma list of cached stages to reuse: vae,latents,diffusion"
    )
    parser.add_argument("--set", action="append", default=[], help="recipe override NAME=VALUE")
    args = parser.parse_args(argv)

    import torch

    from tools.default_model import dataset as ds
    from tools.default_model import export, train
    from tools.default_model.checker import read_image
    from tools.default_model.recipe import Recipe

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    recipe = Recipe()
    for item in args.set:
        name, _, value = item.partition("=")
        current = getattr(recipe, name)
        recipe = recipe.__class__(**{**recipe.__dict__, name: type(current)(value)})
    if args.scale != 1.0:
        recipe = recipe.scaled(args.scale)
    torch.set_num_threads(recipe.threads)
    reuse = {s for s in args.reuse.split(",") if s}
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    def report(msg: str) -> None:
        logging.info(msg)

    start = time.perf_counter()
    report(f"recipe {recipe.to_json()}")
    vae = train.load_vae(work) if "vae" in reuse else train.train_vae(recipe, work, report)
    report(f"autoencoder ready ({time.perf_counter() - start:.0f}s)")
    data = (
        torch.load(work / "latents.pt")
        if "latents" in reuse
        else train.encode_latents(vae, recipe, work, report)
    )

    scenes = ds.quality_scenes()
    prompts = [s.caption() for s in scenes]

    def evaluate(unet, text, step: int) -> None:
        images = train.sample(unet, text, vae, prompts, seed=recipe.seed, steps=20, cfg=6.0)
        _grid(images, work / f"samples_{step:05d}.png")
        wrong: dict[str, int] = {}
        ok = 0
        for im, s in zip(images, scenes, strict=True):
            bad = read_image(im).mismatches(s)
            ok += not bad
            for b in bad:
                key = b.split(":")[0]
                wrong[key] = wrong.get(key, 0) + 1
        report(f"step {step}: held-out agreement {ok}/{len(scenes)}; wrong per attribute {wrong}")

    if "diffusion" in reuse:
        saved = torch.load(work / "diffusion.pt")
        tokens = train.TokenCache()
        text = train.TextModel(recipe, tokens.vocabulary())
        text.load_state_dict(saved["text"])
        unet = train.UNetModel(train.unet_params(recipe.unet_channels, recipe.text_width))
        unet.load_state_dict(saved["unet"])
        final_loss = saved.get("loss")
    else:
        unet, text = train.train_diffusion(recipe, data, work, report, evaluate)
        final_loss = torch.load(work / "diffusion.pt").get("loss")
    evaluate(unet, text, recipe.diffusion_steps)
    seconds = time.perf_counter() - start
    command = "python tools/train_default_model.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    sd = export.checkpoint_state_dict(unet, text.export(), vae)
    digest = export.write_checkpoint(
        sd, args.out, export.metadata(recipe, command.strip(), seconds, final_loss)
    )
    size = args.out.stat().st_size / 2**20
    report(
        f"wrote {args.out} ({size:.1f} MiB, sha256 {digest[:16]}) after {seconds:.0f}s, final loss {final_loss}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
