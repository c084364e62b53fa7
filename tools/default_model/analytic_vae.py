"""A constructed KL autoencoder in SD1's exact layout whose encoder is a colour thumbnail, plus a learned
decoder trunk.

Why constructed: SD1's VAE normalises with GroupNorm(32 groups). At the narrow widths a CPU can train
(32-64 channels at full resolution) a group holds 1-2 channels, so a flat colour cannot pass the final
norm (a group's mean and scale are removed), and a trained decoder has to discover a hard nonlinear code
-- far beyond a one-hour CPU budget. Two exact tricks make the norms transparent instead:

* mirrored channels: a group holding (x, -x) (or (x, -x, y, -y)) has mean exactly 0;
* tiny amplitude: with |x| ~ 1e-4 the group variance (<= 1e-8) is far below the norm's eps (1e-6), so
  GroupNorm is x / sqrt(var + eps) ~= x * 1000 (a per-image gain within 0.5% of constant).
After the norm, SiLU is taken around +4 and read as silu(4 + n) - silu(4 - n), whose even error terms cancel.

Encoder (frozen): 2x2 average-pool strides give the 8x8 block means of R, G, B and of the luminance's
top-minus-bottom difference -> 4 latent channels at 1/8 resolution. Residual branches are switched off
(conv2 = 0), mid attention off (proj_out = 0).
Decoder: conv_in .. up.1 (128 channels, ordinary O(1) activations) start as a smooth upsampler of the
thumbnail and are trained to sharpen it; up.0 and the output head (mirror pairs at tiny amplitude through
norm_out) are frozen and fitted by least squares to map the trunk's first three channels to RGB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from comfy_core.models.vae import AutoencoderKL, VAEParams

TINY = 1e-4
EPS = 1e-6  # GroupNorm eps of the SD VAE
SILU_SHIFT = 4.0
N_LATENT = 4


def analytic_vae_params() -> VAEParams:
    """ch 32, widths 64 at full resolution (2 per norm group) and 128 below (4 per group), one ResBlock."""
    return VAEParams(ch=32, ch_mult=(2, 4, 4, 4), num_res_blocks=1, z_channels=4, embed_dim=4)


def _zero(m: torch.nn.Module) -> None:
    for p in m.parameters():
        torch.nn.init.zeros_(p)


def _switch_off_branches(module: torch.nn.Module) -> None:
    for name, m in module.named_modules():
        if name.endswith(("conv2", "attn_1.proj_out")):
            _zero(m)


def _identity_1x1(conv: torch.nn.Conv2d, pairs: list[tuple[int, int, float]]) -> None:
    _zero(conv)
    with torch.no_grad():
        for out_c, in_c, gain in pairs:
            conv.weight[out_c, in_c, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = gain


@torch.no_grad()
def build(vae: AutoencoderKL) -> AutoencoderKL:
    """Write the constructed weights into `vae` (built with `analytic_vae_params()`, any init)."""
    enc, dec = vae.encoder, vae.decoder
    for norm in [m for m in vae.modules() if isinstance(m, torch.nn.GroupNorm)]:
        torch.nn.init.ones_(norm.weight)
        torch.nn.init.zeros_(norm.bias)
    _switch_off_branches(vae)

    # ---- encoder: mirrored tiny copies of R, G, B and luminance Y in channels 0..7
    _zero(enc.conv_in)
    for k, (plus, minus) in enumerate(((0, 1), (2, 3), (4, 5))):
        enc.conv_in.weight[plus, k, 1, 1] = TINY
        enc.conv_in.weight[minus, k, 1, 1] = -TINY
    enc.conv_in.weight[6, :, 1, 1] = TINY / 3
    enc.conv_in.weight[7, :, 1, 1] = -TINY / 3
    last = len(enc.down) - 1
    for i, level in enumerate(enc.down):
        block = level.block[0]
        if not isinstance(block.nin_shortcut, torch.nn.Identity):
            _identity_1x1(block.nin_shortcut, [(c, c, 1.0) for c in range(8)])
        if i == last:
            continue
        conv = level.downsample.conv
        _zero(conv)
        for c in range(8):
            if i == last - 1 and c >= 6:  # last stride: top-minus-bottom of the (mirrored) luminance
                conv.weight[c, c, 0, 0:2] = 0.25
                conv.weight[c, c, 1, 0:2] = -0.25
            else:
                conv.weight[c, c, 0:2, 0:2] = 0.25
    enc.norm_out.bias[:8] = SILU_SHIFT
    _zero(enc.conv_out)
    gain = 1.0 / (2.0 * TINY / EPS**0.5 * _silu_slope(SILU_SHIFT))  # latent ~ the pooled values
    for k in range(N_LATENT):
        enc.conv_out.weight[k, 2 * k, 1, 1] = gain
        enc.conv_out.weight[k, 2 * k + 1, 1, 1] = -gain
    enc.conv_out.bias[N_LATENT:] = -10.0  # log-variance: a near-deterministic posterior
    _identity_1x1(vae.quant_conv, [(c, c, 1.0) for c in range(2 * N_LATENT)])
    vae.quant_conv.bias.zero_()

    # ---- decoder trunk: the four latent channels, smoothly upsampled, in channels 0..3
    _identity_1x1(vae.post_quant_conv, [(c, c, 1.0) for c in range(N_LATENT)])
    _identity_1x1(dec.conv_in, [(c, c, 1.0) for c in range(N_LATENT)])
    blur = torch.tensor([1.0, 2.0, 1.0])
    blur = (blur[:, None] * blur[None, :]) / 16.0
    for level in dec.up:
        for block in level.block:
            if not isinstance(block.nin_shortcut, torch.nn.Identity) and block is not dec.up[0].block[0]:
                _identity_1x1(block.nin_shortcut, [(c, c, 1.0) for c in range(N_LATENT)])
        if hasattr(level, "upsample"):
            conv = level.upsample.conv
            _zero(conv)
            for c in range(N_LATENT):
                conv.weight[c, c] = blur
    # ---- decoder head (frozen): mirrored tiny R, G, B through norm_out, read back by conv_out
    head = dec.up[0].block[0].nin_shortcut
    _identity_1x1(head, [(2 * k, k, TINY) for k in range(3)] + [(2 * k + 1, k, -TINY) for k in range(3)])
    dec.norm_out.bias[:6] = SILU_SHIFT
    _zero(dec.conv_out)
    gain = 1.0 / (2.0 * TINY / EPS**0.5 * _silu_slope(SILU_SHIFT))
    for k in range(3):
        dec.conv_out.weight[k, 2 * k, 1, 1] = gain
        dec.conv_out.weight[k, 2 * k + 1, 1, 1] = -gain
    return vae


def _silu_slope(x: float) -> float:
    s = 1.0 / (1.0 + torch.exp(torch.tensor(-x)).item())
    return s * (1.0 + x * (1.0 - s))


def frozen_parameters(vae: AutoencoderKL) -> list[torch.nn.Parameter]:
    """Everything but the decoder trunk (post_quant_conv, conv_in, mid, up.1..up.N)."""
    trunk = {id(p) for p in trunk_parameters(vae)}
    return [p for p in vae.parameters() if id(p) not in trunk]


def trunk_parameters(vae: AutoencoderKL) -> list[torch.nn.Parameter]:
    dec = vae.decoder
    mods = [vae.post_quant_conv, dec.conv_in, dec.mid] + list(dec.up)[1:]
    return [p for m in mods for p in m.parameters()]


def decode_trunk(vae: AutoencoderKL, z: torch.Tensor) -> torch.Tensor:
    """The decoder up to the output of up.1 (full resolution, 128 channels)."""
    dec = vae.decoder
    h = dec.mid(dec.conv_in(vae.post_quant_conv(z)))
    for level in reversed(list(dec.up)[1:]):
        h = level(h)
    return h


def decode_head(vae: AutoencoderKL, h: torch.Tensor) -> torch.Tensor:
    """up.0 + output head; up.0's residual branches are off (conv2 = 0), so this equals the module path."""
    dec = vae.decoder
    x = dec.up[0].block[0].nin_shortcut(h)
    return dec.conv_out(F.silu(dec.norm_out(x)))


@torch.no_grad()
def fit_head(vae: AutoencoderKL, images: torch.Tensor) -> float:
    """Least-squares gains/biases of conv_out's centre taps so the frozen head maps the trunk's RGB
    channels back to pixels exactly on `images` (in [-1, 1]); returns the remaining mean abs error."""
    dec = vae.decoder
    head = dec.up[0].block[0].nin_shortcut
    h = torch.zeros(images.shape[0], head.in_channels, *images.shape[2:])
    h[:, :3] = images
    feats = F.silu(dec.norm_out(head(h)))
    for k in range(3):
        a = (feats[:, 2 * k] - feats[:, 2 * k + 1]).reshape(-1)
        design = torch.stack([a, torch.ones_like(a)], 1).double()
        sol = torch.linalg.lstsq(design, images[:, k].reshape(-1, 1).double()).solution.float()
        dec.conv_out.weight[k, 2 * k, 1, 1] = sol[0, 0]
        dec.conv_out.weight[k, 2 * k + 1, 1, 1] = -sol[0, 0]
        dec.conv_out.bias[k] = sol[1, 0]
    return float((decode_head(vae, h) - images).abs().mean())


@torch.no_grad()
def encode_fast(vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
    """The encoder's exact result computed without running its (inactive) full-resolution layers:
    pooled mirrored channels -> norm_out -> SiLU -> conv_out -> quant_conv -> posterior mean."""
    enc = vae.encoder
    x = F.conv2d(images, enc.conv_in.weight[:8], enc.conv_in.bias[:8], padding=1)
    for level in list(enc.down)[:-1]:
        w = level.downsample.conv.weight[:8, :8]
        x = F.conv2d(F.pad(x, (0, 1, 0, 1)), w, level.downsample.conv.bias[:8], stride=2)
    h = torch.zeros(x.shape[0], enc.norm_out.num_channels, *x.shape[2:])
    h[:, :8] = x
    moments = vae.quant_conv(enc.conv_out(F.silu(enc.norm_out(h))))
    return moments[:, : vae.params.embed_dim]
