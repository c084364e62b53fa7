"""The default model through the real nodes (CheckpointLoaderSimple, CLIPTextEncode, KSampler, VAEDecode,
VAEEncode): text steers the picture on combinations never seen in training, and the usual controls move
it the right way."""

from __future__ import annotations

import numpy as np
import pytest

from tools.default_model import dataset as ds
from tools.default_model.checker import NAMES, PALETTE, read_image
from tools.default_model.pipeline import DEFAULT_CHECKPOINT, ShapesPipeline

STEPS = 20
CFG = 6.0
MIN_AGREEMENT = 0.8


@pytest.fixture(scope="module")
def pipe() -> ShapesPipeline:
    assert DEFAULT_CHECKPOINT.is_file()
    return ShapesPipeline(DEFAULT_CHECKPOINT, threads=1)


def colour_fraction(image: np.ndarray, colour: str) -> float:
    """Share of pixels whose nearest palette colour is `colour`."""
    px = image.reshape(-1, 3).astype(np.float32)
    nearest = ((px[:, None] - PALETTE[None]) ** 2).sum(-1).argmin(1)
    return float((nearest == NAMES.index(colour)).mean())


def _held_out_readings(pipe) -> list:
    return [
        (scene, read_image(pipe.generate(scene.caption(), seed=i, steps=STEPS, cfg=CFG)[0]))
        for i, scene in enumerate(ds.quality_scenes())
    ]


@pytest.fixture(scope="module")
def held_out(pipe) -> list:
    return _held_out_readings(pipe)


def test_held_out_prompts_get_their_colours(held_out) -> None:
    """Foreground and background colour on the 32 held-out combinations (what the shipped model learned)."""
    ok = [r.colour == s.colour and r.background == s.background for s, r in held_out]
    assert sum(ok) / len(ok) >= MIN_AGREEMENT, [
        (s.caption(), r) for (s, r), good in zip(held_out, ok, strict=True) if not good
    ]


def test_held_out_prompts_agree_with_the_pixel_checker(held_out) -> None:
    failures = [(s.caption(), r.mismatches(s)) for s, r in held_out if r.mismatches(s)]
    agreement = 1 - len(failures) / len(held_out)
    assert agreement >= MIN_AGREEMENT, f"{agreement:.0%} agree; failures: {failures}"


def test_negative_prompt_for_the_foreground_colour_lowers_it(pipe) -> None:
    """A prompt that leaves the shape's colour open: the colour the model picks on its own, put in the
    negative prompt, (nearly) disappears. (A negative that repeats a word of the positive prompt, "red" for
    "a red square", only cancels that word's push here: captions always named the colour, so there is no
    "red" direction beyond the caption to push away from.)"""
    from collections import Counter

    prompt = "a large square in the center on a white background"
    seeds = range(6)
    plain = [read_image(pipe.generate(prompt, "", seed=s, steps=STEPS, cfg=CFG)[0]).colour for s in seeds]
    colour, count = Counter(plain).most_common(1)[0]
    assert colour is not None and count >= 4, plain
    negated_images = [pipe.generate(prompt, colour, seed=s, steps=STEPS, cfg=CFG)[0] for s in seeds]
    negated = [read_image(im).colour for im in negated_images]
    assert negated.count(colour) <= count // 4, (plain, negated)
    before = np.mean(
        [
            colour_fraction(pipe.generate(prompt, "", seed=s, steps=STEPS, cfg=CFG)[0], colour)
            for s in seeds[:2]
        ]
    )
    after = np.mean([colour_fraction(im, colour) for im in negated_images[:2]])
    assert after < 0.5 * before, (colour, before, after)


def test_cfg_changes_adherence(pipe) -> None:
    """CFG 1 (the conditional model alone) against CFG 7 on 8 held-out prompts. Both read as prompted
    (attributes the checker gets right, 4 per image); what CFG changes measurably is how far the pixels are
    from the prompted scene drawn exactly: this model's conditional prediction is already clean, and CFG 7
    over-drives it (harder edges, more saturated noise), about doubling the mean pixel distance."""
    scenes = ds.quality_scenes()[:8]

    def measure(cfg: float) -> tuple[int, float]:
        right, distance = 0, 0.0
        for i, scene in enumerate(scenes):
            image = pipe.generate(scene.caption(), seed=100 + i, steps=STEPS, cfg=cfg)[0]
            right += 4 - len(read_image(image).mismatches(scene))
            ideal = np.asarray(ds.render(scene), dtype=np.float32)
            distance += float(np.abs(image.astype(np.float32) - ideal).mean()) / len(scenes)
        return right, distance

    (right_1, dist_1), (right_7, dist_7) = measure(1.0), measure(7.0)
    assert min(right_1, right_7) >= 0.8 * 4 * len(scenes), (right_1, right_7)
    assert dist_7 > 1.5 * dist_1, (dist_1, dist_7)


def test_img2img_with_low_denoise_stays_close(pipe) -> None:
    scene = ds.Scene("green", "triangle", "orange", "large", "bottom left")
    source = np.asarray(ds.render(scene))
    out = pipe.generate(scene.caption(), seed=3, steps=STEPS, cfg=CFG, denoise=0.3, init_image=source)[0]
    reading = read_image(out)
    assert (reading.background, reading.colour, reading.shape, reading.position) == (
        "orange",
        "green",
        "triangle",
        "bottom left",
    )
    diff = np.abs(out.astype(np.float32) - source.astype(np.float32)).mean()
    assert diff < 12.0, diff
    # a full-denoise run from the same seed is far from the source
    free = pipe.generate(
        "a small blue circle in the top right on a black background", seed=3, steps=STEPS, cfg=CFG
    )[0]
    assert np.abs(free.astype(np.float32) - source.astype(np.float32)).mean() > 3 * diff


def test_same_seed_same_pixels_other_seed_other_pixels(pipe) -> None:
    a = pipe.generate("a small white circle in the top left on a blue background", seed=11, steps=8, cfg=CFG)
    b = pipe.generate("a small white circle in the top left on a blue background", seed=11, steps=8, cfg=CFG)
    c = pipe.generate("a small white circle in the top left on a blue background", seed=12, steps=8, cfg=CFG)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
