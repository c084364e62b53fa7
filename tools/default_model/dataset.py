"""The synthetic "shapes" dataset of the default model: one coloured shape on a flat coloured background.

A scene is (foreground colour, shape, background colour, size, position) plus a little seeded jitter. Images
are drawn with PIL at 4x and box-downsampled (anti-aliased edges). Captions name the attributes in one fixed
order ("a small red circle in the top left on a blue background"); during training, size, position and
background may be left out of a caption (the image then shows a random value for them), so short prompts
such as "a yellow star on a purple background" work too.

`HELD_OUT` lists (colour, shape, background) triples that never occur in training, at any size or position;
the quality test prompts for exactly those.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

DATASET_VERSION = "shapes-v1"
IMAGE_SIZE = 128
SUPERSAMPLE = 4

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 215, 40),
    "purple": (150, 60, 190),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 18, "large": 30}  # half extent in pixels at 128x128
POSITIONS = {
    "top left": (36, 36),
    "top right": (92, 36),
    "bottom left": (36, 92),
    "bottom right": (92, 92),
    "center": (64, 64),
}
JITTER = 3
HELD_OUT_SEED = 1234
HELD_OUT_COUNT = 32


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    background: str
    size: str
    position: str
    dx: int = 0
    dy: int = 0

    def caption(
        self, with_size: bool = True, with_position: bool = True, with_background: bool = True
    ) -> str:
        words = ["a"]
        if with_size:
            words.append(self.size)
        words += [self.colour, self.shape]
        if with_position:
            words += ["in the", self.position]
        if with_background:
            words += ["on a", self.background, "background"]
        return " ".join(words)


def all_triples() -> list[tuple[str, str, str]]:
    return [(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]


def held_out_triples() -> list[tuple[str, str, str]]:
    """(colour, shape, background) triples left out of training. Every colour, shape and background
    still occurs in training; each colour is held out with several shapes and backgrounds."""
    rng = random.Random(HELD_OUT_SEED)
    triples = all_triples()
    rng.shuffle(triples)
    return sorted(triples[:HELD_OUT_COUNT])


HELD_OUT = frozenset(held_out_triples())


def training_triples() -> list[tuple[str, str, str]]:
    return [t for t in all_triples() if t not in HELD_OUT]


def random_scene(rng: random.Random, triples: list[tuple[str, str, str]]) -> Scene:
    colour, shape, background = rng.choice(triples)
    return Scene(
        colour,
        shape,
        background,
        rng.choice(list(SIZES)),
        rng.choice(list(POSITIONS)),
        rng.randint(-JITTER, JITTER),
        rng.randint(-JITTER, JITTER),
    )


def random_caption(rng: random.Random, scene: Scene) -> str:
    """Caption with optional parts dropped: size 40%, position 25%, background 15% of the time."""
    return scene.caption(
        with_size=rng.random() >= 0.4,
        with_position=rng.random() >= 0.25,
        with_background=rng.random() >= 0.15,
    )


def shape_points(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Polygon of a square, triangle (apex up) or five-pointed star (point up) of half extent r."""
    if shape == "square":
        h = r * 0.9
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "star":
        outer, inner = r * 1.05, r * 1.05 * 0.45
        pts = []
        for k in range(10):
            rad = outer if k % 2 == 0 else inner
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a) + r * 0.08))
        return pts
    raise ValueError(f"not a polygon shape: {shape!r}")


def _draw_shape(img: Image.Image, scene: Scene, size: int, fill: int | tuple[int, int, int]) -> Image.Image:
    """Draw the scene's shape on `img` (supersampled, geometry defined at 128 and scaled to `size`) and
    box-downsample to `size` x `size`."""
    k = size * SUPERSAMPLE / IMAGE_SIZE
    draw = ImageDraw.Draw(img)
    px, py = POSITIONS[scene.position]
    cx, cy, r = (px + scene.dx) * k, (py + scene.dy) * k, SIZES[scene.size] * k
    if scene.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(shape_points(scene.shape, cx, cy, r), fill=fill)
    return img.resize((size, size), Image.Resampling.BOX)


def render(scene: Scene, size: int = IMAGE_SIZE) -> Image.Image:
    """RGB image of the scene at `size` x `size`."""
    canvas = Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), COLOURS[scene.background])
    return _draw_shape(canvas, scene, size, COLOURS[scene.colour])


def render_mask(scene: Scene, size: int = IMAGE_SIZE) -> np.ndarray:
    """float32 [size, size] in [0, 1]: the share of each pixel the foreground shape covers."""
    canvas = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    return np.asarray(_draw_shape(canvas, scene, size, 255), dtype=np.float32) / 255.0


def render_array(scene: Scene, size: int = IMAGE_SIZE) -> np.ndarray:
    """float32 [3, H, W] in [-1, 1] (the VAE's pixel convention)."""
    arr = np.asarray(render(scene, size), dtype=np.float32) / 127.5 - 1.0
    return arr.transpose(2, 0, 1).copy()


def quality_scenes() -> list[Scene]:
    """One scene per held-out triple with a deterministic size and position (the quality-test prompts)."""
    positions = list(POSITIONS)
    out = []
    for i, (colour, shape, background) in enumerate(held_out_triples()):
        out.append(Scene(colour, shape, background, "large", positions[i % len(positions)]))
    return out
