"""`python main.py run workflows/default.json --set 6.text=...` writes a PNG with the default model, the
with the requested colours; the workflow file is the standard text-to-image graph in UI format."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from tools.default_model.checker import read_image
from tools.default_model.pipeline import cli_command

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "workflows" / "default.json"


def test_workflow_is_the_standard_graph_on_the_default_model() -> None:
    w = json.loads(WORKFLOW.read_text())
    assert w["version"] == 0.4
    nodes = {n["id"]: n for n in w["nodes"]}
    assert nodes[4]["type"] == "CheckpointLoaderSimple"
    assert nodes[4]["widgets_values"] == ["comfy-core-shapes.safetensors"]
    assert nodes[6]["type"] == nodes[7]["type"] == "CLIPTextEncode"
    assert nodes[5]["type"] == "EmptyLatentImage" and nodes[5]["widgets_values"] == [128, 128, 1]
    seed, control, steps, cfg, sampler, scheduler, denoise = nodes[3]["widgets_values"]
    assert nodes[3]["type"] == "KSampler" and control in ("fixed", "randomize", "increment", "decrement")
    assert isinstance(seed, int) and steps > 0 and cfg > 1 and denoise == 1
    assert (sampler, scheduler) == ("euler", "normal")
    assert nodes[8]["type"] == "VAEDecode" and nodes[9]["type"] == "SaveImage"
    # positive text feeds KSampler input 1, negative input 2
    links = {link[0]: link for link in w["links"]}
    sampler_inputs = {i["name"]: links[i["link"]][1] for i in nodes[3]["inputs"]}
    assert sampler_inputs == {"model": 4, "positive": 6, "negative": 7, "latent_image": 5}


def _run(out: Path, text: str) -> Path:
    cmd = cli_command(WORKFLOW, text, out)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 1, done.stdout
    return pngs[0]


def test_cli_writes_a_png_that_follows_the_prompt(tmp_path: Path) -> None:
    first = _run(tmp_path / "a", "a yellow star on a purple background")
    assert Image.open(first).info.get("prompt")  # SaveImage metadata: the API prompt
    image = np.asarray(Image.open(first).convert("RGB"))
    assert image.shape == (128, 128, 3)
    reading = read_image(image)
    assert (reading.colour, reading.background) == ("yellow", "purple"), reading
