"""A constructed, frozen output head for the narrow UNet, so its eps prediction can carry global offsets.

SD1's UNet ends with GroupNorm(32, model_channels) -> SiLU -> conv. At 64 channels a norm group holds two
channels, so a prediction's per-channel mean over the image -- exactly what a caption adds ("on a blue
background" shifts the whole latent) -- is removed there and the text can barely steer the picture. The
same exact trick as the autoencoder's head (tools/default_model/analytic_vae.py) makes the norm
transparent: the last output block is reduced to its 1x1 skip connection, which writes each of the four
eps channels of the previous block as a mirrored pair (x, -x) at 1e-4 amplitude (group mean exactly 0,
group variance far below the norm's eps 1e-5, so the norm is a fixed gain); `out.2` reads each pair back
as silu(4 + n) - silu(4 - n). Everything before that block is trained as usual and predicts eps in
channels 0..3 of output_blocks[-2].
"""

from __future__ import annotations

import math

import torch

from comfy_core.models.unet import UNetModel

TINY = 1e-4
NORM_EPS = 1e-5  # torch's GroupNorm default, used by the UNet's norms
SILU_SHIFT = 4.0


def _silu_slope(x: float) -> float:
    s = 1.0 / (1.0 + math.exp(-x))
    return s * (1.0 + x * (1.0 - s))


def head_modules(unet: UNetModel) -> list[torch.nn.Module]:
    return [unet.output_blocks[-1], unet.out]


@torch.no_grad()
def build_head(unet: UNetModel) -> None:
    last = unet.output_blocks[-1][0]
    if len(unet.output_blocks[-1]) != 1 or isinstance(last.skip_connection, torch.nn.Identity):
        raise ValueError("the last output block must be a lone ResBlock with a 1x1 skip convolution")
    out_channels = unet.params.out_channels
    if 2 * out_channels > unet.params.model_channels:
        raise ValueError("model_channels too small for mirrored output pairs")
    for p in last.out_layers[3].parameters():
        p.zero_()
    skip = last.skip_connection
    skip.weight.zero_()
    skip.bias.zero_()
    for k in range(out_channels):
        skip.weight[2 * k, k, 0, 0] = TINY
        skip.weight[2 * k + 1, k, 0, 0] = -TINY
    norm, conv = unet.out[0], unet.out[2]
    norm.weight.fill_(1.0)
    norm.bias.zero_()
    norm.bias[: 2 * out_channels] = SILU_SHIFT
    conv.weight.zero_()
    conv.bias.zero_()
    gain = 1.0 / (2.0 * TINY / NORM_EPS**0.5 * _silu_slope(SILU_SHIFT))
    for k in range(out_channels):
        conv.weight[k, 2 * k, 1, 1] = gain
        conv.weight[k, 2 * k + 1, 1, 1] = -gain
    for m in head_modules(unet):
        m.requires_grad_(False)
