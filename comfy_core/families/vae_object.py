"""The VAE object handed between nodes (ComfyUI's `comfy.sd.VAE`): pixels <-> latents with batching,
tiling, device placement and the [0, 1] <-> [-1, 1] pixel convention.

IMAGE tensors are `[B, H, W, C]` in [0, 1]; LATENT samples are unscaled VAE latents `[B, C, H/8, W/8]`
(the diffusion model applies its latent format's scale itself). The wrapped module only needs
`encode(x in [-1, 1]) -> latent` and `decode(latent) -> x in [-1, 1]`: the KL autoencoder, TAESD, or the
identity of `pixel_space`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import torch
from torch import nn

from comfy_core.memory.estimates import vae_decode_memory, vae_encode_memory
from comfy_core.memory.loading import compute_device, current_manager, load_for_inference
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.models import vae_tiled

log = logging.getLogger(__name__)

# Pixels per batch element the VAE works on at once before the batch is split (about one 1024x1024 image
# on the CPU; the memory manager will size this from free memory).
_PIXELS_PER_CHUNK = 1024 * 1024


class PixelSpace(nn.Module):
    """`pixel_space`: latents are the pixels themselves (for pixel-space diffusion models)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


class VAE:
    def __init__(
        self,
        model: nn.Module,
        *,
        latent_channels: int = 4,
        downscale_ratio: int = 8,
        dtype: torch.dtype = torch.float32,
        device: torch.device | None = None,
        source_dtypes: Mapping[str, torch.dtype] | None = None,
    ) -> None:
        self.first_stage_model = model.eval().requires_grad_(False)
        self.latent_channels = latent_channels
        self.downscale_ratio = downscale_ratio
        self.upscale_ratio = downscale_ratio
        self.output_channels = 3
        self.vae_dtype = dtype
        self.device = device or compute_device()
        self.output_device = torch.device("cpu")
        self.patcher = ModelPatcher(model, load_device=self.device, offload_device="cpu")
        self.source_dtypes = dict(source_dtypes or {})

    # -- ComfyUI's shape queries ------------------------------------------------------------------
    def spacial_compression_decode(self) -> int:
        return self.upscale_ratio

    def spacial_compression_encode(self) -> int:
        return self.downscale_ratio

    def temporal_compression_decode(self) -> int | None:
        return None

    def temporal_compression_encode(self) -> int | None:
        return None

    # -- pixel conventions ------------------------------------------------------------------------
    @staticmethod
    def process_input(image: torch.Tensor) -> torch.Tensor:
        return image * 2.0 - 1.0

    @staticmethod
    def process_output(image: torch.Tensor) -> torch.Tensor:
        return torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0)

    def vae_encode_crop_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Centre-crop `[B, H, W, C]` so H and W are multiples of the downscale ratio."""
        return vae_tiled.crop_pixels_to_multiple(pixels, self.downscale_ratio)

    def _chunk(self, pixels_per_item: int) -> int:
        return max(1, _PIXELS_PER_CHUNK // max(1, pixels_per_item))

    # -- decode / encode --------------------------------------------------------------------------
    def _with_tiled_fallback(
        self, whole: Callable[[], torch.Tensor], tiled: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        """Run `whole`; after an out-of-memory (models already unloaded by the manager), or when the
        manager asks for a lower footprint (an OOM retry), run the tiled variant instead."""
        manager = current_manager()
        if manager is None:
            return whole()
        if manager.low_footprint:
            return tiled()
        try:
            return whole()
        except Exception as ex:
            if not manager.is_oom(ex):
                raise
            log.warning("VAE ran out of memory; retrying with tiles")
            return tiled()

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Latent `[B, C, h, w]` -> IMAGE `[B, H, W, 3]` in [0, 1] (float32, CPU)."""
        return self._with_tiled_fallback(lambda: self._decode(samples), lambda: self.decode_tiled(samples))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """IMAGE `[B, H, W, C]` in [0, 1] -> latent `[B, C, H/8, W/8]` (float32, CPU)."""
        return self._with_tiled_fallback(lambda: self._encode(pixels), lambda: self.encode_tiled(pixels))

    @torch.inference_mode()
    def _decode(self, samples: torch.Tensor) -> torch.Tensor:
        h, w = samples.shape[-2:]
        per = self._chunk(h * w * self.upscale_ratio**2)
        outputs = []
        need = vae_decode_memory(
            (min(per, samples.shape[0]), *samples.shape[1:]), self.vae_dtype, self.upscale_ratio
        )
        with load_for_inference([self.patcher], memory_required=need) as (loaded,):
            model = loaded.module
            for start in range(0, samples.shape[0], per):
                z = samples[start : start + per].to(self.device, self.vae_dtype)
                out = model.decode(z).to(self.output_device).float()
                outputs.append(self.process_output(out))
        return torch.cat(outputs).movedim(1, -1)

    @torch.inference_mode()
    def _encode(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = self.vae_encode_crop_pixels(pixels)[..., :3]
        per = self._chunk(pixels.shape[1] * pixels.shape[2])
        outputs = []
        need = vae_encode_memory((min(per, pixels.shape[0]), *pixels.shape[1:]), self.vae_dtype)
        with load_for_inference([self.patcher], memory_required=need) as (loaded,):
            model = loaded.module
            for start in range(0, pixels.shape[0], per):
                x = pixels[start : start + per].movedim(-1, 1).to(self.device, self.vae_dtype)
                outputs.append(model.encode(self.process_input(x)).to(self.output_device).float())
        return torch.cat(outputs)

    @torch.inference_mode()
    def decode_tiled(
        self,
        samples: torch.Tensor,
        tile_x: int | None = None,
        tile_y: int | None = None,
        overlap: int | None = None,
        tile_t: int | None = None,
        overlap_t: int | None = None,
    ) -> torch.Tensor:
        """Tiled decode; tile sizes and overlap are in latent units (ComfyUI's defaults 64/64/16)."""
        tile_x = 64 if tile_x is None else tile_x
        tile_y = 64 if tile_y is None else tile_y
        overlap = 16 if overlap is None else overlap
        with load_for_inference([self.patcher]) as (loaded,):
            model = loaded.module

            def decode(z: torch.Tensor) -> torch.Tensor:
                return model.decode(z.to(self.device, self.vae_dtype)).float()

            out = vae_tiled.decode_tiled(
                decode, samples, tile_x, tile_y, overlap, self.upscale_ratio, self.output_device
            )
        return out.movedim(1, -1)

    @torch.inference_mode()
    def encode_tiled(
        self,
        pixels: torch.Tensor,
        tile_x: int | None = None,
        tile_y: int | None = None,
        overlap: int | None = None,
        tile_t: int | None = None,
        overlap_t: int | None = None,
    ) -> torch.Tensor:
        """Tiled encode; tile sizes and overlap are in pixels (ComfyUI's defaults 512/512/64)."""
        tile_x = 512 if tile_x is None else tile_x
        tile_y = 512 if tile_y is None else tile_y
        overlap = 64 if overlap is None else overlap
        pixels = self.vae_encode_crop_pixels(pixels)[..., :3].movedim(-1, 1)
        with load_for_inference([self.patcher]) as (loaded,):
            model = loaded.module

            def encode(x: torch.Tensor) -> torch.Tensor:
                return model.encode(x.to(self.device, self.vae_dtype)).float()

            return vae_tiled.encode_tiled(
                encode,
                pixels,
                tile_x,
                tile_y,
                overlap,
                self.downscale_ratio,
                self.latent_channels,
                self.output_device,
            )

    # -- weights ----------------------------------------------------------------------------------
    def get_sd(self) -> dict[str, torch.Tensor]:
        return self.first_stage_model.state_dict()

    def checkpoint_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights (patches applied) in the dtypes they were loaded from, for CheckpointSave."""
        with load_for_inference([self.patcher], device="cpu") as (loaded,):
            sd = loaded.module.state_dict()
            return {k: v.detach().to(self.source_dtypes.get(k, v.dtype)).clone() for k, v in sd.items()}
