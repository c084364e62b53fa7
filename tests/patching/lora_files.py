"""LoRA files for tests, built from documented layouts at the shapes of a (reduced) model.

`kohya_from_manifest(manifest, key_map, weights)`: the exact module names of a real kohya file (from its
tensor manifest), each with `.lora_down.weight` / `.lora_up.weight` / `.alpha` shaped for the model
weight it targets. The other builders write one module per target in the LoCon, LoHa, LoKr and
diffusers/PEFT layouts.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tests.fixtures.checkpoints import manifest_entries

RANK = 4


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def manifest_modules(manifest: str) -> list[str]:
    return sorted({n[: -len(".alpha")] for n, _, _ in manifest_entries(manifest) if n.endswith(".alpha")})


def lora_pair(shape: torch.Size, g: torch.Generator, rank: int = RANK) -> tuple[torch.Tensor, torch.Tensor]:
    """(down, up) for a weight of `shape`: conv weights get [r, in, kh, kw] / [out, r, 1, 1]."""
    out_dim, in_dim = shape[0], shape[1]
    kernel = tuple(shape[2:])
    down = torch.randn((rank, in_dim, *kernel), generator=g) * 0.3
    up = torch.randn((out_dim, rank, *([1] * len(kernel))), generator=g) * 0.3
    return down, up


def kohya_from_manifest(
    manifest: str,
    key_map: Mapping[str, str],
    weights: Mapping[str, torch.Tensor],
    seed: int = 0,
    alpha: float = 2.0,
    prefix: str = "",
) -> dict[str, torch.Tensor]:
    g = _gen(seed)
    out: dict[str, torch.Tensor] = {}
    for module in manifest_modules(manifest):
        if not module.startswith(prefix):
            continue
        down, up = lora_pair(weights[key_map[module]].shape, g)
        out[f"{module}.lora_down.weight"] = down.half()
        out[f"{module}.lora_up.weight"] = up.half()
        out[f"{module}.alpha"] = torch.tensor(alpha, dtype=torch.float16)
    return out


def expected_lora_delta(lora: Mapping[str, torch.Tensor], module: str, shape: torch.Size) -> torch.Tensor:
    down = lora[f"{module}.lora_down.weight"].float()
    up = lora[f"{module}.lora_up.weight"].float()
    alpha = float(lora[f"{module}.alpha"]) if f"{module}.alpha" in lora else down.shape[0]
    return (alpha / down.shape[0]) * (up.flatten(1) @ down.flatten(1)).reshape(shape)
