"""Seeded tiny CLIP weights in the layouts real files use."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from comfy_core.text.clip_model import CLIPTextModel, ClipTextParams
from comfy_core.text.convert import hf_to_openclip

MANIFESTS = Path("/work/shared/manifests")
if not MANIFESTS.is_dir():  # a checkout-relative copy, if one is ever added
    MANIFESTS = Path(__file__).resolve().parents[2] / "shared" / "manifests"

TINY_L = ClipTextParams(width=32, layers=3, heads=4, mlp_width=64, activation="quick_gelu")
TINY_H = ClipTextParams(width=40, layers=3, heads=5, mlp_width=80, activation="gelu", projection_dim=40)
TINY_G = ClipTextParams(width=48, layers=3, heads=4, mlp_width=96, activation="gelu", projection_dim=48)


def random_hf_sd(
    params: ClipTextParams, seed: int, projection: bool | None = None
) -> dict[str, torch.Tensor]:
    """HF-layout weights (`text_model.*`, optional `text_projection.weight`), std 0.05, LN weights ~1."""
    shapes = {k: v.shape for k, v in CLIPTextModel(params, device="meta").state_dict().items()}
    if projection is None:
        projection = params.projection_dim is not None
    if not projection:
        shapes.pop("text_projection.weight")
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key in sorted(shapes):
        t = torch.randn(shapes[key], generator=gen) * 0.05
        if "layer_norm" in key and key.endswith("weight"):
            t += 1.0
        sd[key] = t
    return sd


def openclip_sd(params: ClipTextParams, seed: int) -> dict[str, torch.Tensor]:
    sd = hf_to_openclip(random_hf_sd(params, seed, projection=True))
    sd["logit_scale"] = torch.tensor(4.6052)
    return sd


def prefixed(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in sd.items()}


def load_manifest(name: str) -> dict[str, tuple[list[int], list[str]]]:
    """name -> (shape, accepted safetensors dtypes; "F16|F32" accepts both)."""
    data = json.loads((MANIFESTS / f"{name}.json").read_text())
    return {n: (shape, dtype.split("|")) for n, shape, dtype in data["tensors"]}


SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
