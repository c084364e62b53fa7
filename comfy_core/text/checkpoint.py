"""Text-encoder weights back to checkpoint layout (for CheckpointSave).

Each tower is written under its kind's checkpoint prefix and layout: HF names for CLIP-L, OpenCLIP
names (fused q/k/v, transposed text_projection) for OpenCLIP-H/bigG. Tensors keep the dtype they were
loaded with; bookkeeping tensors (`position_ids`, `logit_scale`) are written back when the source had
them, and otherwise as ComfyUI writes them (SDXL CLIP-L gets int64 position ids, OpenCLIP towers an
fp32 logit_scale, SD1 neither).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from comfy_core.text.convert import hf_to_openclip

if TYPE_CHECKING:
    from comfy_core.text.clip import CLIP

POSITION_IDS = "text_model.embeddings.position_ids"


@dataclass(frozen=True)
class SourceInfo:
    """What a tower was loaded from: prefix, layout, dtypes by HF key, bookkeeping tensors."""

    prefix: str = ""
    layout: str = "hf"
    dtypes: Mapping[str, torch.dtype] = field(default_factory=dict)
    extras: Mapping[str, torch.Tensor] = field(default_factory=dict)


def export_checkpoint(clip: CLIP, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """`{checkpoint name: tensor}` for every tower of `clip`. `dtype` is used for tensors whose
    source dtype is unknown (default: the weights' current dtype)."""
    out: dict[str, torch.Tensor] = {}
    for spec, prefix in clip.kind.slots:
        enc = clip.cond_stage_model.encoder(spec.name)
        src = clip.sources.get(spec.name, SourceInfo())
        hf = {
            k: v.detach().to(src.dtypes.get(k, dtype or v.dtype))
            for k, v in enc.transformer.state_dict().items()
        }
        if spec.layout == "openclip":
            tensors = hf_to_openclip(hf)
            logit = src.extras.get("logit_scale")
            logit_dtype = logit.dtype if logit is not None else torch.float32
            tensors["logit_scale"] = enc.logit_scale.detach().to(logit_dtype).clone()
        else:
            hf.pop("text_projection.weight", None)
            tensors = hf
            if POSITION_IDS in src.extras:
                tensors[POSITION_IDS] = src.extras[POSITION_IDS]
            elif clip.kind.name == "sdxl":
                n = enc.transformer.params.max_positions
                tensors[POSITION_IDS] = torch.arange(n, dtype=torch.int64).unsqueeze(0)
        out.update({prefix + k: v for k, v in tensors.items()})
    return out
