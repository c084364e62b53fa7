"""Stable Diffusion workflows through the real server: txt2img, img2img, inpainting (two ways), area
composition and a two-pass hires fix, each on a reduced SD1 checkpoint at 64x64 with 2-3 steps."""

from __future__ import annotations

import io
import json
import struct
import uuid
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.fixtures.sd_env import CKPT
from tests.server.harness import RunningServer, read_until_done

SEED = 123


def base_graph(positive: str = "a lighthouse at dusk", steps: int = 3) -> dict[str, Any]:
    """CheckpointLoaderSimple -> 2x CLIPTextEncode -> EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": positive, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "seed": SEED,
                "steps": steps,
                "cfg": 6.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
                "denoise": 1.0,
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "e2e"}},
    }


def run(server: RunningServer, prompt: dict[str, Any]) -> tuple[list[Any], list[np.ndarray]]:
    """Queue `prompt`, wait for it, return (websocket frames, saved images as uint8 arrays)."""
    client = uuid.uuid4().hex
    ws = server.ws(client)
    try:
        r = server.queue_prompt(prompt, client_id=client)
        assert r["node_errors"] == {}, r
        frames = read_until_done(ws, r["prompt_id"], limit=20000)
    finally:
        ws.close()
    entry = server.get(f"/history/{r['prompt_id']}").json()[r["prompt_id"]]
    errors = [m for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert entry["status"]["status_str"] == "success", errors
    images = []
    for node_output in entry["outputs"].values():
        for ref in node_output.get("images", []):
            view = server.get("/view", params=ref)
            assert view.status_code == 200
            images.append(np.asarray(Image.open(io.BytesIO(view.content)).convert("RGB")))
    return frames, images


def write_input(server: RunningServer, name: str, image: Image.Image) -> None:
    image.save(f"{server.services.paths.get_input_directory()}/{name}")


def test_txt2img_matches_direct_node_calls_and_streams_progress(sd_server: RunningServer) -> None:
    frames, images = run(sd_server, base_graph())
    assert len(images) == 1 and images[0].shape == (64, 64, 3)
    progress = [f["data"] for f in frames if isinstance(f, dict) and f["type"] == "progress"]
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(1, 3, "5"), (2, 3, "5"), (3, 3, "5")]
    previews = [f for f in frames if isinstance(f, bytes)]
    assert len(previews) == 3 and struct.unpack(">II", previews[0][:8]) == (1, 1)  # type 1, JPEG
    assert Image.open(io.BytesIO(previews[0][8:])).size == (
        64,
        64,
    )  # 8x8 latent2rgb, fitted to --preview-size

    from nodes.conditioning import CLIPTextEncode
    from nodes.latent import EmptyLatentImage, VAEDecode
    from nodes.loaders import CheckpointLoaderSimple
    from nodes.sampling import KSampler

    model, clip, vae = CheckpointLoaderSimple().load_checkpoint(CKPT)
    pos = CLIPTextEncode().encode(clip, "a lighthouse at dusk")[0]
    neg = CLIPTextEncode().encode(clip, "blurry")[0]
    latent = EmptyLatentImage().generate(64, 64, 1)[0]
    samples = KSampler().sample(model, SEED, 3, 6.0, "euler", "normal", pos, neg, latent)[0]
    direct = VAEDecode().decode(vae, samples)[0][0]
    expected = np.clip(255.0 * direct.numpy(), 0, 255).astype(np.uint8)
    assert np.array_equal(images[0], expected)


def test_img2img(sd_server: RunningServer) -> None:
    gradient = np.linspace(0, 255, 64, dtype=np.uint8)
    source = np.stack([np.tile(gradient, (64, 1))] * 3, axis=-1)
    write_input(sd_server, "gradient.png", Image.fromarray(source))
    prompt = base_graph()
    prompt["8"] = {"class_type": "LoadImage", "inputs": {"image": "gradient.png"}}
    prompt["9"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["1", 2]}}
    prompt["5"]["inputs"].update(latent_image=["9", 0], denoise=0.6)
    _, images = run(sd_server, prompt)
    assert images[0].shape == (64, 64, 3)
    _, full = run(sd_server, base_graph())
    assert not np.array_equal(images[0], full[0])


def _masked_source(server: RunningServer) -> None:
    rng = np.random.default_rng(0)
    rgba = np.concatenate([rng.integers(0, 256, (64, 64, 3)), np.full((64, 64, 1), 255)], axis=-1).astype(
        np.uint8
    )
    rgba[16:48, 16:48, 3] = 0  # transparent square = the area to inpaint (mask = 1 - alpha)
    write_input(server, "hole.png", Image.fromarray(rgba, "RGBA"))


@pytest.mark.parametrize("how", ["VAEEncodeForInpaint", "SetLatentNoiseMask"])
def test_inpaint(sd_server: RunningServer, how: str) -> None:
    _masked_source(sd_server)
    prompt = base_graph(steps=2)
    prompt["8"] = {"class_type": "LoadImage", "inputs": {"image": "hole.png"}}
    if how == "VAEEncodeForInpaint":
        prompt["9"] = {
            "class_type": "VAEEncodeForInpaint",
            "inputs": {"pixels": ["8", 0], "vae": ["1", 2], "mask": ["8", 1], "grow_mask_by": 6},
        }
    else:
        prompt["10"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["1", 2]}}
        prompt["9"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["10", 0], "mask": ["8", 1]}}
    prompt["5"]["inputs"]["latent_image"] = ["9", 0]
    _, images = run(sd_server, prompt)
    assert images[0].shape == (64, 64, 3)


def test_noise_mask_keeps_the_unmasked_latent(sd_server: RunningServer) -> None:
    """With SetLatentNoiseMask the sampled latent equals the source latent outside the mask."""
    from nodes.conditioning import CLIPTextEncode
    from nodes.latent import SetLatentNoiseMask
    from nodes.loaders import CheckpointLoaderSimple
    from nodes.sampling import KSampler

    model, clip, _ = CheckpointLoaderSimple().load_checkpoint(CKPT)
    pos = CLIPTextEncode().encode(clip, "x")[0]
    source = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))}
    mask = torch.zeros(64, 64)
    mask[16:48, 16:48] = 1.0
    (masked,) = SetLatentNoiseMask().set_mask(source, mask)
    out = KSampler().sample(model, 5, 2, 4.0, "euler", "normal", pos, pos, masked)[0]["samples"]
    assert torch.allclose(out[..., 0, :], source["samples"][..., 0, :], atol=1e-4)
    assert not torch.allclose(out[..., 4, 4], source["samples"][..., 4, 4], atol=1e-2)


def test_area_composition(sd_server: RunningServer) -> None:
    prompt = base_graph(steps=2)
    prompt["8"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a red sun", "clip": ["1", 1]}}
    prompt["9"] = {
        "class_type": "ConditioningSetArea",
        "inputs": {"conditioning": ["8", 0], "width": 64, "height": 64, "x": 0, "y": 0, "strength": 1.0},
    }
    prompt["10"] = {
        "class_type": "ConditioningSetArea",
        "inputs": {"conditioning": ["2", 0], "width": 64, "height": 64, "x": 0, "y": 0, "strength": 0.8},
    }
    prompt["11"] = {
        "class_type": "ConditioningCombine",
        "inputs": {"conditioning_1": ["9", 0], "conditioning_2": ["10", 0]},
    }
    prompt["5"]["inputs"]["positive"] = ["11", 0]
    _, images = run(sd_server, prompt)
    _, plain = run(sd_server, base_graph(steps=2))
    assert images[0].shape == (64, 64, 3) and not np.array_equal(images[0], plain[0])


def test_hires_fix_two_pass(sd_server: RunningServer) -> None:
    prompt = base_graph(steps=2)
    prompt["5"]["inputs"]["seed"] = SEED + 2  # not cached from an earlier test
    prompt["8"] = {
        "class_type": "LatentUpscale",
        "inputs": {
            "samples": ["5", 0],
            "upscale_method": "bilinear",
            "width": 128,
            "height": 128,
            "crop": "disabled",
        },
    }
    second = json.loads(json.dumps(prompt["5"]))
    second["inputs"].update(latent_image=["8", 0], denoise=0.5, seed=SEED + 3)
    prompt["9"] = second
    prompt["6"]["inputs"]["samples"] = ["9", 0]
    frames, images = run(sd_server, prompt)
    assert images[0].shape == (128, 128, 3)
    progress = [f["data"] for f in frames if isinstance(f, dict) and f["type"] == "progress"]
    # denoise 0.5 of 2 steps: 2 of 4 scheduled steps are run on the upscaled latent
    assert [(p["node"], p["max"]) for p in progress] == [("5", 2), ("5", 2), ("9", 2), ("9", 2)]
