"""Attention dispatch: one function every architecture calls, backed by torch's fused SDPA kernels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    heads: int,
    mask: torch.Tensor | None = None,
    upcast: bool = False,
) -> torch.Tensor:
    """Multi-head attention on merged-head tensors.

    q: [B, Nq, heads*d], k/v: [B, Nk, heads*d] -> [B, Nq, heads*d]. `mask` is additive or boolean and
    broadcastable to [B, heads, Nq, Nk]. `upcast` computes in fp32 (ComfyUI's attn_precision for SD2 in fp16).
    """
    b, nq, inner = q.shape
    d = inner // heads
    out_dtype = q.dtype
    if upcast and q.dtype != torch.float32:
        q, k, v = q.float(), k.float(), v.float()
    q = q.view(b, -1, heads, d).transpose(1, 2)
    k = k.view(b, -1, heads, d).transpose(1, 2)
    v = v.view(b, -1, heads, d).transpose(1, 2)
    if mask is not None:
        if mask.ndim == 2:
            mask = mask.unsqueeze(0)
        if mask.ndim == 3:
            mask = mask.unsqueeze(1)
        if mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, nq, heads * d).to(out_dtype)
