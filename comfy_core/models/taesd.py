"""TAESD: the tiny distilled autoencoder used for live previews (madebyollin/taesd).

Files `taesd_encoder.safetensors` / `taesd_decoder.safetensors` (and the taesdxl_* pair) hold bare
`nn.Sequential` indices ("1.weight", "3.conv.0.weight", ...), so the encoder and decoder below are
Sequentials with the same index layout. TAESD works on *scaled* latents (VAE latent * scale factor), which is
what a sampler's x0 already is; `vae_scale`/`vae_shift` let it stand in for a full VAE on unscaled latents.
"""

from __future__ import annotations

import torch
from torch import nn

from comfy_core.ops import PLAIN, Operations


def _conv(cin: int, cout: int, ops: Operations, dtype, device, **kw) -> nn.Module:
    return ops.Conv2d(cin, cout, 3, padding=1, dtype=dtype, device=device, **kw)


class Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3  # soft clamp to [-3, 3]


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, ops: Operations, dtype=None, device=None):
        super().__init__()
        self.conv = nn.Sequential(
            _conv(cin, cout, ops, dtype, device),
            nn.ReLU(),
            _conv(cout, cout, ops, dtype, device),
            nn.ReLU(),
            _conv(cout, cout, ops, dtype, device),
        )
        self.skip = (
            ops.Conv2d(cin, cout, 1, bias=False, dtype=dtype, device=device) if cin != cout else nn.Identity()
        )
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.conv(x) + self.skip(x))


def taesd_encoder(
    latent_channels: int = 4, ops: Operations = PLAIN, dtype=None, device=None
) -> nn.Sequential:
    """[B, 3, H, W] in [0, 1] -> scaled latent [B, C, H/8, W/8]."""
    kw = dict(ops=ops, dtype=dtype, device=device)
    layers: list[nn.Module] = [_conv(3, 64, **kw), Block(64, 64, **kw)]
    for _ in range(3):
        layers += [
            _conv(64, 64, stride=2, bias=False, **kw),
            Block(64, 64, **kw),
            Block(64, 64, **kw),
            Block(64, 64, **kw),
        ]
    layers.append(_conv(64, latent_channels, **kw))
    return nn.Sequential(*layers)


def taesd_decoder(
    latent_channels: int = 4, ops: Operations = PLAIN, dtype=None, device=None
) -> nn.Sequential:
    """Scaled latent [B, C, h, w] -> image [B, 3, 8h, 8w] roughly in [0, 1]."""
    kw = dict(ops=ops, dtype=dtype, device=device)
    layers: list[nn.Module] = [Clamp(), _conv(latent_channels, 64, **kw), nn.ReLU()]
    for _ in range(3):
        layers += [
            Block(64, 64, **kw),
            Block(64, 64, **kw),
            Block(64, 64, **kw),
            nn.Upsample(scale_factor=2),
            _conv(64, 64, bias=False, **kw),
        ]
    layers += [Block(64, 64, **kw), _conv(64, 3, **kw)]
    return nn.Sequential(*layers)


class TAESD(nn.Module):
    """Encoder + decoder pair in the VAE interface: pixels in [-1, 1] <-> unscaled latents.

    `vae_scale` is the family's latent scale factor (0.18215 SD1, 0.13025 SDXL) when TAESD replaces the VAE;
    1.0 when decoding sampler x0 for previews.
    """

    def __init__(
        self,
        latent_channels: int = 4,
        vae_scale: float = 1.0,
        vae_shift: float = 0.0,
        dtype=None,
        device=None,
        operations: Operations = PLAIN,
    ) -> None:
        super().__init__()
        self.taesd_encoder = taesd_encoder(latent_channels, operations, dtype, device)
        self.taesd_decoder = taesd_decoder(latent_channels, operations, dtype, device)
        self.vae_scale = nn.Parameter(torch.tensor(float(vae_scale)), requires_grad=False)
        self.vae_shift = nn.Parameter(torch.tensor(float(vae_shift)), requires_grad=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.taesd_encoder(x * 0.5 + 0.5) / self.vae_scale.to(x.dtype) + self.vae_shift.to(x.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        scaled = (z - self.vae_shift.to(z.dtype)) * self.vae_scale.to(z.dtype)
        return self.taesd_decoder(scaled).sub(0.5).mul(2)


def taesd_latent_channels(sd: dict[str, torch.Tensor]) -> int:
    """Latent channels of a bare encoder ("14.weight") or decoder ("1.weight") file."""
    if "14.weight" in sd:
        return int(sd["14.weight"].shape[0])
    if "1.weight" in sd:
        return int(sd["1.weight"].shape[1])
    raise ValueError("not a TAESD encoder/decoder state dict")
