"""LDM transformer pieces used by the SD UNet (CompVis `ldm/modules/attention.py` layout and names).

SpatialTransformer: GroupNorm -> proj_in (1x1 conv, or Linear for SD2/SDXL) -> N BasicTransformerBlocks
(self-attention, cross-attention on the text context, GEGLU feed-forward, each pre-LayerNorm and residual)
-> proj_out, plus the input residual (Rombach et al. 2022, "High-Resolution Image Synthesis with LDMs").
"""

from __future__ import annotations

import torch
from torch import nn

from comfy_core.ops import Operations
from comfy_core.ops.attention import attention


class CrossAttention(nn.Module):
    def __init__(
        self,
        query_dim: int,
        context_dim: int | None,
        heads: int,
        dim_head: int,
        upcast: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        operations: Operations | None = None,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads = heads
        self.upcast = upcast
        self.to_q = operations.Linear(query_dim, inner, bias=False, dtype=dtype, device=device)
        self.to_k = operations.Linear(context_dim, inner, bias=False, dtype=dtype, device=device)
        self.to_v = operations.Linear(context_dim, inner, bias=False, dtype=dtype, device=device)
        self.to_out = nn.Sequential(
            operations.Linear(inner, query_dim, dtype=dtype, device=device), nn.Dropout(0.0)
        )

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        context = x if context is None else context
        out = attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads, mask, self.upcast)
        return self.to_out(out)


class GEGLU(nn.Module):
    """Linear to 2*dim_out, then value * gelu(gate) (Shazeer 2020, "GLU Variants Improve Transformer")."""

    def __init__(
        self, dim_in: int, dim_out: int, dtype=None, device=None, operations: Operations | None = None
    ):
        super().__init__()
        self.proj = operations.Linear(dim_in, dim_out * 2, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * nn.functional.gelu(gate)


class FeedForward(nn.Module):
    def __init__(
        self, dim: int, mult: int = 4, dtype=None, device=None, operations: Operations | None = None
    ):
        super().__init__()
        inner = dim * mult
        # net.0 = GEGLU, net.1 = dropout, net.2 = Linear: indices are the checkpoint's key names
        self.net = nn.Sequential(
            GEGLU(dim, inner, dtype=dtype, device=device, operations=operations),
            nn.Dropout(0.0),
            operations.Linear(inner, dim, dtype=dtype, device=device),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int,
        context_dim: int,
        disable_self_attn: bool = False,
        upcast: bool = False,
        dtype=None,
        device=None,
        operations: Operations | None = None,
    ) -> None:
        super().__init__()
        self.disable_self_attn = disable_self_attn
        kw = dict(dtype=dtype, device=device, operations=operations)
        self.attn1 = CrossAttention(
            dim, context_dim if disable_self_attn else None, heads, dim_head, upcast, **kw
        )
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head, upcast, **kw)
        self.ff = FeedForward(dim, **kw)
        self.norm1 = operations.LayerNorm(dim, dtype=dtype, device=device)
        self.norm2 = operations.LayerNorm(dim, dtype=dtype, device=device)
        self.norm3 = operations.LayerNorm(dim, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = self.attn1(self.norm1(x), context if self.disable_self_attn else None) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    def __init__(
        self,
        in_channels: int,
        heads: int,
        dim_head: int,
        depth: int,
        context_dim: int,
        use_linear: bool,
        disable_self_attn: bool = False,
        upcast: bool = False,
        dtype=None,
        device=None,
        operations: Operations | None = None,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = operations.GroupNorm(32, in_channels, eps=1e-6, affine=True, dtype=dtype, device=device)
        if use_linear:
            self.proj_in = operations.Linear(in_channels, inner, dtype=dtype, device=device)
            self.proj_out = operations.Linear(inner, in_channels, dtype=dtype, device=device)
        else:
            self.proj_in = operations.Conv2d(in_channels, inner, 1, dtype=dtype, device=device)
            self.proj_out = operations.Conv2d(inner, in_channels, 1, dtype=dtype, device=device)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(
                inner,
                heads,
                dim_head,
                context_dim,
                disable_self_attn,
                upcast,
                dtype=dtype,
                device=device,
                operations=operations,
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = x.shape
        x_in = x
        x = self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.flatten(2).transpose(1, 2)  # [B, C, H, W] -> [B, H*W, C]
        if self.use_linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context)
        if self.use_linear:
            x = self.proj_out(x)
        x = x.transpose(1, 2).reshape(b, -1, h, w)
        if not self.use_linear:
            x = self.proj_out(x)
        return x + x_in
