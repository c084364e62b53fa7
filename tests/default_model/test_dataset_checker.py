"""The synthetic dataset and the pixel-statistics checker the quality tests rely on."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tools.default_model import dataset as ds
from tools.default_model.checker import read_image


def test_held_out_triples_never_train_and_cover_every_attribute() -> None:
    held = ds.held_out_triples()
    train = ds.training_triples()
    assert len(held) >= 24
    assert not set(held) & set(train)
    assert len(held) + len(train) == len(ds.all_triples()) == 8 * 4 * 7
    # every colour, shape and background still occurs in training
    assert {c for c, _, _ in train} == set(ds.COLOURS)
    assert {s for _, s, _ in train} == set(ds.SHAPES)
    assert {b for _, _, b in train} == set(ds.COLOURS)
    assert held == ds.held_out_triples()  # seeded: the same list every time


def test_training_sampler_only_draws_training_triples() -> None:
    rng = random.Random(3)
    for _ in range(500):
        s = ds.random_scene(rng, ds.training_triples())
        assert (s.colour, s.shape, s.background) not in ds.HELD_OUT


def test_captions() -> None:
    s = ds.Scene("red", "circle", "blue", "small", "top left")
    assert s.caption() == "a small red circle in the top left on a blue background"
    assert s.caption(with_size=False, with_position=False) == "a red circle on a blue background"
    assert ds.quality_scenes()[0].caption().startswith("a large ")


@pytest.mark.parametrize("seed", [0, 1])
def test_checker_reads_rendered_scenes_exactly(seed: int) -> None:
    rng = random.Random(seed)
    scenes = [ds.random_scene(rng, ds.all_triples()) for _ in range(60)] + ds.quality_scenes()
    for scene in scenes:
        reading = read_image(np.asarray(ds.render(scene)))
        assert reading.mismatches(scene) == [], scene


def test_checker_rejects_wrong_attributes() -> None:
    scene = ds.Scene("yellow", "star", "purple", "large", "bottom right")
    img = np.asarray(ds.render(scene))
    assert read_image(img).agrees(scene)
    for other in (
        ds.Scene("orange", "star", "purple", "large", "bottom right"),
        ds.Scene("yellow", "circle", "purple", "large", "bottom right"),
        ds.Scene("yellow", "star", "blue", "large", "bottom right"),
        ds.Scene("yellow", "star", "purple", "large", "top right"),
    ):
        assert not read_image(img).agrees(other)
    blank = np.full((128, 128, 3), 40, dtype=np.uint8)
    reading = read_image(blank)
    assert reading.colour is None and reading.shape is None and reading.position is None
