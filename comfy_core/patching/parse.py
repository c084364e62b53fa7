"""LoRA / LyCORIS files -> patches: `load_lora(lora_sd, key_map) -> (patches, unmatched_keys)`.

A file's tensors are grouped by module name (the key minus a known tensor suffix); each module name is
looked up in the key map (file module name -> model state-dict key) and its tensors are turned into one
weight adapter (plus a bias diff where the file has one). Every tensor not used is reported by name.

Tensor suffixes (kohya sd-scripts, LyCORIS, diffusers and PEFT writers):
  LoRA  `.lora_up.weight`/`.lora_down.weight`(/`.lora_mid.weight`), `_lora.up.weight`/`_lora.down.weight`,
        `.lora_B.weight`/`.lora_A.weight`, `.lora_B.default.weight`/`.lora_A.default.weight`,
        `.lora.up.weight`/`.lora.down.weight`, `.lora_linear_layer.up.weight`/`.down.weight`,
        `.lora_B`/`.lora_A`; common: `.alpha`, `.dora_scale`, `.reshape_weight`
  LoHa  `.hada_w1_a` `.hada_w1_b` `.hada_w2_a` `.hada_w2_b` (`.hada_t1` `.hada_t2`)
  LoKr  `.lokr_w1` | `.lokr_w1_a`+`.lokr_w1_b`, `.lokr_w2` | `.lokr_w2_a`+`.lokr_w2_b` (`.lokr_t2`)
  GLoRA `.a1.weight` `.a2.weight` `.b1.weight` `.b2.weight`
  full  `.diff` (`.diff_b` for the bias), `.w_norm` (`.b_norm`), `.set_weight`
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch

from comfy_core.patching.adapters import (
    DiffAdapter,
    GLoRAAdapter,
    LoHaAdapter,
    LoKrAdapter,
    LoRAAdapter,
    SetAdapter,
    WeightAdapter,
)

log = logging.getLogger(__name__)

# (up, down, mid) suffix triples, in the order a module is tried
LORA_PAIRS: tuple[tuple[str, str, str | None], ...] = (
    (".lora_up.weight", ".lora_down.weight", ".lora_mid.weight"),
    ("_lora.up.weight", "_lora.down.weight", None),
    (".lora_B.weight", ".lora_A.weight", None),
    (".lora.up.weight", ".lora.down.weight", None),
    (".lora_B", ".lora_A", None),
    (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight", None),
    (".lora_B.default.weight", ".lora_A.default.weight", None),
)
COMMON = (".alpha", ".dora_scale", ".reshape_weight")
LOHA = (".hada_w1_a", ".hada_w1_b", ".hada_w2_a", ".hada_w2_b", ".hada_t1", ".hada_t2")
LOKR = (".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2")
GLORA = (".a1.weight", ".a2.weight", ".b1.weight", ".b2.weight")
FULL = (".diff", ".diff_b", ".w_norm", ".b_norm", ".set_weight")
# longest first, so `.lora_B.default.weight` wins over `.weight`-less forms and `.diff_b` over `.diff`
SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        {s for triple in LORA_PAIRS for s in triple if s} | set(COMMON + LOHA + LOKR + GLORA + FULL),
        key=len,
        reverse=True,
    )
)

Patches = dict[str, WeightAdapter]


def split_key(key: str) -> tuple[str, str] | None:
    """(module name, suffix) for a tensor name with a known suffix, else None."""
    for suffix in SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], suffix
    return None


def group_by_module(
    lora_sd: Mapping[str, torch.Tensor],
) -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """({module: {suffix: tensor}}, keys with no known suffix)."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    odd: list[str] = []
    for key, tensor in lora_sd.items():
        split = split_key(key)
        if split is None:
            odd.append(key)
        else:
            groups.setdefault(split[0], {})[split[1]] = tensor
    return groups, odd


def _scalar(t: torch.Tensor | None) -> float | None:
    return None if t is None else float(t.float().item())


def _reshape(t: torch.Tensor | None) -> tuple[int, ...] | None:
    if t is None or t.numel() < 1:
        return None
    return tuple(int(v) for v in t.flatten().tolist())


def _bias_key(weight_key: str) -> str:
    return weight_key[: -len(".weight")] + ".bias" if weight_key.endswith(".weight") else weight_key + ".bias"


def module_adapter(group: Mapping[str, torch.Tensor]) -> tuple[WeightAdapter | None, set[str]]:
    """The weight adapter for one module's tensors and the suffixes it used. Later formats in this
    order take precedence, as in ComfyUI: LoRA, LoHa, LoKr, GLoRA, w_norm, diff, set_weight."""
    used = {s for s in COMMON if s in group}
    alpha = _scalar(group.get(".alpha"))
    dora = group.get(".dora_scale")
    adapter: WeightAdapter | None = None
    for up, down, mid in LORA_PAIRS:
        if up in group and down in group:
            has_mid = mid is not None and mid in group
            adapter = LoRAAdapter(
                group[up],
                group[down],
                alpha,
                group[mid] if has_mid else None,
                dora,
                _reshape(group.get(".reshape_weight")),
            )
            used |= {up, down} | ({mid} if has_mid else set())
            break
    if ".hada_w1_a" in group:
        g = group
        adapter = LoHaAdapter(
            g[".hada_w1_a"], g[".hada_w1_b"], g[".hada_w2_a"], g[".hada_w2_b"], alpha,
            g.get(".hada_t1"), g.get(".hada_t2"), dora,
        )  # fmt: skip
        used |= {s for s in LOHA if s in group}
    if any(s in group for s in (".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w2_a")):
        g = group
        adapter = LoKrAdapter(
            g.get(".lokr_w1"), g.get(".lokr_w2"), alpha, g.get(".lokr_w1_a"), g.get(".lokr_w1_b"),
            g.get(".lokr_w2_a"), g.get(".lokr_w2_b"), g.get(".lokr_t2"), dora,
        )  # fmt: skip
        used |= {s for s in LOKR if s in group}
    if all(s in group for s in GLORA):
        adapter = GLoRAAdapter(*(group[s] for s in GLORA), alpha=alpha, dora_scale=dora)
        used |= set(GLORA)
    if ".w_norm" in group:
        adapter = DiffAdapter(group[".w_norm"])
        used.add(".w_norm")
    if ".diff" in group:
        adapter = DiffAdapter(group[".diff"])
        used.add(".diff")
    if ".set_weight" in group:
        adapter = SetAdapter(group[".set_weight"])
        used.add(".set_weight")
    return adapter, used


def load_lora(
    lora_sd: Mapping[str, torch.Tensor], key_map: Mapping[str, str], log_unmatched: bool = True
) -> tuple[Patches, list[str]]:
    """Patches `{model key: adapter}` for every module of the file the key map knows, and the names of
    the file's tensors that were not used (each also logged as a warning)."""
    groups, unmatched = group_by_module(lora_sd)
    patches: Patches = {}
    for module, group in groups.items():
        target = key_map.get(module)
        if target is None:
            unmatched.extend(module + s for s in group)
            continue
        adapter, used = module_adapter(group)
        if adapter is not None:
            patches[target] = adapter
        for bias_suffix in (".b_norm", ".diff_b"):
            if bias_suffix in group and (bias_suffix != ".b_norm" or ".w_norm" in group):
                patches[_bias_key(target)] = DiffAdapter(group[bias_suffix])
                used.add(bias_suffix)
        if adapter is None and not (used - set(COMMON)):
            used = set()  # an alpha alone patches nothing: report it
        unmatched.extend(module + s for s in group if s not in used)
    unmatched.sort()
    if log_unmatched:
        for key in unmatched:
            log.warning("lora key not loaded: %s", key)
    return patches, unmatched
