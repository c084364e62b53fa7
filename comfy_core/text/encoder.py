"""Weighted token chunks -> conditioning, per tower and for a whole kind (ComfyUI's ClipTokenWeightEncoder).

Weighting rule (ComfyUI): when any token weight differs from 1, an empty prompt (start, end, pad...)
is encoded in the same batch and each weighted token is moved along the line to it:
`z = (z - z_empty) * w + z_empty`. Chunks are encoded together and concatenated along the tokens.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from comfy_core.text.bpe import END_TOKEN, START_TOKEN
from comfy_core.text.clip_model import CLIPTextModel, ClipTextParams
from comfy_core.text.kinds import KindSpec, SlotSpec

log = logging.getLogger(__name__)

Chunk = Sequence[tuple]  # (token, weight) or (token, weight, word_id)


class ClipTextEncoder(nn.Module):
    """One CLIP tower with its ComfyUI run options. State-dict names: `transformer.*`, `logit_scale`."""

    def __init__(
        self, spec: SlotSpec, params: ClipTextParams, dtype=None, device=None, operations=None
    ) -> None:
        super().__init__()
        self.spec = spec
        self.transformer = CLIPTextModel(params, dtype=dtype, device=device, operations=operations)
        self.logit_scale = nn.Parameter(torch.tensor(4.6055), requires_grad=False)
        self.pad_token = END_TOKEN if spec.pad_with_end else 0

    @property
    def num_layers(self) -> int:
        return self.transformer.num_layers

    @property
    def width(self) -> int:
        return self.transformer.params.width

    def resolve_layer(self, layer_idx: int | None) -> int | None:
        """ComfyUI's rule: an override or the tower default; out-of-range means the last layer."""
        idx = layer_idx if layer_idx is not None else self.spec.default_layer
        if idx is None or abs(idx) > self.num_layers:
            return None
        return idx

    def _inputs(self, rows: Sequence[Sequence]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token rows (ids and embedding vectors) -> input embeddings [b, n, width] and EOS index [b].

        A vector of the wrong width is dropped (later entries move left) and a pad token is appended,
        as ComfyUI does."""
        device = self.transformer.text_model.embeddings.token_embedding.weight.device
        batch, eos = [], []
        for row in rows:
            ids: list[int] = []
            vectors: dict[int, torch.Tensor] = {}
            for t in row:
                if isinstance(t, numbers.Integral):
                    ids.append(int(t))
                elif t.shape[-1] == self.width:
                    vectors[len(ids)] = t.reshape(-1)
                    ids.append(0)  # placeholder, replaced by the vector below
                else:
                    log.warning(
                        "WARNING: shape mismatch when trying to apply embedding, embedding will be ignored %s != %s",
                        t.shape[-1],
                        self.width,
                    )
            ids.extend([self.pad_token] * (len(row) - len(ids)))
            emb = self.transformer.embed_tokens(torch.tensor(ids, device=device)).clone()
            for pos, vec in vectors.items():
                emb[pos] = vec.to(device=device, dtype=emb.dtype)
            batch.append(emb)
            # Pooled output is read at the first end token (ComfyUI counts tokens up to it).
            first_end = [i for i, t in enumerate(ids) if t == END_TOKEN and i not in vectors]
            eos.append(first_end[0] if first_end else len(ids) - 1)
        return torch.stack(batch), torch.tensor(eos, device=device)

    @torch.no_grad()
    def encode(
        self, rows: Sequence[Sequence], layer_idx: int | None = None, projected_pooled: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw rows -> (hidden states [b, n, width] float32, pooled [b, d] float32)."""
        embeds, eos = self._inputs(rows)
        layer = self.resolve_layer(layer_idx)
        out = self.transformer(
            inputs_embeds=embeds, eos_index=eos, hidden_layer=layer, norm_hidden=self.spec.norm_hidden
        )
        z = out.last if layer is None else out.hidden
        use_projection = self.spec.projected_pooled if projected_pooled is None else projected_pooled
        pooled = out.projected if use_projection else out.pooled
        return z.float(), pooled.float()

    def empty_row(self, length: int) -> list[int]:
        return [START_TOKEN, END_TOKEN] + [self.pad_token] * (length - 2)

    def encode_token_weights(
        self, chunks: Sequence[Chunk], layer_idx: int | None = None, projected_pooled: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted chunks -> (cond [1, n * chunks, width], pooled of the first chunk [1, d])."""
        rows = [[entry[0] for entry in chunk] for chunk in chunks]
        weights = [[float(entry[1]) for entry in chunk] for chunk in chunks]
        has_weights = any(w != 1.0 for row in weights for w in row)
        sections = len(rows)
        if has_weights or sections == 0:
            rows.append(self.empty_row(max((len(r) for r in rows), default=0)))
        out, pooled = self.encode(rows, layer_idx, projected_pooled)
        if sections == 0:
            return out[-1:], pooled[0:1]
        parts = []
        for k in range(sections):
            z = out[k : k + 1]
            if has_weights:
                w = torch.tensor(weights[k], dtype=z.dtype, device=z.device)[:, None]  # [n, 1]
                z_empty = out[-1]
                z = torch.where(w != 1.0, (z - z_empty) * w + z_empty, z)
            parts.append(z)
        return torch.cat(parts, dim=-2), pooled[0:1]


class TextEncoderStack(nn.Module):
    """All towers of one kind, as `clip_l` / `clip_h` / `clip_g` sub-modules (ComfyUI's names)."""

    def __init__(self, kind: KindSpec, encoders: Mapping[str, ClipTextEncoder]) -> None:
        super().__init__()
        self.kind = kind
        self.slot_names = [spec.name for spec, _ in kind.slots]
        for name in self.slot_names:
            self.add_module(f"clip_{name}", encoders[name])

    def encoder(self, name: str) -> ClipTextEncoder:
        return getattr(self, f"clip_{name}")

    def encode_token_weights(
        self,
        tokens: Mapping[str, Sequence[Chunk]],
        layer_idx: int | None = None,
        projected_pooled: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens dict -> (cond, pooled). Several towers are concatenated along the features,
        cut to the shorter token length (SDXL: CLIP-L 768 + bigG 1280 = 2048)."""
        outs, pooled = [], None
        for name in self.slot_names:
            cond, p = self.encoder(name).encode_token_weights(tokens[name], layer_idx, projected_pooled)
            outs.append(cond)
            if name == self.kind.pooled_from:
                pooled = p
        cut = min(o.shape[1] for o in outs)
        cond = torch.cat([o[:, :cut] for o in outs], dim=-1) if len(outs) > 1 else outs[0]
        assert pooled is not None
        return cond, pooled
