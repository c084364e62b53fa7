"""Numeric behaviour of the mask nodes."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from comfy_core import runtime
from comfy_core.paths import Paths
from nodes.mask import (
    CropMask,
    FeatherMask,
    GrowMask,
    ImageColorToMask,
    ImageCompositeMasked,
    ImageToMask,
    InvertMask,
    MaskComposite,
    MaskPreview,
    MaskToImage,
    SolidMask,
    ThresholdMask,
)


def test_solid_invert_threshold() -> None:
    (m,) = SolidMask().solid(0.25, 3, 2)
    assert m.shape == (1, 2, 3) and m.dtype == torch.float32 and torch.all(m == 0.25)
    assert torch.all(InvertMask().invert(m)[0] == 0.75)
    x = torch.tensor([[0.2, 0.5, 0.51, 0.9]])
    assert ThresholdMask().image_to_mask(x, 0.5)[0].tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_mask_image_conversions() -> None:
    mask = torch.rand(2, 3, 4)
    (image,) = MaskToImage().mask_to_image(mask)
    assert image.shape == (2, 3, 4, 3) and torch.equal(image[..., 1], mask)
    assert MaskToImage().mask_to_image(mask[0])[0].shape == (1, 3, 4, 3)
    rgba = torch.rand(2, 3, 4, 4)
    for i, ch in enumerate(["red", "green", "blue", "alpha"]):
        assert torch.equal(ImageToMask().image_to_mask(rgba, ch)[0], rgba[..., i])
    img = torch.zeros(1, 1, 3, 3)
    img[0, 0, 1] = torch.tensor([1.0, 128 / 255, 0.0])
    (m,) = ImageColorToMask().image_to_mask(img, 0xFF8000)
    assert m.tolist() == [[[0.0, 1.0, 0.0]]]


def test_crop_mask() -> None:
    m = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    (c,) = CropMask().crop(m, 1, 2, 3, 5)
    assert c.shape == (1, 2, 3) and torch.equal(c[0], m[2:4, 1:4])


def test_mask_composite_ops() -> None:
    dest = torch.full((1, 3, 3), 0.6)
    src = torch.tensor([[0.5, 1.0], [0.0, 0.4]])
    cases = {
        "multiply": [[0.3, 0.6], [0.0, 0.24]],
        "add": [[1.0, 1.0], [0.6, 1.0]],
        "subtract": [[0.1, 0.0], [0.6, 0.2]],
        # logic ops round first: 0.6 -> 1, 0.5 -> 0 (half to even), 0.4 -> 0
        "and": [[0.0, 1.0], [0.0, 0.0]],
        "or": [[1.0, 1.0], [1.0, 1.0]],
        "xor": [[1.0, 0.0], [1.0, 1.0]],
    }
    for op, expected in cases.items():
        (out,) = MaskComposite().combine(dest, src, 1, 1, op)
        assert out.shape == (1, 3, 3)
        assert torch.allclose(out[0, 1:, 1:], torch.tensor(expected), atol=1e-6), op
        assert torch.all(out[0, 0] == 0.6) and torch.all(out[0, :, 0] == 0.6)
    # source larger than the space left: clipped
    (out,) = MaskComposite().combine(dest, torch.ones(5, 5), 2, 2, "multiply")
    assert torch.allclose(out, dest)


def test_feather_mask_ramps() -> None:
    m = torch.ones(1, 4, 6)
    (left,) = FeatherMask().feather(m, 3, 0, 0, 0)
    assert torch.allclose(left[0, 0], torch.tensor([1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0]))
    (right,) = FeatherMask().feather(m, 0, 0, 2, 0)
    # ComfyUI indexes the right ramp from -0: column 0 gets 1/2, the last column 2/2
    assert torch.allclose(right[0, 0], torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0, 1.0]))
    (top,) = FeatherMask().feather(m, 0, 2, 0, 0)
    assert torch.allclose(top[0, :, 0], torch.tensor([0.5, 1.0, 1.0, 1.0]))
    (clamped,) = FeatherMask().feather(m, 100, 0, 0, 0)
    assert torch.allclose(clamped[0, 0], torch.arange(1, 7) / 6)
    assert torch.equal(m, torch.ones(1, 4, 6))  # input untouched


def test_grow_mask_shapes() -> None:
    m = torch.zeros(1, 5, 5)
    m[0, 2, 2] = 1.0
    (cross,) = GrowMask().expand_mask(m, 1, True)
    assert cross[0].tolist()[1:4] == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    (square,) = GrowMask().expand_mask(m, 1, False)
    assert square[0, 1:4, 1:4].eq(1).all() and square.sum() == 9
    (shrunk,) = GrowMask().expand_mask(square, -1, False)
    assert torch.equal(shrunk, m)
    edge = torch.ones(1, 3, 3)
    assert torch.equal(GrowMask().expand_mask(edge, -1, True)[0], torch.ones(1, 3, 3))  # borders ignored
    assert torch.equal(GrowMask().expand_mask(m, 0, True)[0], m)


def test_grow_mask_matches_scipy() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    import numpy as np

    m = torch.rand(2, 7, 9, generator=torch.Generator().manual_seed(4))
    for tapered in (True, False):
        c = 0 if tapered else 1
        kernel = np.array([[c, 1, c], [1, 1, 1], [c, 1, c]])
        for expand in (2, -2):
            (ours,) = GrowMask().expand_mask(m, expand, tapered)
            for b in range(2):
                ref = m[b].numpy()
                for _ in range(abs(expand)):
                    op = ndimage.grey_dilation if expand > 0 else ndimage.grey_erosion
                    ref = op(ref, footprint=kernel)
                assert np.array_equal(ours[b].numpy(), ref), (tapered, expand)


def test_image_composite_masked() -> None:
    dest = torch.zeros(1, 4, 4, 3)
    src = torch.ones(1, 2, 2, 3)
    (out,) = ImageCompositeMasked().composite(dest, src, 1, 2, False)
    assert out[0, 2:4, 1:3].eq(1).all() and out.sum() == 12
    assert dest.sum() == 0  # destination not modified
    mask = torch.tensor([[1.0, 0.0], [0.5, 0.0]])
    (out,) = ImageCompositeMasked().composite(dest, src, 0, 0, False, mask)
    assert torch.allclose(out[0, :2, :2, 0], mask)
    (out,) = ImageCompositeMasked().composite(dest, src * 0.5, 0, 0, True)
    assert torch.allclose(out, torch.full((1, 4, 4, 3), 0.5))  # resized source covers everything
    # RGBA destination, RGB source: source gains an opaque alpha
    (out,) = ImageCompositeMasked().composite(torch.zeros(1, 2, 2, 4), torch.ones(1, 2, 2, 3), 0, 0, False)
    assert out.shape == (1, 2, 2, 4) and torch.all(out == 1)
    # batch: a single source is repeated over the destination batch
    (out,) = ImageCompositeMasked().composite(torch.zeros(3, 2, 2, 3), torch.ones(1, 1, 1, 3), 1, 1, False)
    assert out[:, 1, 1].eq(1).all() and out.sum() == 9


def test_mask_preview_writes_temp_png(tmp_path) -> None:
    runtime.install(runtime.Services(paths=Paths(tmp_path), config=SimpleNamespace(disable_metadata=None)))
    try:
        clone = MaskPreview.PREPARE_CLASS_CLONE({"prompt": {"a": 1}})
        out = getattr(clone, clone.FUNCTION)(mask=torch.tensor([[[1.0, 0.5]]]))
    finally:
        runtime.uninstall()
    (entry,) = out["ui"]["images"]
    assert out["ui"]["animated"] == (False,)
    assert entry["type"] == "temp" and re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", entry["filename"])
    assert os.path.isfile(tmp_path / "temp" / entry["filename"])
    with Image.open(tmp_path / "temp" / entry["filename"]) as im:
        assert im.mode == "RGB" and np.array(im).tolist() == [[[255, 255, 255], [127, 127, 127]]]
        assert "prompt" not in im.info  # ComfyUI's V3 preview helper gets no class: no workflow metadata
