"""Pixel-statistics reading of a shapes image: background colour, foreground colour, shape, position.

* background: median of the 4-pixel border, snapped to the nearest named colour;
* foreground mask: pixels far (RGB distance) from the background colour, cleaned by keeping the largest
  4-connected component;
* foreground colour: median over the mask's interior, nearest named colour;
* position: the mask's centroid (centre if it lies within 16 px of the middle, else its quadrant);
* shape: fill ratio of the mask in its bounding box (square ~1, circle ~0.79, triangle ~0.5, star ~0.35),
  with the triangle also told by its centroid sitting low in its box.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from tools.default_model.dataset import COLOURS, Scene

PALETTE = np.array(list(COLOURS.values()), dtype=np.float32)
NAMES = list(COLOURS)
MASK_DISTANCE = 70.0


@dataclass(frozen=True)
class Reading:
    background: str
    colour: str | None
    shape: str | None
    position: str | None
    fill: float = 0.0
    area: int = 0

    def agrees(self, scene: Scene, check_size: bool = False) -> bool:
        return not self.mismatches(scene)

    def mismatches(self, scene: Scene) -> list[str]:
        out = []
        for name in ("background", "colour", "shape", "position"):
            if getattr(self, name) != getattr(scene, name):
                out.append(f"{name}: {getattr(self, name)} != {getattr(scene, name)}")
        return out


def nearest_colour(rgb: np.ndarray) -> str:
    return NAMES[int(np.argmin(((PALETTE - rgb[None].astype(np.float32)) ** 2).sum(-1)))]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    best: list[tuple[int, int]] = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        comp = []
        queue = deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            comp.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if len(comp) > len(best):
            best = comp
    out = np.zeros_like(mask, dtype=bool)
    if best:
        ys, xs = zip(*best, strict=True)
        out[list(ys), list(xs)] = True
    return out


def _position(cx: float, cy: float, size: int) -> str:
    mid = size / 2
    if abs(cx - mid) < size * 0.125 and abs(cy - mid) < size * 0.125:
        return "center"
    return ("top" if cy < mid else "bottom") + " " + ("left" if cx < mid else "right")


def _shape(mask: np.ndarray) -> tuple[str, float]:
    ys, xs = np.nonzero(mask)
    y0, y1 = np.percentile(ys, [1, 99])
    x0, x1 = np.percentile(xs, [1, 99])
    box = max(1.0, (y1 - y0 + 1) * (x1 - x0 + 1))
    fill = float(mask.sum() / box)
    low = (ys.mean() - (y0 + y1) / 2) / max(1.0, y1 - y0)  # > 0: mass below the box centre
    if low > 0.08:
        return "triangle", fill
    if fill > 0.93:
        return "square", fill
    if fill > 0.7:
        return "circle", fill
    return "star", fill


def read_image(image: np.ndarray) -> Reading:
    """`image`: uint8 or float [H, W, 3] (floats in [0, 1])."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = img[..., :3].astype(np.float32)
    h, w, _ = img.shape
    border = np.concatenate(
        [
            img[:4].reshape(-1, 3),
            img[-4:].reshape(-1, 3),
            img[:, :4].reshape(-1, 3),
            img[:, -4:].reshape(-1, 3),
        ]
    )
    bg_rgb = np.median(border, axis=0)
    background = nearest_colour(bg_rgb)
    dist = np.sqrt(((img - bg_rgb[None, None]) ** 2).sum(-1))
    mask = _largest_component(dist > MASK_DISTANCE)
    area = int(mask.sum())
    if area < 30:
        return Reading(background, None, None, None, 0.0, area)
    # interior: pixels whose 4 neighbours are in the mask too (edges are blends)
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    pick = inner if inner.sum() >= 10 else mask
    colour = nearest_colour(np.median(img[pick], axis=0))
    ys, xs = np.nonzero(mask)
    shape, fill = _shape(mask)
    return Reading(background, colour, shape, _position(xs.mean(), ys.mean(), w), fill, area)
