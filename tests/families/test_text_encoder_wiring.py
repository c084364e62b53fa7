"""The checkpoint split hands comfy_core.text exactly what its loader takes (cross-package wiring)."""

from __future__ import annotations

import pytest

from comfy_core.families import detect, split_checkpoint
from tests.fixtures.checkpoints import build_reduced_checkpoint


@pytest.mark.parametrize(
    ("name", "towers"),
    [
        ("sd15_v1-5-pruned-emaonly", {"clip_l"}),
        ("sd21_v2-1_768-ema-pruned", {"clip_h"}),
        ("sdxl_sd_xl_base_1.0", {"clip_l", "clip_g"}),
        ("sdxl_refiner_sd_xl_refiner_1.0", {"clip_g"}),
    ],
)
def test_split_text_encoders_load_with_the_family_text_kind(name: str, towers: set[str]) -> None:
    loader = pytest.importorskip("comfy_core.text.loader")
    sd = build_reduced_checkpoint(name, seed=1)
    family, _ = detect(sd)
    parts = split_checkpoint(sd, family)
    assert set(parts["text_encoders"]) == towers
    clip = loader.load_text_encoders(
        family.text_kind, {k.removeprefix("clip_"): v for k, v in parts["text_encoders"].items()}
    )
    assert clip is not None
