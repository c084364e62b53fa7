"""SaveImage / PreviewImage / LoadImage / LoadImageMask / animated savers, through real files."""

from __future__ import annotations

import json
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from comfy_core import runtime
from comfy_core.io.metadata import read_image_text, read_workflow_metadata
from comfy_core.io.png import iter_chunks, read_png_text_file
from comfy_core.paths import Paths
from nodes.animation import SaveAnimatedPNG, SaveAnimatedWEBP
from nodes.image_io import LoadImage, LoadImageMask, LoadImageOutput, PreviewImage, SaveImage

PROMPT = {"1": {"class_type": "EmptyImage", "inputs": {"width": 4}}}
EXTRA = {"workflow": {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": []}, "other": [1, "é"]}


@pytest.fixture
def services(tmp_path):
    paths = Paths(tmp_path)
    paths.ensure_input_directory()
    svc = runtime.install(runtime.Services(paths=paths, config=SimpleNamespace(disable_metadata=False)))
    yield svc
    runtime.uninstall()


def run_v3(cls: type, hidden: dict | None = None, **inputs):
    """Call a V3 node the way the executor does: a class clone bound to the hidden values, V1 result."""
    clone = cls.PREPARE_CLASS_CLONE(hidden or {})
    return getattr(clone, clone.FUNCTION)(**inputs)


def ramp_image(b: int = 2, h: int = 3, w: int = 5) -> torch.Tensor:
    return torch.linspace(0, 1, b * h * w * 3).reshape(b, h, w, 3)


def test_save_image_round_trip(services) -> None:
    images = ramp_image()
    out = SaveImage().save_images(images, "run/ComfyUI", prompt=PROMPT, extra_pnginfo=EXTRA)
    assert out == {
        "ui": {
            "images": [
                {"filename": "ComfyUI_00001_.png", "subfolder": "run", "type": "output"},
                {"filename": "ComfyUI_00002_.png", "subfolder": "run", "type": "output"},
            ]
        }
    }
    path = os.path.join(services.paths.get_output_directory(), "run", "ComfyUI_00001_.png")
    # pixels: 255*x clipped then truncated to uint8
    expected = np.clip(255.0 * images[0].numpy(), 0, 255).astype(np.uint8)
    assert np.array_equal(np.array(Image.open(path)), expected)
    # metadata: one tEXt chunk per key, JSON values
    chunks = [c for c, _ in iter_chunks(open(path, "rb").read())]
    assert chunks.count(b"tEXt") == 3
    text = read_png_text_file(path)
    assert json.loads(text["prompt"]) == PROMPT
    assert json.loads(text["workflow"]) == EXTRA["workflow"]
    assert json.loads(text["other"]) == EXTRA["other"]
    assert read_workflow_metadata(path) == {"prompt": PROMPT, "workflow": EXTRA["workflow"]}
    # the counter continues from the highest existing file
    again = SaveImage().save_images(images[:1], "run/ComfyUI")
    assert again["ui"]["images"][0]["filename"] == "ComfyUI_00003_.png"


def test_save_image_batch_num_and_no_metadata(services) -> None:
    services.config.disable_metadata = True
    out = SaveImage().save_images(ramp_image(), "b%batch_num%", prompt=PROMPT, extra_pnginfo=EXTRA)
    names = [r["filename"] for r in out["ui"]["images"]]
    assert names == ["b0_00001_.png", "b1_00002_.png"]
    path = os.path.join(services.paths.get_output_directory(), names[0])
    assert read_png_text_file(path) == {}


def test_save_image_refuses_escape(services) -> None:
    with pytest.raises(ValueError):
        SaveImage().save_images(ramp_image(1), "../../escape")


def test_preview_image_goes_to_temp(services) -> None:
    out = PreviewImage().save_images(ramp_image(1), prompt=PROMPT)
    (entry,) = out["ui"]["images"]
    assert entry["type"] == "temp" and entry["subfolder"] == ""
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", entry["filename"])
    path = os.path.join(services.paths.get_temp_directory(), entry["filename"])
    assert json.loads(read_png_text_file(path)["prompt"]) == PROMPT
    assert PreviewImage.INPUT_TYPES()["required"] == {"images": ("IMAGE",)}


def _write_rgba(path: str) -> np.ndarray:
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 1] = np.arange(6, dtype=np.uint8)[None, :] * 40
    rgba[..., 2] = 7
    rgba[..., 3] = np.array([0, 51, 102, 153, 204, 255], dtype=np.uint8)[None, :]
    Image.fromarray(rgba, "RGBA").save(path)
    return rgba


def test_load_image_mask_from_alpha(services) -> None:
    inp = services.paths.get_input_directory()
    rgba = _write_rgba(os.path.join(inp, "a.png"))
    Image.new("RGB", (3, 2), (255, 0, 0)).save(os.path.join(inp, "rgb.jpg"))
    open(os.path.join(inp, "notes.txt"), "w").close()
    os.makedirs(os.path.join(inp, "sub"))
    assert LoadImage.INPUT_TYPES() == {"required": {"image": (["a.png", "rgb.jpg"], {"image_upload": True})}}
    assert LoadImageMask.INPUT_TYPES()["required"]["image"][0] == ["a.png", "notes.txt", "rgb.jpg"]

    image, mask = LoadImage().load_image("a.png")
    assert image.shape == (1, 4, 6, 3) and image.dtype == torch.float32
    assert torch.allclose(image[0, 0, :, 1], torch.arange(6) * 40 / 255.0)
    assert mask.shape == (1, 4, 6)
    assert torch.allclose(mask[0, 0], 1.0 - torch.tensor([0, 51, 102, 153, 204, 255]) / 255.0)

    image, mask = LoadImage().load_image("rgb.jpg")
    assert image.shape == (1, 2, 3, 3)
    assert torch.equal(mask, torch.zeros(1, 64, 64))

    (red,) = LoadImageMask().load_image("a.png", "red")
    assert red.shape == (1, 4, 6) and torch.allclose(red, torch.full((1, 4, 6), 200 / 255.0))
    (alpha,) = LoadImageMask().load_image("a.png", "alpha")
    assert torch.allclose(alpha[0, 0], torch.from_numpy(1.0 - rgba[0, :, 3] / 255.0).float())
    (alpha_rgb,) = LoadImageMask().load_image("rgb.jpg", "alpha")
    assert torch.equal(alpha_rgb, torch.zeros(1, 2, 3))  # converted to RGBA: opaque -> 1 - 1 = 0


def test_load_image_validation_hash_and_annotations(services) -> None:
    inp, out = services.paths.get_input_directory(), services.paths.get_output_directory()
    _write_rgba(os.path.join(inp, "a.png"))
    os.makedirs(os.path.join(inp, "sub"))
    _write_rgba(os.path.join(inp, "sub", "b.png"))
    os.makedirs(out)
    Image.new("RGB", (2, 2), (0, 0, 255)).save(os.path.join(out, "o.png"))
    assert LoadImage.VALIDATE_INPUTS("a.png") is True
    assert LoadImage.VALIDATE_INPUTS("sub/b.png") is True
    assert LoadImage.VALIDATE_INPUTS("o.png [output]") is True
    assert LoadImage.VALIDATE_INPUTS("missing.png") == "Invalid image file: missing.png"
    assert LoadImage.VALIDATE_INPUTS("../../etc/passwd") == "Invalid image file: ../../etc/passwd"
    assert LoadImageMask.VALIDATE_INPUTS("a.png") is True
    image, _ = LoadImageOutput().load_image("o.png [output]")
    assert torch.equal(image[0, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    h1 = LoadImage.IS_CHANGED("a.png")
    assert re.fullmatch(r"[0-9a-f]{64}", h1) and LoadImage.IS_CHANGED("a.png") == h1
    Image.new("RGB", (1, 1)).save(os.path.join(inp, "a.png"))
    assert LoadImage.IS_CHANGED("a.png") != h1
    assert LoadImageMask.IS_CHANGED("a.png", "red") == LoadImage.IS_CHANGED("a.png")
    with pytest.raises(ValueError):
        LoadImage().load_image("../outside.png")


def test_load_image_symlink_escape_refused(services, tmp_path) -> None:
    outside = tmp_path / "secret.png"
    Image.new("RGB", (1, 1)).save(outside)
    os.symlink(outside, os.path.join(services.paths.get_input_directory(), "link.png"))
    assert LoadImage.VALIDATE_INPUTS("link.png") == "Invalid image file: link.png"
    with pytest.raises(ValueError, match="outside"):
        LoadImage().load_image("link.png")


def test_load_multiframe_and_exif_transpose(services) -> None:
    inp = services.paths.get_input_directory()
    frames = [Image.new("RGB", (4, 2), (v, v, v)) for v in (0, 128, 255)]
    frames[0].save(os.path.join(inp, "anim.gif"), save_all=True, append_images=frames[1:], duration=100)
    image, mask = LoadImage().load_image("anim.gif")
    assert image.shape == (3, 2, 4, 3) and mask.shape[0] == 3
    assert torch.allclose(image[:, 0, 0, 0], torch.tensor([0.0, 128 / 255, 1.0]), atol=1e-6)

    rotated = Image.new("RGB", (4, 2), (10, 20, 30))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 CW on display
    rotated.save(os.path.join(inp, "rot.jpg"), exif=exif)
    image, _ = LoadImage().load_image("rot.jpg")
    assert image.shape == (1, 4, 2, 3)


def test_save_animated_png_comf_chunks(services) -> None:
    images = ramp_image(3, 4, 4)
    out = run_v3(
        SaveAnimatedPNG,
        {"prompt": PROMPT, "extra_pnginfo": EXTRA},
        images=images,
        fps=10.0,
        compress_level=4,
        filename_prefix="anim/a",
    )
    assert out == {
        "ui": {
            "images": [{"filename": "a_00001_.png", "subfolder": "anim", "type": "output"}],
            "animated": (True,),
        }
    }
    path = os.path.join(services.paths.get_output_directory(), "anim", "a_00001_.png")
    data = open(path, "rb").read()
    kinds = [c for c, _ in iter_chunks(data)]
    assert kinds.count(b"comf") == 3 and kinds.index(b"comf") > kinds.index(b"IDAT")
    assert b"acTL" in kinds and b"tEXt" not in kinds
    assert read_workflow_metadata(path) == {"prompt": PROMPT, "workflow": EXTRA["workflow"]}
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.info.get("duration") == 100
    second = run_v3(SaveAnimatedPNG, images=images[:1], fps=6.0, compress_level=1, filename_prefix="anim/a")
    assert second["ui"] == {"images": [{"filename": "a_00002_.png", "subfolder": "anim", "type": "output"}]}


def test_save_animated_webp_exif(services) -> None:
    images = ramp_image(2, 8, 8)
    out = run_v3(
        SaveAnimatedWEBP,
        {"prompt": PROMPT, "extra_pnginfo": EXTRA},
        images=images,
        fps=4.0,
        filename_prefix="w",
        lossless=True,
        quality=80,
        method="fastest",
    )
    entry = out["ui"]["images"][0]
    assert entry == {"filename": "w_00001_.webp", "subfolder": "", "type": "output"}
    path = os.path.join(services.paths.get_output_directory(), entry["filename"])
    with Image.open(path) as im:
        assert im.n_frames == 2
        exif = im.getexif()
        assert exif[0x0110] == "prompt:" + json.dumps(PROMPT)
        assert exif[0x010F] == "workflow:" + json.dumps(EXTRA["workflow"])
        assert exif[0x010E] == "other:" + json.dumps(EXTRA["other"])
        im.seek(0)
        first = np.array(im.convert("RGB"))
    # lossless: pixels survive exactly
    assert np.array_equal(first, np.clip(255.0 * images[0].numpy(), 0, 255).astype(np.uint8))
    assert read_workflow_metadata(path) == {"prompt": PROMPT, "workflow": EXTRA["workflow"]}
    assert set(read_image_text(path)) == {"prompt", "workflow", "other"}
