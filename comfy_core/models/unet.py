"""The latent-diffusion UNet of SD1.x, SD2.x and SDXL (CompVis/SGM `openaimodel.UNetModel` layout).

Attribute paths equal the checkpoint's tensor names under `model.diffusion_model.` (input_blocks.N.M,
middle_block.M, output_blocks.N.M, time_embed, label_emb, out), so an original file loads with
`load_state_dict` unchanged. Architecture: Ho et al. 2020 / Dhariwal & Nichol 2021 ResBlocks with timestep
embedding, SpatialTransformer cross-attention (Rombach et al. 2022), SDXL's ADM vector `y` added to the
timestep embedding (Podell et al. 2023).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from comfy_core.models.attention import SpatialTransformer
from comfy_core.ops import PLAIN, Operations


@dataclass(frozen=True)
class UNetParams:
    """Everything that shapes the UNet. Depth lists: one entry per input / output ResBlock.

    `transformer_depth[i]`: transformer blocks after the i-th input ResBlock (level-major order).
    `transformer_depth_output[i]`: same for output_blocks[i] (output order, deepest level first).
    Heads: `num_head_channels > 0` fixes the width per head (SD2/SDXL: 64); otherwise `num_heads` per layer.
    """

    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    num_res_blocks: tuple[int, ...] = (2, 2, 2, 2)
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    transformer_depth: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 0, 0)
    transformer_depth_output: tuple[int, ...] = (0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    transformer_depth_middle: int = 1
    context_dim: int = 768
    num_heads: int = 8
    num_head_channels: int = -1
    use_linear_in_transformer: bool = False
    adm_in_channels: int | None = None
    attn_upcast: bool = False

    def heads_for(self, ch: int) -> tuple[int, int]:
        """(heads, dim_head) of a transformer at `ch` channels."""
        if self.num_head_channels > 0:
            heads = max(1, ch // self.num_head_channels)
            return heads, ch // heads
        return self.num_heads, ch // self.num_heads


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [cos | sin] of (possibly fractional) timesteps, computed in fp32. t: [N] -> [N, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, out_channels: int, dtype, device, ops: Operations):
        super().__init__()
        self.in_layers = nn.Sequential(
            ops.GroupNorm(32, channels, dtype=dtype, device=device),
            nn.SiLU(),
            ops.Conv2d(channels, out_channels, 3, padding=1, dtype=dtype, device=device),
        )
        self.emb_layers = nn.Sequential(
            nn.SiLU(), ops.Linear(emb_channels, out_channels, dtype=dtype, device=device)
        )
        self.out_layers = nn.Sequential(
            ops.GroupNorm(32, out_channels, dtype=dtype, device=device),
            nn.SiLU(),
            nn.Dropout(0.0),
            ops.Conv2d(out_channels, out_channels, 3, padding=1, dtype=dtype, device=device),
        )
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = ops.Conv2d(channels, out_channels, 1, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, channels: int, dtype, device, ops: Operations):
        super().__init__()
        self.op = ops.Conv2d(channels, channels, 3, stride=2, padding=1, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int, dtype, device, ops: Operations):
        super().__init__()
        self.conv = ops.Conv2d(channels, channels, 3, padding=1, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, output_shape: torch.Size | None = None) -> torch.Tensor:
        # follow the skip connection's size so odd latent sizes round-trip
        size = tuple(output_shape[2:]) if output_shape is not None else (x.shape[2] * 2, x.shape[3] * 2)
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class Stage(nn.Sequential):
    """One `input_blocks.N` / `middle_block` / `output_blocks.N`: layers that take what they need."""

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        context: torch.Tensor | None,
        output_shape: torch.Size | None = None,
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, Upsample):
                x = layer(x, output_shape)
            else:
                x = layer(x)
        return x


def _apply_control(h: torch.Tensor, control: dict | None, name: str) -> torch.Tensor:
    """ControlNet residuals: ComfyUI passes lists per stage and each block pops the last entry."""
    if control is not None and control.get(name):
        ctrl = control[name].pop()
        if ctrl is not None:
            h = h + ctrl.to(h.dtype)
    return h


class UNetModel(nn.Module):
    def __init__(
        self,
        params: UNetParams,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        operations: Operations = PLAIN,
    ) -> None:
        super().__init__()
        p = params
        if len(p.transformer_depth) != sum(p.num_res_blocks):
            raise ValueError("transformer_depth needs one entry per input ResBlock")
        if len(p.transformer_depth_output) != sum(n + 1 for n in p.num_res_blocks):
            raise ValueError("transformer_depth_output needs one entry per output block")
        if p.transformer_depth_middle < 1:
            raise NotImplementedError("UNet middle blocks without a transformer are not supported")
        self.params = p
        self.dtype = dtype
        ops = operations
        kw = dict(dtype=dtype, device=device)
        mc = p.model_channels
        emb_dim = mc * 4
        self.time_embed = nn.Sequential(
            ops.Linear(mc, emb_dim, **kw), nn.SiLU(), ops.Linear(emb_dim, emb_dim, **kw)
        )
        if p.adm_in_channels is not None:
            self.label_emb = nn.Sequential(
                nn.Sequential(
                    ops.Linear(p.adm_in_channels, emb_dim, **kw),
                    nn.SiLU(),
                    ops.Linear(emb_dim, emb_dim, **kw),
                )
            )

        def transformer(ch: int, depth: int) -> SpatialTransformer:
            heads, dim_head = p.heads_for(ch)
            return SpatialTransformer(
                ch,
                heads,
                dim_head,
                depth,
                p.context_dim,
                p.use_linear_in_transformer,
                upcast=p.attn_upcast,
                operations=ops,
                **kw,
            )

        self.input_blocks = nn.ModuleList([Stage(ops.Conv2d(p.in_channels, mc, 3, padding=1, **kw))])
        skip_chans = [mc]
        ch = mc
        depth_in = list(p.transformer_depth)
        for level, mult in enumerate(p.channel_mult):
            for _ in range(p.num_res_blocks[level]):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, mult * mc, ops=ops, **kw)]
                ch = mult * mc
                depth = depth_in.pop(0)
                if depth > 0:
                    layers.append(transformer(ch, depth))
                self.input_blocks.append(Stage(*layers))
                skip_chans.append(ch)
            if level != len(p.channel_mult) - 1:
                self.input_blocks.append(Stage(Downsample(ch, ops=ops, **kw)))
                skip_chans.append(ch)

        self.middle_block = Stage(
            ResBlock(ch, emb_dim, ch, ops=ops, **kw),
            transformer(ch, p.transformer_depth_middle),
            ResBlock(ch, emb_dim, ch, ops=ops, **kw),
        )

        self.output_blocks = nn.ModuleList()
        depth_out = list(p.transformer_depth_output)
        for level, mult in reversed(list(enumerate(p.channel_mult))):
            for i in range(p.num_res_blocks[level] + 1):
                layers = [ResBlock(ch + skip_chans.pop(), emb_dim, mc * mult, ops=ops, **kw)]
                ch = mc * mult
                depth = depth_out.pop(0)
                if depth > 0:
                    layers.append(transformer(ch, depth))
                if level and i == p.num_res_blocks[level]:
                    layers.append(Upsample(ch, ops=ops, **kw))
                self.output_blocks.append(Stage(*layers))

        self.out = nn.Sequential(
            ops.GroupNorm(32, ch, **kw), nn.SiLU(), ops.Conv2d(mc, p.out_channels, 3, padding=1, **kw)
        )

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        control: dict | None = None,
        transformer_options: dict | None = None,
    ) -> torch.Tensor:
        """x: [B, in_channels, h, w] in the compute dtype; timesteps: [B]; context: [B, T, context_dim];
        y: [B, adm_in_channels] (SDXL). Returns [B, out_channels, h, w] in x's dtype."""
        if (y is not None) != (self.params.adm_in_channels is not None):
            raise ValueError("y must be given exactly when the model has adm_in_channels")
        patches = (transformer_options or {}).get("patches", {})
        dtype = x.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.params.model_channels).to(dtype))
        if y is not None:
            emb = emb + self.label_emb(y.to(dtype))
        if context is not None:
            context = context.to(dtype)

        hs: list[torch.Tensor] = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb, context)
            h = _apply_control(h, control, "input")
            for patch in patches.get("input_block_patch", ()):
                h = patch(h, transformer_options)
            hs.append(h)
            for patch in patches.get("input_block_patch_after_skip", ()):
                h = patch(h, transformer_options)
        h = self.middle_block(h, emb, context)
        h = _apply_control(h, control, "middle")
        for block in self.output_blocks:
            skip = _apply_control(hs.pop(), control, "output")
            for patch in patches.get("output_block_patch", ()):
                h, skip = patch(h, skip, transformer_options)
            h = torch.cat([h, skip], dim=1)
            h = block(h, emb, context, hs[-1].shape if hs else None)
        return self.out(h)
