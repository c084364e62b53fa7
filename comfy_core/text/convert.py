"""CLIP text-encoder state-dict layouts: finding encoders in a dict, OpenCLIP <-> HF names.

Two layouts occur in real files (see shared/manifests):
- HF transformers (`text_model.embeddings.token_embedding.weight`, `...layers.N.self_attn.q_proj.*`,
  `text_projection.weight` as an `nn.Linear`): SD1 and SDXL CLIP-L inside checkpoints, standalone
  clip_l / clip_g files.
- OpenCLIP (`token_embedding.weight`, `positional_embedding`, `transformer.resblocks.N.attn.in_proj_*`
  fused q/k/v, `ln_final`, `text_projection` applied as `x @ W`): SD2 OpenCLIP-H and SDXL bigG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

HF_TOKEN_KEY = "embeddings.token_embedding.weight"
OC_TOKEN_KEY = "token_embedding.weight"
# OpenCLIP resblock sub-module -> HF encoder-layer sub-module.
RESBLOCK_NAMES = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
    "attn.out_proj": "self_attn.out_proj",
}
TOP_NAMES = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
}
QKV = ("q_proj", "k_proj", "v_proj")
# Tensors that are not weights of the transformer but are kept to write files back unchanged.
EXTRA_NAMES = ("logit_scale", "text_model.embeddings.position_ids")


@dataclass
class FoundEncoder:
    """One text encoder located in a state dict, with its weights in HF names (no prefix)."""

    prefix: str
    layout: str  # "hf" | "openclip"
    hf: dict[str, torch.Tensor]
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.hf["text_model.embeddings.token_embedding.weight"].shape[1])

    @property
    def num_layers(self) -> int:
        n = 0
        while f"text_model.encoder.layers.{n}.mlp.fc1.weight" in self.hf:
            n += 1
        return n


def openclip_to_hf(sd: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """OpenCLIP text keys (no prefix) -> (HF-named weights, extras). Unknown keys are dropped."""
    hf: dict[str, torch.Tensor] = {}
    extras: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key in TOP_NAMES:
            hf[TOP_NAMES[key]] = value
        elif key == "text_projection":
            hf["text_projection.weight"] = value.transpose(0, 1).contiguous()
        elif key == "logit_scale":
            extras[key] = value
        elif key.startswith("transformer.resblocks."):
            index, _, rest = key[len("transformer.resblocks.") :].partition(".")
            layer = f"text_model.encoder.layers.{index}."
            module, _, kind = rest.rpartition(".")
            if module in RESBLOCK_NAMES:
                hf[f"{layer}{RESBLOCK_NAMES[module]}.{kind}"] = value
            elif rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                suffix = "weight" if rest.endswith("weight") else "bias"
                for name, part in zip(QKV, value.chunk(3, dim=0), strict=True):
                    hf[f"{layer}self_attn.{name}.{suffix}"] = part
    return hf, extras


def hf_to_openclip(hf: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF-named weights -> OpenCLIP names (q/k/v fused, text_projection transposed)."""
    inverse_top = {v: k for k, v in TOP_NAMES.items()}
    inverse_block = {v: k for k, v in RESBLOCK_NAMES.items()}
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in hf.items():
        if key in inverse_top:
            out[inverse_top[key]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.transpose(0, 1).contiguous()
        elif key.startswith("text_model.encoder.layers."):
            index, _, rest = key[len("text_model.encoder.layers.") :].partition(".")
            module, _, kind = rest.rpartition(".")
            if module in inverse_block:
                out[f"transformer.resblocks.{index}.{inverse_block[module]}.{kind}"] = value
            elif module.startswith("self_attn.") and module[len("self_attn.") :] in QKV:
                qkv.setdefault((index, kind), {})[module[len("self_attn.") :]] = value
    for (index, kind), parts in qkv.items():
        if len(parts) != 3:
            raise ValueError(f"layer {index}: q/k/v {kind} incomplete")
        out[f"transformer.resblocks.{index}.attn.in_proj_{kind}"] = torch.cat([parts[n] for n in QKV], dim=0)
    return out


def _hf_prefixes(sd: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    """(outer prefix, text-model prefix) for each HF-layout encoder; old SD1 files lack `text_model.`."""
    found = []
    for key in sd:
        if key.endswith(HF_TOKEN_KEY):
            base = key[: -len(HF_TOKEN_KEY)]
            if base.endswith("text_model."):
                found.append((base[: -len("text_model.")], base))
            else:
                found.append((base, base))
    return found


def _openclip_prefixes(sd: Mapping[str, torch.Tensor]) -> list[str]:
    found = []
    for key in sd:
        if key.endswith(OC_TOKEN_KEY) and not key.endswith(HF_TOKEN_KEY):
            prefix = key[: -len(OC_TOKEN_KEY)]
            if prefix + "positional_embedding" in sd:
                found.append(prefix)
    return found


def find_text_encoders(sd: Mapping[str, torch.Tensor]) -> list[FoundEncoder]:
    """Every CLIP text encoder in `sd`, in key order, whatever the outer prefix."""
    encoders: list[FoundEncoder] = []
    for outer, text in _hf_prefixes(sd):
        hf: dict[str, torch.Tensor] = {}
        extras: dict[str, torch.Tensor] = {}
        for key, value in sd.items():
            if key.startswith(text):
                if text == outer and key[len(text) :] in ("text_projection.weight", "logit_scale"):
                    continue
                name = "text_model." + key[len(text) :]
                (extras if name in EXTRA_NAMES else hf)[name] = value
        for name in ("text_projection.weight", "logit_scale"):
            if outer + name in sd:
                (extras if name in EXTRA_NAMES else hf)[name] = sd[outer + name]
        encoders.append(FoundEncoder(outer, "hf", hf, extras))
    for prefix in _openclip_prefixes(sd):
        sub = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
        hf, extras = openclip_to_hf(sub)
        encoders.append(FoundEncoder(prefix, "openclip", hf, extras))
    return encoders
