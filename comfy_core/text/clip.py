"""The CLIP object handed between nodes (ComfyUI's comfy.sd.CLIP, text side).

Clones share the encoder weights and tokenizers; the chosen hidden layer and the recorded weight
patches are per clone. Weight patches (LoRA) live in a ModelPatcher over the encoder stack and are
applied for the duration of each encode (and of a checkpoint export), then removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from comfy_core.memory.loading import load_for_inference
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.text.checkpoint import SourceInfo, export_checkpoint
from comfy_core.text.convert import find_text_encoders
from comfy_core.text.encoder import TextEncoderStack
from comfy_core.text.kinds import KindSpec
from comfy_core.text.tokenizer import ClipTokenizer


class KindTokenizer:
    """Runs the tokenizer of every tower of a kind; returns `{"l": chunks, "g": chunks, ...}`."""

    def __init__(self, tokenizers: Mapping[str, ClipTokenizer]) -> None:
        self.tokenizers = dict(tokenizers)
        for name, tok in self.tokenizers.items():
            setattr(self, f"clip_{name}", tok)  # ComfyUI's attribute names (tokenizer.clip_l ...)

    def tokenize_with_weights(
        self, text: str, return_word_ids: bool = False, **kwargs: Any
    ) -> dict[str, list]:
        return {
            name: tok.tokenize_with_weights(text, return_word_ids) for name, tok in self.tokenizers.items()
        }

    def untokenize(self, token_weight_pairs: list[tuple]) -> list:
        return next(iter(self.tokenizers.values())).untokenize(token_weight_pairs)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}


class CLIP:
    def __init__(
        self,
        kind: KindSpec,
        cond_stage_model: TextEncoderStack,
        tokenizer: KindTokenizer,
        sources: Mapping[str, SourceInfo] | None = None,
    ) -> None:
        self.kind = kind
        self.cond_stage_model = cond_stage_model
        self.tokenizer = tokenizer
        self.sources = dict(sources or {})
        self.layer_idx: int | None = None
        device = next(cond_stage_model.parameters(), torch.empty(0)).device
        # evicted text encoders wait in RAM (the manager moves them back when they are used)
        self.patcher = ModelPatcher(cond_stage_model, load_device=device, offload_device="cpu")
        # Conditioning lives on the intermediate device (CPU), wherever the encoder runs.
        self.output_device = torch.device("cpu")

    def clone(self) -> CLIP:
        other = CLIP(self.kind, self.cond_stage_model, self.tokenizer, self.sources)
        other.layer_idx = self.layer_idx
        other.output_device = self.output_device
        other.patcher = self.patcher.clone()
        return other

    @property
    def patches(self) -> dict[str, list[tuple]]:
        return self.patcher.patches

    def clip_layer(self, layer_idx: int | None) -> None:
        self.layer_idx = layer_idx

    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs: Any) -> dict[str, list]:
        return self.tokenizer.tokenize_with_weights(text, return_word_ids, **kwargs)

    def encode_from_tokens(
        self, tokens: Mapping[str, list], return_pooled: bool | str = False, return_dict: bool = False
    ) -> Any:
        """`return_pooled="unprojected"` returns the pooled output without text_projection."""
        projected = False if return_pooled == "unprojected" else None
        with load_for_inference([self.patcher]):
            cond, pooled = self.cond_stage_model.encode_token_weights(tokens, self.layer_idx, projected)
        cond, pooled = cond.to(self.output_device), pooled.to(self.output_device)
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        if return_pooled:
            return cond, pooled
        return cond

    def encode_from_tokens_scheduled(
        self, tokens: Mapping[str, list], unprojected: bool = False, add_dict: Mapping[str, Any] | None = None
    ) -> list[list]:
        """CONDITIONING: `[[cond, {"pooled_output": pooled, **add_dict}]]`."""
        out = self.encode_from_tokens(
            tokens, return_pooled="unprojected" if unprojected else True, return_dict=True
        )
        cond = out.pop("cond")
        out.update(add_dict or {})
        return [[cond, out]]

    def encode(self, text: str) -> torch.Tensor:
        return self.encode_from_tokens(self.tokenize(text))

    def get_sd(self) -> dict[str, torch.Tensor]:
        """ComfyUI's internal names: `clip_l.transformer.text_model.*`, `clip_g.logit_scale` ..."""
        return dict(self.cond_stage_model.state_dict())

    def load_sd(
        self, sd: Mapping[str, torch.Tensor], full_model: bool = False
    ) -> tuple[list[str], list[str]]:
        """Load weights: `full_model` takes `get_sd()` names; otherwise a text-encoder file in HF or
        OpenCLIP layout is routed to the tower it fits (ComfyUI: 31+ layers means bigG)."""
        if full_model:
            missing, unexpected = self.cond_stage_model.load_state_dict(sd, strict=False)
            return list(missing), list(unexpected)
        missing: list[str] = []
        unexpected: list[str] = []
        for found in find_text_encoders(sd):
            name = self._route(found.width, found.num_layers)
            enc = self.cond_stage_model.encoder(name)
            m, u = enc.transformer.load_state_dict(found.hf, strict=False)
            if "logit_scale" in found.extras:
                enc.logit_scale.data.copy_(found.extras["logit_scale"])
            missing += [k for k in m if k != "text_projection.weight"]
            unexpected += list(u)
        return missing, unexpected

    def _route(self, width: int, num_layers: int) -> str:
        names = self.cond_stage_model.slot_names
        for spec, _ in self.kind.slots:
            if spec.reference_width == width:
                return spec.name
        if "g" in names and num_layers > 30:
            return "g"
        return "l" if "l" in names else names[0]

    def add_patches(
        self, patches: Mapping[str, Any], strength_patch: float = 1.0, strength_model: float = 1.0
    ) -> list[str]:
        """Add weight patches for keys of `get_sd()`; returns the keys taken."""
        return self.patcher.add_patches(dict(patches), strength_patch, strength_model)

    def checkpoint_state_dict(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """Weights under the checkpoint names and dtypes of this kind (see checkpoint.py), patches applied."""
        with load_for_inference([self.patcher]):
            return {k: v.clone() for k, v in export_checkpoint(self, dtype).items()}
