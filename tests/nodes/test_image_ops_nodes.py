"""Numeric behaviour of the image transform nodes and comfy_core.imageops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from comfy_core.imageops import (
    bislerp,
    center_crop_to_aspect,
    common_upscale,
    composite,
    repeat_to_batch_size,
)
from nodes.image import (
    EmptyImage,
    ImageBatch,
    ImageBlend,
    ImageCrop,
    ImageFlip,
    ImageFromBatch,
    ImageInvert,
    ImagePadForOutpaint,
    ImageRotate,
    ImageScale,
    ImageScaleBy,
    ImageScaleToTotalPixels,
    RebatchImages,
    RepeatImageBatch,
)


def img(b: int = 1, h: int = 4, w: int = 6, c: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand((b, h, w, c), generator=torch.Generator().manual_seed(seed))


def test_common_upscale_torch_modes_match_interpolate() -> None:
    x = img().movedim(-1, 1)
    for mode in ("nearest-exact", "bilinear", "area", "bicubic"):
        out = common_upscale(x, 9, 5, mode, "disabled")
        assert out.shape == (1, 3, 5, 9)
        assert torch.equal(out, F.interpolate(x, size=(5, 9), mode=mode))


def test_center_crop() -> None:
    x = torch.arange(4 * 8, dtype=torch.float32).reshape(1, 1, 4, 8)
    cropped = center_crop_to_aspect(x, 4, 4)  # 8 wide -> trim 2 columns each side
    assert cropped.shape == (1, 1, 4, 4) and torch.equal(cropped, x[..., 2:6])
    tall = center_crop_to_aspect(x.transpose(-1, -2), 4, 4)
    assert torch.equal(tall, x.transpose(-1, -2)[..., 2:6, :])
    out = common_upscale(x, 2, 2, "area", "center")
    assert torch.allclose(out, F.interpolate(x[..., 2:6], size=(2, 2), mode="area"))


def test_common_upscale_video_layout() -> None:
    x = torch.rand(2, 4, 3, 6, 8)  # [B,C,T,H,W]
    out = common_upscale(x, 4, 3, "bilinear", "disabled")
    assert out.shape == (2, 4, 3, 3, 4)
    frame = F.interpolate(x[:, :, 1], size=(3, 4), mode="bilinear")
    assert torch.allclose(out[:, :, 1], frame)


def test_bislerp_properties() -> None:
    constant = torch.full((1, 4, 3, 5), 0.7)
    assert torch.allclose(bislerp(constant, 10, 6), torch.full((1, 4, 6, 10), 0.7), atol=1e-6)
    x = torch.rand(1, 4, 3, 5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(bislerp(x, 5, 3), x, atol=1e-5)  # same size: identity
    # doubling: a point between two pixels keeps the interpolated norm (magnitude lerp)
    two = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)  # vectors (1,0) and (0,1)
    out = bislerp(two, 4, 1)
    mid = out[0, :, 0, 1]  # position 0.25 between the two
    assert torch.allclose(mid.norm(), torch.tensor(1.0), atol=1e-5)
    angle = torch.atan2(mid[1], mid[0])
    assert torch.allclose(angle, torch.tensor(np.pi / 2 * 0.25, dtype=torch.float32), atol=1e-5)
    # against a per-pixel reference: W pass then H pass, each a slerp between bilinear neighbours
    y = bislerp(x, 7, 4)
    assert y.shape == (1, 4, 4, 7) and not torch.isnan(y).any()
    assert torch.allclose(y, _bislerp_reference(x, 7, 4), atol=1e-5)


def _slerp_ref(a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua = a / na if na else np.zeros_like(a)
    ub = b / nb if nb else np.zeros_like(b)
    dot = float(ua @ ub)
    if dot > 1 - 1e-5:
        return a
    if dot < 1e-5 - 1:
        return a * (1 - r) + b * r
    om = np.arccos(dot)
    out = np.sin((1 - r) * om) / np.sin(om) * ua + np.sin(r * om) / np.sin(om) * ub
    return out * (na * (1 - r) + nb * r)


def _neighbours(n_in: int, n_out: int, i: int) -> tuple[int, int, float]:
    src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
    left = min(int(src), n_in - 1)
    return left, min(left + 1, n_in - 1), src - left


def _bislerp_reference(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    a = x[0].double().numpy()  # [C,H,W]
    c, h, w = a.shape
    mid = np.zeros((c, h, width))
    for yy in range(h):
        for i in range(width):
            lft, rgt, r = _neighbours(w, width, i)
            mid[:, yy, i] = _slerp_ref(a[:, yy, lft], a[:, yy, rgt], r)
    out = np.zeros((c, height, width))
    for j in range(height):
        top, bot, r = _neighbours(h, height, j)
        for i in range(width):
            out[:, j, i] = _slerp_ref(mid[:, top, i], mid[:, bot, i], r)
    return torch.from_numpy(out).float()[None]


def test_lanczos_matches_pil() -> None:
    x = img(h=5, w=7, seed=3)
    out = ImageScale().upscale(x, "lanczos", 14, 10, "disabled")[0]
    pil = Image.fromarray(np.clip(255.0 * x[0].numpy(), 0, 255).astype(np.uint8))
    ref = np.array(pil.resize((14, 10), resample=Image.Resampling.LANCZOS)).astype(np.float32) / 255.0
    assert out.shape == (1, 10, 14, 3) and np.array_equal(out[0].numpy(), ref)


def test_image_scale_zero_side_keeps_aspect() -> None:
    x = img(h=4, w=6)
    assert ImageScale().upscale(x, "bilinear", 0, 0, "disabled")[0] is x
    assert ImageScale().upscale(x, "bilinear", 12, 0, "disabled")[0].shape == (1, 8, 12, 3)
    assert ImageScale().upscale(x, "nearest-exact", 0, 2, "disabled")[0].shape == (1, 2, 3, 3)
    out = ImageScale().upscale(x, "nearest-exact", 3, 2, "center")[0]
    assert torch.equal(out, F.interpolate(x.movedim(-1, 1), size=(2, 3), mode="nearest-exact").movedim(1, -1))


def test_image_scale_by_and_total_pixels() -> None:
    x = img(h=4, w=6)
    assert ImageScaleBy().upscale(x, "bicubic", 1.5)[0].shape == (1, 6, 9, 3)
    assert ImageScaleBy().upscale(x, "area", 0.5)[0].shape == (1, 2, 3, 3)
    big = img(h=64, w=128)
    out = ImageScaleToTotalPixels().upscale(big, "bilinear", 0.01, 8)[0]
    # sqrt(0.01*1048576 / 8192) = 1.1314 -> 144.8x72.4 -> rounded to multiples of 8
    assert out.shape == (1, 72, 144, 3)


def test_invert_batch_empty() -> None:
    x = img()
    assert torch.allclose(ImageInvert().invert(x)[0], 1 - x)
    rgba = torch.rand(1, 4, 6, 4)
    other = img(2, 8, 12)
    (b,) = ImageBatch().batch(rgba, other)
    assert b.shape == (3, 4, 6, 4)
    assert torch.equal(b[1:, ..., 3], torch.ones(2, 4, 6))  # RGB gets opaque alpha
    resized = F.interpolate(other.movedim(-1, 1), size=(4, 6), mode="bilinear").movedim(1, -1)
    assert torch.allclose(b[1:, ..., :3], resized)
    (e,) = EmptyImage().generate(3, 2, 2, 0xFF8000)
    assert e.shape == (2, 2, 3, 3)
    assert torch.allclose(e[0, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]))


def _outpaint_reference(h, w, top, bottom, left, right, f):
    t = torch.zeros((h, w), dtype=torch.float32)
    if f > 0 and f * 2 < h and f * 2 < w:
        for i in range(h):
            for j in range(w):
                d = min(i if top else h, h - i if bottom else h, j if left else w, w - j if right else w)
                if d < f:
                    v = (f - d) / f
                    t[i, j] = v * v
    return t


@pytest.mark.parametrize("pads", [(8, 0, 8, 0), (0, 16, 0, 8), (8, 8, 8, 8)])
def test_pad_for_outpaint(pads) -> None:
    left, top, right, bottom = pads
    x = img(2, 12, 10)
    out, mask = ImagePadForOutpaint().expand_image(x, left, top, right, bottom, 4)
    assert out.shape == (2, 12 + top + bottom, 10 + left + right, 3)
    assert mask.shape == (1, 12 + top + bottom, 10 + left + right)
    assert torch.equal(out[:, top : top + 12, left : left + 10], x)
    if top:
        assert torch.all(out[:, 0] == 0.5) and torch.all(mask[0, 0] == 1.0)
    ref = _outpaint_reference(12, 10, top, bottom, left, right, 4)
    assert torch.equal(mask[0, top : top + 12, left : left + 10], ref)
    _, no_feather = ImagePadForOutpaint().expand_image(x, left, top, right, bottom, 6)  # 2*6 >= 10
    assert torch.equal(no_feather[0, top : top + 12, left : left + 10], torch.zeros(12, 10))


def test_crop_repeat_frombatch_flip_rotate() -> None:
    x = img(3, 4, 6)
    assert torch.equal(ImageCrop().crop(x, 2, 3, 1, 1)[0], x[:, 1:4, 1:3])
    assert ImageCrop().crop(x, 10, 10, 50, 50)[0].shape == (3, 1, 1, 3)  # start clamped to the last pixel
    assert torch.equal(RepeatImageBatch().repeat(x[:1], 3)[0], x[:1].repeat(3, 1, 1, 1))
    assert torch.equal(ImageFromBatch().frombatch(x, 1, 5)[0], x[1:])
    assert torch.equal(ImageFromBatch().frombatch(x, 9, 1)[0], x[2:])
    assert torch.equal(ImageFlip().flip(x, "x-axis: vertically")[0], x.flip(1))
    assert torch.equal(ImageFlip().flip(x, "y-axis: horizontally")[0], x.flip(2))
    r90 = ImageRotate().rotate(x, "90 degrees")[0]
    assert r90.shape == (3, 6, 4, 3)
    assert torch.equal(r90[:, 0, -1], x[:, 0, 0])  # top-left moves to top-right (clockwise)
    assert torch.equal(ImageRotate().rotate(x, "180 degrees")[0], x.flip(1).flip(2))
    assert ImageRotate().rotate(x, "none")[0] is x


def test_blend_modes() -> None:
    a = torch.tensor([0.2, 0.6]).reshape(1, 1, 2, 1).expand(1, 1, 2, 3)
    b = torch.tensor([0.4, 0.3]).reshape(1, 1, 2, 1).expand(1, 1, 2, 3)
    blend = ImageBlend().blend_images
    cases = {
        "normal": [0.4, 0.3],
        "multiply": [0.08, 0.18],
        "screen": [1 - 0.8 * 0.6, 1 - 0.4 * 0.7],
        "overlay": [2 * 0.2 * 0.4, 1 - 2 * 0.4 * 0.7],
        "soft_light": [0.2 - 0.2 * 0.2 * 0.8, 0.6 - 0.4 * 0.6 * 0.4],
        "difference": [0.0, 0.3],  # -0.2 clamps to 0
    }
    for mode, values in cases.items():
        out = blend(a, b, 1.0, mode)[0]
        assert torch.allclose(out[0, 0, :, 0], torch.tensor(values), atol=1e-6), mode
    half = blend(a, b, 0.5, "multiply")[0]
    assert torch.allclose(half[0, 0, :, 0], torch.tensor([0.5 * 0.2 + 0.5 * 0.08, 0.5 * 0.6 + 0.5 * 0.18]))
    # soft light above 0.5 uses g(): sqrt branch for x>0.25, cubic for x<=0.25
    hi = torch.full((1, 1, 1, 3), 0.8)
    lo = torch.full((1, 1, 1, 3), 0.16)
    out = blend(lo, hi, 1.0, "soft_light")[0]
    g = ((16 * 0.16 - 12) * 0.16 + 4) * 0.16
    assert torch.allclose(out, torch.full_like(out, 0.16 + 0.6 * (g - 0.16)))
    # size mismatch: image2 is resized (bicubic, center crop) to image1
    assert blend(img(1, 4, 6), img(1, 8, 8), 0.5, "normal")[0].shape == (1, 4, 6, 3)
    with pytest.raises(ValueError):
        blend(a, b, 1.0, "nope")


def test_rebatch_images() -> None:
    batches = [img(3, 2, 2, seed=1), img(2, 2, 2, seed=2)]
    (out,) = RebatchImages().rebatch(batches, [2])
    assert [o.shape[0] for o in out] == [2, 2, 1]
    assert torch.equal(torch.cat(out), torch.cat(batches))
    assert RebatchImages.INPUT_IS_LIST is True and list(RebatchImages.OUTPUT_IS_LIST) == [True]


def test_composite_and_repeat_helpers() -> None:
    dest = torch.zeros(2, 3, 6, 6)
    src = torch.ones(1, 3, 2, 2)
    out = composite(dest.clone(), src, 4, 5, None, 1)
    assert out[:, :, 5:6, 4:6].eq(1).all() and out.sum() == 2 * 3 * 2  # clipped at the bottom edge
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.5]])
    out = composite(dest.clone(), src, 0, 0, mask, 1)
    assert torch.allclose(out[0, 0, :2, :2], mask)
    assert repeat_to_batch_size(torch.arange(2), 5).tolist() == [0, 1, 0, 1, 0]
    assert repeat_to_batch_size(torch.arange(4), 2).tolist() == [0, 1]
