"""`DiffusionWrapper`: a denoiser around the UNet, in the shape the samplers drive
(`comfy_core.sampling.protocols.DiffusionModel`).

apply_model: x (noisy latent, model space, fp32) and sigma -> denoised x0 (fp32). Inside: the sampling
parameterisation scales the input (`calculate_input`), maps sigma to the network timestep, runs the UNet in
the compute dtype and maps its eps/v output back to x0 (`calculate_denoised`).

extra_conds: one conditioning dict -> the keyword arguments of apply_model, as ComfyUI's BaseModel does:
`c_crossattn` (text tokens), SDXL's `y` (pooled text + sinusoidal size/crop/target or aesthetic embeddings,
Podell et al. 2023 "SDXL", section 2.2), and for inpainting models `c_concat` = [mask, masked-image latent].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from comfy_core.models.tensor_utils import common_upscale, resize_to_batch_size
from comfy_core.models.unet import UNetModel, timestep_embedding

# Latent of an all-zero (mid-grey) image for the SD VAE: the inpaint "masked image" when no mask is given.
BLANK_INPAINT_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)


@dataclass(frozen=True)
class WrapperTraits:
    """What the wrapper needs to know about its family (kept as data so models/ never imports families/)."""

    adm: str = "none"  # "none" | "sdxl" | "sdxl_refiner"
    inpaint: bool = False
    memory_usage_factor: float = 1.0
    latent_channels: int = 4


def _size_embedding(values: list[float]) -> torch.Tensor:
    """Concatenated 256-d sinusoidal embeddings of scalars -> [1, 256 * len(values)]."""
    return torch.cat([timestep_embedding(torch.tensor([float(v)]), 256) for v in values], dim=1)


class DiffusionWrapper(nn.Module):
    def __init__(
        self,
        diffusion_model: UNetModel,
        model_sampling: nn.Module,
        latent_format: Any,
        traits: WrapperTraits = WrapperTraits(),
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.diffusion_model = diffusion_model
        self.model_sampling = model_sampling
        self.latent_format = latent_format
        self.traits = traits
        self.compute_dtype = compute_dtype
        self.latent_channels = traits.latent_channels

    # -- dtype / latent format --------------------------------------------------------------------
    def get_dtype(self) -> torch.dtype:
        if self.compute_dtype is not None:
            return self.compute_dtype
        return next(self.diffusion_model.parameters()).dtype

    def process_latent_in(self, latent: torch.Tensor) -> torch.Tensor:
        return self.latent_format.process_in(latent)

    def process_latent_out(self, latent: torch.Tensor) -> torch.Tensor:
        return self.latent_format.process_out(latent)

    def memory_required(self, input_shape: tuple[int, ...] | torch.Size) -> float:
        """Activation bytes for one forward pass (ComfyUI's estimate for fused SDPA attention)."""
        area = input_shape[0] * math.prod(input_shape[2:])
        size = torch.finfo(self.get_dtype()).bits // 8
        return area * size * 0.01 * self.traits.memory_usage_factor * (1024 * 1024)

    # -- forward -----------------------------------------------------------------------------------
    def apply_model(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        c_crossattn: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        c_concat: torch.Tensor | None = None,
        transformer_options: dict | None = None,
        **extra: Any,
    ) -> torch.Tensor:
        ms = self.model_sampling
        xc = ms.calculate_input(sigma, x)
        if c_concat is not None:
            xc = torch.cat([xc, c_concat.to(device=xc.device, dtype=xc.dtype)], dim=1)
        dtype = self.get_dtype()
        device = xc.device
        xc = xc.to(dtype)
        t = ms.timestep(sigma).float()
        context = c_crossattn.to(device=device, dtype=dtype) if c_crossattn is not None else None
        if y is not None:
            y = y.to(device=device, dtype=dtype)
        out = self.diffusion_model(
            xc,
            t,
            context=context,
            y=y,
            control=extra.get("control"),
            transformer_options=dict(transformer_options or {}),
        )
        return ms.calculate_denoised(sigma, out.float(), x)

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.apply_model(*args, **kwargs)

    # -- conditioning ------------------------------------------------------------------------------
    def extra_conds(
        self,
        cond: dict,
        noise: torch.Tensor,
        latent_image: torch.Tensor | None,
        denoise_mask: torch.Tensor | None,
        device: torch.device | str,
    ) -> dict:
        """`latent_image` is in model space (after process_latent_in), as ComfyUI passes it."""
        out: dict[str, torch.Tensor] = {}
        if self.traits.inpaint:
            out["c_concat"] = self._inpaint_concat(cond, noise, latent_image, denoise_mask, device)
        adm = self._encode_adm(cond, noise)
        if adm is not None:
            out["y"] = adm
        cross_attn = cond.get("cross_attn")
        if cross_attn is not None:
            out["c_crossattn"] = cross_attn
        return out

    def _encode_adm(self, cond: dict, noise: torch.Tensor) -> torch.Tensor | None:
        kind = self.traits.adm
        if kind == "none":
            return None
        pooled = cond.get("pooled_output")
        if pooled is None:
            raise ValueError("SDXL conditioning needs 'pooled_output' (encode the prompt with an SDXL CLIP)")
        width = cond.get("width") or noise.shape[-1] * 8
        height = cond.get("height") or noise.shape[-2] * 8
        crop_w, crop_h = cond.get("crop_w", 0), cond.get("crop_h", 0)
        if kind == "sdxl":
            values = [
                height,
                width,
                crop_h,
                crop_w,
                cond.get("target_height", height),
                cond.get("target_width", width),
            ]
        elif kind == "sdxl_refiner":
            default_score = 2.5 if cond.get("prompt_type", "") == "negative" else 6.0
            values = [height, width, crop_h, crop_w, cond.get("aesthetic_score", default_score)]
        else:
            raise ValueError(f"unknown adm kind {kind!r}")
        flat = _size_embedding(values).repeat(pooled.shape[0], 1)
        return torch.cat([pooled.to(flat.device, flat.dtype), flat], dim=1)

    def _inpaint_concat(self, cond, noise, latent_image, denoise_mask, device) -> torch.Tensor:
        mask = cond.get("concat_mask", denoise_mask)
        image = cond.get("concat_latent_image")
        if image is None:
            image = latent_image
        else:
            image = self.process_latent_in(image)
        if image is not None:
            if image.shape[1:] != noise.shape[1:]:
                image = common_upscale(image, noise.shape[-1], noise.shape[-2], "bilinear", "center")
            image = resize_to_batch_size(image, noise.shape[0])
        if mask is None or image is None:
            blank = torch.ones_like(noise)
            for c, v in enumerate(BLANK_INPAINT_LATENT):
                blank[:, c] *= v
            return torch.cat([torch.ones_like(noise)[:, :1], blank], dim=1).to(device)
        if mask.ndim == noise.ndim:
            mask = mask[:, :1]
        mask = mask.reshape((-1, 1) + tuple(mask.shape[-2:]))
        if mask.shape[-2:] != noise.shape[-2:]:
            mask = common_upscale(mask, noise.shape[-1], noise.shape[-2], "bilinear", "center")
        mask = resize_to_batch_size(mask.round(), noise.shape[0])
        return torch.cat([mask.to(device), image.to(device)], dim=1)
