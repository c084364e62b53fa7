"""The KL autoencoder of SD1.x/SD2.x/SDXL (CompVis `AutoencoderKL`, keys under `first_stage_model.`).

Encoder: conv_in -> per level ResnetBlocks (+ strided Downsample) -> mid (ResBlock, single-head self-attention,
ResBlock) -> GroupNorm/SiLU/conv_out to 2*z channels (mean | logvar); quant_conv 1x1. Decoder mirrors it with
nearest-neighbour Upsample. Encoding returns the posterior *mean* (the mode), as ComfyUI's VAEEncode does, so
encoding is deterministic. Esser et al. 2021 / Rombach et al. 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from comfy_core.ops import PLAIN, Operations
from comfy_core.ops.attention import attention


@dataclass(frozen=True)
class VAEParams:
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 4
    embed_dim: int = 4
    use_quant_conv: bool = True

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


def _norm(ch: int, dtype, device, ops: Operations) -> nn.Module:
    return ops.GroupNorm(32, ch, eps=1e-6, affine=True, dtype=dtype, device=device)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dtype, device, ops: Operations):
        super().__init__()
        self.norm1 = _norm(cin, dtype, device, ops)
        self.conv1 = ops.Conv2d(cin, cout, 3, padding=1, dtype=dtype, device=device)
        self.norm2 = _norm(cout, dtype, device, ops)
        self.conv2 = ops.Conv2d(cout, cout, 3, padding=1, dtype=dtype, device=device)
        if cin != cout:
            self.nin_shortcut = ops.Conv2d(cin, cout, 1, dtype=dtype, device=device)
        else:
            self.nin_shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch: int, dtype, device, ops: Operations):
        super().__init__()
        self.norm = _norm(ch, dtype, device, ops)
        self.q = ops.Conv2d(ch, ch, 1, dtype=dtype, device=device)
        self.k = ops.Conv2d(ch, ch, 1, dtype=dtype, device=device)
        self.v = ops.Conv2d(ch, ch, 1, dtype=dtype, device=device)
        self.proj_out = ops.Conv2d(ch, ch, 1, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)

        def tokens(t: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, H*W, C]
            return t.flatten(2).transpose(1, 2)

        out = attention(tokens(self.q(n)), tokens(self.k(n)), tokens(self.v(n)), heads=1)
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, ch: int, dtype, device, ops: Operations):
        super().__init__()
        self.conv = ops.Conv2d(ch, ch, 3, stride=2, padding=0, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric pad, as trained


class Upsample(nn.Module):
    def __init__(self, ch: int, dtype, device, ops: Operations):
        super().__init__()
        self.conv = ops.Conv2d(ch, ch, 3, padding=1, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """down.N / up.N: `block` ResnetBlocks, an (empty) `attn` list, and the resampler if any."""

    def __init__(self, blocks: list[nn.Module], resample: nn.Module | None, name: str):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList()
        if resample is not None:
            setattr(self, name, resample)
        self.resample_name = name if resample is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.block:
            x = b(x)
        if self.resample_name is not None:
            x = getattr(self, self.resample_name)(x)
        return x


class Mid(nn.Module):
    def __init__(self, ch: int, dtype, device, ops: Operations):
        super().__init__()
        self.block_1 = ResnetBlock(ch, ch, dtype, device, ops)
        self.attn_1 = AttnBlock(ch, dtype, device, ops)
        self.block_2 = ResnetBlock(ch, ch, dtype, device, ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, p: VAEParams, dtype, device, ops: Operations):
        super().__init__()
        self.conv_in = ops.Conv2d(p.in_channels, p.ch, 3, padding=1, dtype=dtype, device=device)
        cin_mult = (1,) + tuple(p.ch_mult)
        self.down = nn.ModuleList()
        block_in = p.ch
        for i, mult in enumerate(p.ch_mult):
            block_in = p.ch * cin_mult[i]
            block_out = p.ch * mult
            blocks = []
            for _ in range(p.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, dtype, device, ops))
                block_in = block_out
            last = i == len(p.ch_mult) - 1
            self.down.append(
                Level(blocks, None if last else Downsample(block_in, dtype, device, ops), "downsample")
            )
        self.mid = Mid(block_in, dtype, device, ops)
        self.norm_out = _norm(block_in, dtype, device, ops)
        self.conv_out = ops.Conv2d(block_in, 2 * p.z_channels, 3, padding=1, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, p: VAEParams, dtype, device, ops: Operations):
        super().__init__()
        block_in = p.ch * p.ch_mult[-1]
        self.conv_in = ops.Conv2d(p.z_channels, block_in, 3, padding=1, dtype=dtype, device=device)
        self.mid = Mid(block_in, dtype, device, ops)
        levels: list[Level] = []
        for i in reversed(range(len(p.ch_mult))):
            block_out = p.ch * p.ch_mult[i]
            blocks = []
            for _ in range(p.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, block_out, dtype, device, ops))
                block_in = block_out
            levels.insert(0, Level(blocks, Upsample(block_in, dtype, device, ops) if i else None, "upsample"))
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(block_in, dtype, device, ops)
        self.conv_out = ops.Conv2d(block_in, p.out_ch, 3, padding=1, dtype=dtype, device=device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """encode: pixels in [-1, 1], [B, 3, H, W] -> latent mean [B, embed_dim, H/8, W/8]; decode: the inverse."""

    def __init__(
        self,
        params: VAEParams = VAEParams(),
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        operations: Operations = PLAIN,
    ) -> None:
        super().__init__()
        p = params
        self.params = p
        self.encoder = Encoder(p, dtype, device, operations)
        self.decoder = Decoder(p, dtype, device, operations)
        if p.use_quant_conv:
            self.quant_conv = operations.Conv2d(
                2 * p.z_channels, 2 * p.embed_dim, 1, dtype=dtype, device=device
            )
            self.post_quant_conv = operations.Conv2d(p.embed_dim, p.z_channels, 1, dtype=dtype, device=device)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        moments = self.encoder(x)
        if self.params.use_quant_conv:
            moments = self.quant_conv(moments)
        return moments[:, : self.params.embed_dim]  # posterior mean; logvar is discarded

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.params.use_quant_conv:
            z = self.post_quant_conv(z)
        return self.decoder(z)


def vae_params_from_state_dict(sd: dict[str, torch.Tensor], prefix: str = "") -> VAEParams:
    """Infer widths/depths from tensor shapes (works on meta tensors and reduced-size files)."""

    def shape(name: str) -> tuple[int, ...]:
        return tuple(sd[prefix + name].shape)

    ch = shape("encoder.conv_in.weight")[0]
    levels = 0
    while f"{prefix}encoder.down.{levels}.block.0.conv1.weight" in sd:
        levels += 1
    if levels == 0:
        raise ValueError("no encoder.down.* blocks: not a KL autoencoder state dict")
    ch_mult = tuple(shape(f"encoder.down.{i}.block.0.conv1.weight")[0] // ch for i in range(levels))
    nrb = 0
    while f"{prefix}encoder.down.0.block.{nrb}.conv1.weight" in sd:
        nrb += 1
    z = shape("decoder.conv_in.weight")[1]
    quant = prefix + "post_quant_conv.weight" in sd
    return VAEParams(
        ch=ch,
        ch_mult=ch_mult,
        num_res_blocks=nrb,
        in_channels=shape("encoder.conv_in.weight")[1],
        out_ch=shape("decoder.conv_out.weight")[0],
        z_channels=z,
        embed_dim=shape("post_quant_conv.weight")[0] if quant else z,
        use_quant_conv=quant,
    )
