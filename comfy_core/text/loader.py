"""Build a CLIP object from state dicts: checkpoint parts or standalone text-encoder files.

`load_text_encoders(kind, state_dicts)` accepts, for `state_dicts`:
- one dict (a whole checkpoint, or the text-encoder part with or without its prefix),
- a list of dicts (e.g. the two files of DualCLIPLoader),
- a mapping `{"l": sd, "g": sd}` naming the tower of each dict.
Towers are matched to the kind's slots by checkpoint prefix, then by the released width
(768 CLIP-L, 1024 OpenCLIP-H, 1280 bigG), then by layout (OpenCLIP layout = the OpenCLIP tower),
then in order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import torch

from comfy_core.text.bpe import ClipBPE
from comfy_core.text.checkpoint import SourceInfo
from comfy_core.text.clip import CLIP, KindTokenizer
from comfy_core.text.clip_model import params_from_state_dict
from comfy_core.text.convert import FoundEncoder, find_text_encoders
from comfy_core.text.encoder import ClipTextEncoder, TextEncoderStack
from comfy_core.text.kinds import KindSpec, get_kind
from comfy_core.text.tokenizer import ClipTokenizer

log = logging.getLogger(__name__)

StateDict = Mapping[str, torch.Tensor]


def _found_in(
    state_dicts: StateDict | Sequence[StateDict] | Mapping[str, StateDict],
) -> tuple[dict[str, FoundEncoder], list[FoundEncoder]]:
    """(encoders named by the caller, unnamed encoders)."""
    if isinstance(state_dicts, Mapping):
        values = list(state_dicts.values())
        if values and isinstance(values[0], Mapping):
            named = {}
            for name, sd in state_dicts.items():
                found = find_text_encoders(sd)
                if len(found) != 1:
                    raise ValueError(f"expected one text encoder for {name!r}, found {len(found)}")
                named[name] = found[0]
            return named, []
        return {}, find_text_encoders(state_dicts)  # type: ignore[arg-type]
    return {}, [f for sd in state_dicts for f in find_text_encoders(sd)]


def assign_slots(
    kind: KindSpec, named: dict[str, FoundEncoder], found: list[FoundEncoder]
) -> dict[str, FoundEncoder]:
    out = dict(named)
    rest = list(found)
    rules = (
        lambda spec, prefix, f: f.prefix == prefix,
        lambda spec, prefix, f: f.width == spec.reference_width,
        lambda spec, prefix, f: (f.layout == "openclip") == (spec.layout == "openclip"),
        lambda spec, prefix, f: True,
    )
    for rule in rules:
        for spec, prefix in kind.slots:
            if spec.name in out:
                continue
            match = next((f for f in rest if rule(spec, prefix, f)), None)
            if match is not None:
                out[spec.name] = match
                rest.remove(match)
    missing = [spec.name for spec, _ in kind.slots if spec.name not in out]
    if missing:
        raise ValueError(f"{kind.name}: no text encoder found for clip_{', clip_'.join(missing)}")
    for extra in rest:
        log.warning("ignoring text encoder at %r (not used by %s)", extra.prefix, kind.name)
    return out


def _build_encoder(spec, found: FoundEncoder, dtype, device, operations) -> ClipTextEncoder:
    params = params_from_state_dict(found.hf, spec.activation)
    enc = ClipTextEncoder(spec, params, dtype=dtype, device="meta", operations=operations)
    enc = enc.to_empty(device=device or "cpu")
    missing, _ = enc.transformer.load_state_dict(found.hf, strict=False)
    with torch.no_grad():
        if "text_projection.weight" in missing:
            enc.transformer.text_projection.weight.copy_(torch.eye(params.width))
        enc.logit_scale.copy_(found.extras.get("logit_scale", torch.tensor(4.6055)))
    missing = [k for k in missing if k != "text_projection.weight"]
    if missing:
        log.warning("clip_%s missing: %s", spec.name, missing)
    return enc.eval().requires_grad_(False)


def load_text_encoders(
    kind: str,
    state_dicts: StateDict | Sequence[StateDict] | Mapping[str, StateDict],
    embedding_dirs: Sequence[str | os.PathLike[str]] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    operations=None,
    vocab_path: str | os.PathLike[str] | None = None,
    cleanup: str = "basic",
) -> CLIP:
    """CLIP object for `kind` ("sd1", "sd2", "sdxl", "sdxl_refiner"). Weights are held in `dtype`."""
    spec_kind = get_kind(kind)
    named, found = _found_in(state_dicts)
    slots = assign_slots(spec_kind, named, found)
    encoders = {}
    sources = {}
    for spec, _ in spec_kind.slots:
        f = slots[spec.name]
        encoders[spec.name] = _build_encoder(spec, f, dtype, device, operations)
        sources[spec.name] = SourceInfo(
            f.prefix, f.layout, {k: v.dtype for k, v in f.hf.items()}, dict(f.extras)
        )
    bpe = ClipBPE(vocab_path, cleanup=cleanup)
    tokenizers = {}
    for spec in spec_kind.token_slots:
        width = encoders[spec.name].width if spec.name in encoders else spec.reference_width
        tokenizers[spec.name] = ClipTokenizer(
            bpe,
            pad_with_end=spec.pad_with_end,
            embedding_dirs=embedding_dirs,
            embedding_size=width,
            embedding_key=spec.embedding_key,
        )
    return CLIP(spec_kind, TextEncoderStack(spec_kind, encoders), KindTokenizer(tokenizers), sources)


def kind_for_clip_files(state_dicts: Sequence[StateDict], clip_type: str = "stable_diffusion") -> str:
    """The kind CLIPLoader / DualCLIPLoader build for these files (ComfyUI's detection rule)."""
    found = [f for sd in state_dicts for f in find_text_encoders(sd)]
    if clip_type == "sdxl":
        return "sdxl"
    if clip_type != "stable_diffusion" or len(found) != 1:
        raise ValueError(f"unsupported text-encoder type {clip_type!r} with {len(found)} encoder(s)")
    layers = found[0].num_layers
    if layers > 30:
        return "sdxl_refiner"
    if layers > 22:
        return "sd2"
    return "sd1"


def load_clip_files(
    state_dicts: Sequence[StateDict],
    clip_type: str = "stable_diffusion",
    embedding_dirs: Sequence[str | os.PathLike[str]] | None = None,
    **options,
) -> CLIP:
    """CLIPLoader (`stable_diffusion`) and DualCLIPLoader (`sdxl`) over standalone HF-format files."""
    kind = kind_for_clip_files(state_dicts, clip_type)
    if kind == "sdxl":
        found = [f for sd in state_dicts for f in find_text_encoders(sd)]
        named = {("g" if f.num_layers > 30 or f.width == 1280 else "l"): f for f in found}
        if len(named) == 2:
            return load_text_encoders(
                kind, {n: _as_sd(f) for n, f in named.items()}, embedding_dirs, **options
            )
    return load_text_encoders(kind, list(state_dicts), embedding_dirs, **options)


def _as_sd(found: FoundEncoder) -> dict[str, torch.Tensor]:
    return {**found.hf, **found.extras}
