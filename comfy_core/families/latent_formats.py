"""Latent formats: how VAE latents map into the diffusion model's space, and the linear latent->RGB
approximation used for cheap previews (factors from ComfyUI's latent_formats.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatentFormat:
    name: str
    scale_factor: float
    shift_factor: float = 0.0
    latent_channels: int = 4
    latent_rgb_factors: tuple[tuple[float, float, float], ...] = ()
    latent_rgb_factors_bias: tuple[float, float, float] | None = None
    taesd_decoder_name: str | None = None

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        """VAE latent -> model space."""
        return (latent - self.shift_factor) * self.scale_factor

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        """Model space -> VAE latent."""
        return latent / self.scale_factor + self.shift_factor

    def latent_to_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """Model-space latent [B, C, h, w] -> approximate RGB [B, h, w, 3] in [0, 1] (preview)."""
        factors = torch.tensor(self.latent_rgb_factors, dtype=latent.dtype, device=latent.device)
        rgb = torch.einsum("bchw,cr->bhwr", latent, factors)
        if self.latent_rgb_factors_bias is not None:
            rgb = rgb + torch.tensor(self.latent_rgb_factors_bias, dtype=latent.dtype, device=latent.device)
        return ((rgb + 1.0) / 2.0).clamp(0.0, 1.0)


SD15 = LatentFormat(
    name="SD15",
    scale_factor=0.18215,
    latent_rgb_factors=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    taesd_decoder_name="taesd_decoder",
)

SDXL = LatentFormat(
    name="SDXL",
    scale_factor=0.13025,
    latent_rgb_factors=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    latent_rgb_factors_bias=(0.1084, -0.0175, -0.0011),
    taesd_decoder_name="taesdxl_decoder",
)
