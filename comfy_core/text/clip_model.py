"""CLIP text transformer (Radford et al. 2021) with HF-layout attribute names.

`CLIPTextModel(params).state_dict()` has exactly the names of a transformers `CLIPTextModel`
(`text_model.embeddings.token_embedding.weight`, `text_model.encoder.layers.N.self_attn.q_proj.*`,
`text_model.final_layer_norm.*`) plus `text_projection.weight` (identity unless loaded), so
standalone text-encoder files load with `load_state_dict` and no renaming.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

HEAD_DIM = 64  # every released CLIP / OpenCLIP text tower uses 64-wide heads


@dataclass(frozen=True)
class ClipTextParams:
    width: int
    layers: int
    heads: int
    mlp_width: int
    vocab_size: int = 49408
    max_positions: int = 77
    projection_dim: int | None = None
    activation: str = "quick_gelu"  # OpenAI CLIP-L; OpenCLIP H/bigG use "gelu"
    layer_norm_eps: float = 1e-5


def params_from_state_dict(
    sd: Mapping[str, torch.Tensor], activation: str, heads: int | None = None
) -> ClipTextParams:
    """Infer the architecture from HF-layout tensor shapes (`text_model.*`, no outer prefix)."""
    token = sd["text_model.embeddings.token_embedding.weight"]
    width = token.shape[1]
    layers = 0
    while f"text_model.encoder.layers.{layers}.mlp.fc1.weight" in sd:
        layers += 1
    proj = sd.get("text_projection.weight")
    return ClipTextParams(
        width=width,
        layers=layers,
        heads=heads if heads is not None else max(1, width // HEAD_DIM),
        mlp_width=sd["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
        vocab_size=token.shape[0],
        max_positions=sd["text_model.embeddings.position_embedding.weight"].shape[0],
        projection_dim=None if proj is None else proj.shape[0],
        activation=activation,
    )


def _activation(name: str):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu
    raise ValueError(f"unknown activation {name!r}")


class CLIPAttention(nn.Module):
    def __init__(self, width: int, heads: int, dtype, device, ops) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = ops.Linear(width, width, bias=True, dtype=dtype, device=device)
        self.k_proj = ops.Linear(width, width, bias=True, dtype=dtype, device=device)
        self.v_proj = ops.Linear(width, width, bias=True, dtype=dtype, device=device)
        self.out_proj = ops.Linear(width, width, bias=True, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        # [b, n, c] -> [b, heads, n, c / heads]
        q, k, v = (
            p(x).view(b, n, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, c))


class CLIPMLP(nn.Module):
    def __init__(self, width: int, hidden: int, activation: str, dtype, device, ops) -> None:
        super().__init__()
        self.fc1 = ops.Linear(width, hidden, bias=True, dtype=dtype, device=device)
        self.fc2 = ops.Linear(hidden, width, bias=True, dtype=dtype, device=device)
        self.act = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, p: ClipTextParams, dtype, device, ops) -> None:
        super().__init__()
        self.layer_norm1 = ops.LayerNorm(p.width, eps=p.layer_norm_eps, dtype=dtype, device=device)
        self.self_attn = CLIPAttention(p.width, p.heads, dtype, device, ops)
        self.layer_norm2 = ops.LayerNorm(p.width, eps=p.layer_norm_eps, dtype=dtype, device=device)
        self.mlp = CLIPMLP(p.width, p.mlp_width, p.activation, dtype, device, ops)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, p: ClipTextParams, dtype, device, ops) -> None:
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(p, dtype, device, ops) for _ in range(p.layers)])

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, keep: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run all layers; also return the output of layer `keep` (0-based, negative from the end)."""
        if keep is not None and keep < 0:
            keep += len(self.layers)
        kept = None
        for i, layer in enumerate(self.layers):
            x = layer(x, mask)
            if i == keep:
                kept = x
        return x, kept


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, p: ClipTextParams, dtype, device, ops) -> None:
        super().__init__()
        self.token_embedding = ops.Embedding(p.vocab_size, p.width, dtype=dtype, device=device)
        self.position_embedding = ops.Embedding(p.max_positions, p.width, dtype=dtype, device=device)


class CLIPTextTransformer(nn.Module):
    def __init__(self, p: ClipTextParams, dtype, device, ops) -> None:
        super().__init__()
        self.embeddings = CLIPTextEmbeddings(p, dtype, device, ops)
        self.encoder = CLIPEncoder(p, dtype, device, ops)
        self.final_layer_norm = ops.LayerNorm(p.width, eps=p.layer_norm_eps, dtype=dtype, device=device)


@dataclass
class ClipTextOutput:
    last: torch.Tensor  # [b, n, width], after the final layer norm
    hidden: torch.Tensor | None  # [b, n, width], the selected intermediate layer
    pooled: torch.Tensor  # [b, width], final-normed state at the EOS position
    projected: torch.Tensor  # [b, projection_dim], text_projection(pooled)


class CLIPTextModel(nn.Module):
    """Token ids or input embeddings -> hidden states, pooled and projected outputs."""

    def __init__(self, params: ClipTextParams, dtype=None, device=None, operations=None) -> None:
        super().__init__()
        ops = (
            operations
            if operations is not None
            else types.SimpleNamespace(Linear=nn.Linear, LayerNorm=nn.LayerNorm, Embedding=nn.Embedding)
        )
        self.params = params
        self.text_model = CLIPTextTransformer(params, dtype, device, ops)
        proj_dim = params.projection_dim if params.projection_dim is not None else params.width
        self.text_projection = ops.Linear(params.width, proj_dim, bias=False, dtype=dtype, device=device)
        if proj_dim == params.width:
            with torch.no_grad():
                self.text_projection.weight.copy_(torch.eye(proj_dim))

    @property
    def num_layers(self) -> int:
        return self.params.layers

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_model.embeddings.token_embedding(ids)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        eos_index: torch.Tensor | None = None,
        hidden_layer: int | None = None,
        norm_hidden: bool = True,
        attention_mask: torch.Tensor | None = None,
    ) -> ClipTextOutput:
        """`eos_index` [b] picks the pooled position; by default the first occurrence of the largest
        id (argmax), which is the end token for CLIP vocabularies. `attention_mask` [b, n] (1 = keep)
        is combined with the causal mask."""
        tm = self.text_model
        x = inputs_embeds if inputs_embeds is not None else self.embed_tokens(input_ids)
        n = x.shape[1]
        x = x + tm.embeddings.position_embedding.weight[:n].to(x.dtype)
        mask = torch.full((n, n), float("-inf"), dtype=x.dtype, device=x.device).triu_(1)
        if attention_mask is not None:
            pad = torch.zeros(attention_mask.shape, dtype=x.dtype, device=x.device)
            pad.masked_fill_(attention_mask.to(x.device) == 0, float("-inf"))
            mask = mask + pad[:, None, None, :]  # [b, 1, n, n]
        x, hidden = tm.encoder(x, mask, hidden_layer)
        x = tm.final_layer_norm(x)
        if hidden is not None and norm_hidden:
            hidden = tm.final_layer_norm(hidden)
        if eos_index is None:
            if input_ids is None:
                raise ValueError("eos_index is required with inputs_embeds")
            eos_index = input_ids.to(torch.long).argmax(dim=-1)
        pooled = x[torch.arange(x.shape[0], device=x.device), eos_index.to(x.device)]
        return ClipTextOutput(last=x, hidden=hidden, pooled=pooled, projected=self.text_projection(pooled))
