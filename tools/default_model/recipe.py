"""The default model's recipe: architecture sizes and training hyper-parameters, as one frozen record.

Everything here is written into the checkpoint's metadata (`comfy_core.default_model.recipe`), so a file
names exactly how it was made.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from comfy_core.models.unet import UNetParams
from comfy_core.models.vae import VAEParams
from comfy_core.text.clip_model import ClipTextParams

RECIPE_VERSION = "comfy-core-shapes-recipe-5"
LATENT_SCALE = 0.18215  # SD1's latent format; the VAE is normalised so that latent * scale has unit std


def unet_params(model_channels: int = 32, context_dim: int = 128) -> UNetParams:
    """SD1 layout at reduced size: 4 levels, one ResBlock per level, 8 heads, conv proj_in/proj_out,
    cross-attention at the 8x8 and 4x4 levels and in the middle (16x16 latents for 128x128 images)."""
    return UNetParams(
        model_channels=model_channels,
        num_res_blocks=(1, 1, 1, 1),
        channel_mult=(1, 1, 2, 2),
        transformer_depth=(0, 1, 1, 0),
        transformer_depth_output=(0, 0, 1, 1, 1, 1, 0, 0),
        transformer_depth_middle=1,
        context_dim=context_dim,
        num_heads=8,
        num_head_channels=-1,
        use_linear_in_transformer=False,
    )


def vae_params() -> VAEParams:
    """KL autoencoder, 8x downsampling to 4 latent channels; 64 channels at full resolution, 128 below
    (see tools/default_model/analytic_vae.py for why and how its norms are made transparent)."""
    from tools.default_model.analytic_vae import analytic_vae_params

    return analytic_vae_params()


def text_params(width: int = 128, layers: int = 3) -> ClipTextParams:
    """CLIP-L layout (HF names, quick_gelu, 77 positions, the real 49408-token vocabulary), narrow."""
    return ClipTextParams(width=width, layers=layers, heads=max(1, width // 64), mlp_width=4 * width)


@dataclass(frozen=True)
class Recipe:
    seed: int = 20240611
    threads: int = 2
    # autoencoder
    vae_steps_low: int = 250  # decoder trunk at 64x64 (same scenes, half scale)
    vae_batch_low: int = 8
    vae_steps_full: int = 250  # at 128x128
    vae_batch_full: int = 2
    vae_lr: float = 3e-4
    # latents for the diffusion stage
    latent_images: int = 6000
    # UNet + text encoder
    diffusion_steps: int = 8000
    diffusion_batch: int = 32
    diffusion_lr: float = 1e-3
    text_lr: float = 1e-3
    warmup: int = 60
    caption_dropout: float = 0.1
    max_loss_weight: float = 50.0
    offset_noise: float = 0.25
    # low-resolution noise (std at 2x2 and at 4x4, bilinearly upsampled to the latent): hides where the
    # shape is at noise levels where white noise alone would leave it visible, so position comes from text
    pyramid_noise_2: float = 0.35
    pyramid_noise_4: float = 0.25
    # share of each batch whose timestep is drawn from the top quarter of the schedule (composition is
    # decided there; the rest is uniform over all 1000)
    high_noise_share: float = 0.3
    ema_decay: float = 0.995
    unet_channels: int = 64
    text_width: int = 64
    text_layers: int = 4
    # std of the caption tokens' embedding rows at initialisation (the rest of the table keeps CLIP's 0.02):
    # distinct words must give distinct contexts from the start, or the UNet has nothing to tell
    # "left" from "right" by and the text encoder never gets a gradient that separates them
    token_init_std: float = 1.0
    # conv_in output channels that start as constants (zero kernel, bias +-1): convolutions with zero
    # padding turn a constant field into "where am I" features at every level (at 2x2 each cell is a
    # different corner), which the UNet needs before "in the top left" can mean anything to it
    position_channels: int = 8
    # extra eps-loss weight on the latent pixels the shape covers (dilated by one latent pixel), with each
    # sample's weights renormalised to mean 1: the shape is a small part of the picture, and its colour,
    # outline and place are what the caption has to steer
    foreground_weight: float = 4.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def scaled(self, factor: float) -> Recipe:
        """A shorter (or longer) run with the same shape, for quick checks."""
        from dataclasses import replace

        def n(v: int) -> int:
            return max(2, int(v * factor))

        return replace(
            self,
            vae_steps_low=n(self.vae_steps_low),
            vae_steps_full=n(self.vae_steps_full),
            latent_images=max(64, int(self.latent_images * factor)),
            diffusion_steps=n(self.diffusion_steps),
            warmup=n(self.warmup),
        )
