"""Latent nodes: empty latents, VAE encode/decode (plain, tiled, inpaint), noise masks, scaling, compositing,
cropping and batching (ComfyUI's nodes.py; LatentCompositeMasked from comfy_extras/nodes_mask.py).

LATENT is a dict with `samples` [B,C,h,w] and optional `noise_mask`, `batch_index`; other keys are kept:
every node returns a copy of its input dict with the keys it changes replaced.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from comfy_core.imageops import common_upscale, composite
from comfy_core.registry.v3 import io
from nodes._sd_common import MAX_RESOLUTION
from nodes.conditioning import crop_to_multiple, grey_out_masked

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
CROP_METHODS = ["disabled", "center"]


def _step8(default: int, lo: int, hi: int = MAX_RESOLUTION) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": default, "min": lo, "max": hi, "step": 8})


def _flatten_video(images: torch.Tensor) -> torch.Tensor:
    """Video decoders return [B, T, H, W, C]; IMAGE batches are flat."""
    if images.ndim == 5:
        return images.reshape(-1, images.shape[-3], images.shape[-2], images.shape[-1])
    return images


class _LatentNode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    CATEGORY = "latent"


class EmptyLatentImage(_LatentNode):
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "width": _step8(512, 16),
                "height": _step8(512, 16),
                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            }
        }

    def generate(self, width: int, height: int, batch_size: int = 1):
        return ({"samples": torch.zeros([batch_size, 4, height // 8, width // 8])},)


class VAEDecode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    CATEGORY = "latent"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT", {}), "vae": ("VAE", {})}}

    def decode(self, vae: Any, samples: dict):
        return (_flatten_video(vae.decode(samples["samples"])),)


class VAEEncode(_LatentNode):
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    def encode(self, vae: Any, pixels: torch.Tensor):
        return ({"samples": vae.encode(pixels[:, :, :, :3])},)


def _tiling_inputs(tile_step: int) -> dict[str, Any]:
    return {
        "tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": tile_step}),
        "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
        "temporal_size": ("INT", {"default": 64, "min": 8, "max": 4096, "step": 4}),
        "temporal_overlap": ("INT", {"default": 8, "min": 4, "max": 4096, "step": 4}),
    }


class VAEDecodeTiled:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    CATEGORY = "_for_testing"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",), **_tiling_inputs(32)}}

    def decode(self, vae, samples, tile_size, overlap=64, temporal_size=64, temporal_overlap=8):  # noqa: ANN001
        if tile_size < overlap * 4:
            overlap = tile_size // 4
        if temporal_size < temporal_overlap * 2:
            temporal_overlap = temporal_overlap // 2
        if vae.temporal_compression_decode() is None:
            temporal_size = temporal_overlap = None
        ratio = vae.spacial_compression_decode()
        images = vae.decode_tiled(
            samples["samples"],
            tile_x=tile_size // ratio,
            tile_y=tile_size // ratio,
            overlap=overlap // ratio,
            tile_t=temporal_size,
            overlap_t=temporal_overlap,
        )
        return (_flatten_video(images),)


class VAEEncodeTiled(_LatentNode):
    FUNCTION = "encode"
    CATEGORY = "_for_testing"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",), **_tiling_inputs(64)}}

    def encode(self, vae, pixels, tile_size, overlap, temporal_size=64, temporal_overlap=8):  # noqa: ANN001
        t = vae.encode_tiled(
            pixels[:, :, :, :3],
            tile_x=tile_size,
            tile_y=tile_size,
            overlap=overlap,
            tile_t=temporal_size,
            overlap_t=temporal_overlap,
        )
        return ({"samples": t},)


class VAEEncodeForInpaint(_LatentNode):
    FUNCTION = "encode"
    CATEGORY = "latent/inpaint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "pixels": ("IMAGE",),
                "vae": ("VAE",),
                "mask": ("MASK",),
                "grow_mask_by": ("INT", {"default": 6, "min": 0, "max": 64, "step": 1}),
            }
        }

    def encode(self, vae, pixels, mask, grow_mask_by=6):  # noqa: ANN001
        ratio = vae.downscale_ratio
        flat = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        mask = F.interpolate(flat, size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
        pixels, mask, h, w = crop_to_multiple(pixels.clone(), mask, ratio)
        if grow_mask_by == 0:
            grown = mask
        else:
            # grow the mask a few pixels so the inpainted region blends in latent space
            kernel = torch.ones((1, 1, grow_mask_by, grow_mask_by))
            padding = math.ceil((grow_mask_by - 1) / 2)
            grown = torch.clamp(F.conv2d(mask.round(), kernel, padding=padding), 0, 1)
        t = vae.encode(grey_out_masked(pixels, mask))
        return ({"samples": t, "noise_mask": grown[:, :, :h, :w].round()},)


class SetLatentNoiseMask(_LatentNode):
    FUNCTION = "set_mask"
    CATEGORY = "latent/inpaint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "mask": ("MASK",)}}

    def set_mask(self, samples: dict, mask: torch.Tensor):
        s = samples.copy()
        s["noise_mask"] = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        return (s,)


class LatentUpscale(_LatentNode):
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "samples": ("LATENT",),
                "upscale_method": (list(UPSCALE_METHODS),),
                "width": _step8(512, 0),
                "height": _step8(512, 0),
                "crop": (list(CROP_METHODS),),
            }
        }

    def upscale(self, samples: dict, upscale_method: str, width: int, height: int, crop: str):
        if width == 0 and height == 0:
            return (samples,)
        s = samples.copy()
        h, w = samples["samples"].shape[-2], samples["samples"].shape[-1]
        if width == 0:  # keep the aspect ratio from the given side; never below 64 pixels
            height = max(64, height)
            width = max(64, round(w * height / h))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(h * width / w))
        else:
            width, height = max(64, width), max(64, height)
        s["samples"] = common_upscale(samples["samples"], width // 8, height // 8, upscale_method, crop)
        return (s,)


class LatentUpscaleBy(_LatentNode):
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "samples": ("LATENT",),
                "upscale_method": (list(UPSCALE_METHODS),),
                "scale_by": ("FLOAT", {"default": 1.5, "min": 0.01, "max": 8.0, "step": 0.01}),
            }
        }

    def upscale(self, samples: dict, upscale_method: str, scale_by: float):
        s = samples.copy()
        width = round(samples["samples"].shape[-1] * scale_by)
        height = round(samples["samples"].shape[-2] * scale_by)
        s["samples"] = common_upscale(samples["samples"], width, height, upscale_method, "disabled")
        return (s,)


def feather_mask(piece: torch.Tensor, feather: int, x: int, y: int, to_h: int, to_w: int) -> torch.Tensor:
    """Linear ramps of `feather` latent pixels on the edges of `piece` that lie inside the destination."""
    mask = torch.ones_like(piece)
    h, w = piece.shape[2], piece.shape[3]
    for t in range(feather):
        ramp = (1.0 / feather) * (t + 1)
        if y != 0:
            mask[:, :, t : 1 + t, :] *= ramp
        if y + h < to_h:
            mask[:, :, h - 1 - t : h - t, :] *= ramp
        if x != 0:
            mask[:, :, :, t : 1 + t] *= ramp
        if x + w < to_w:
            mask[:, :, :, w - 1 - t : w - t] *= ramp
    return mask


class LatentComposite(_LatentNode):
    FUNCTION = "composite"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "samples_to": ("LATENT",),
                "samples_from": ("LATENT",),
                "x": _step8(0, 0),
                "y": _step8(0, 0),
                "feather": _step8(0, 0),
            }
        }

    def composite(self, samples_to: dict, samples_from: dict, x: int, y: int, feather: int = 0):
        x, y, feather = x // 8, y // 8, feather // 8
        out = samples_to.copy()
        dest = samples_to["samples"]
        s = dest.clone()
        piece = samples_from["samples"][:, :, : dest.shape[2] - y, : dest.shape[3] - x]
        region = (slice(None), slice(None), slice(y, y + piece.shape[2]), slice(x, x + piece.shape[3]))
        if feather == 0:
            s[region] = piece
        else:
            mask = feather_mask(piece, feather, x, y, dest.shape[2], dest.shape[3])
            s[region] = piece * mask + s[region] * (torch.ones_like(mask) - mask)
        out["samples"] = s
        return (out,)


class LatentCompositeMasked(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_mask"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentCompositeMasked",
            category="latent",
            inputs=[
                io.Latent.Input("destination"),
                io.Latent.Input("source"),
                io.Int.Input("x", default=0, min=0, max=MAX_RESOLUTION, step=8),
                io.Int.Input("y", default=0, min=0, max=MAX_RESOLUTION, step=8),
                io.Boolean.Input("resize_source", default=False),
                io.Mask.Input("mask", optional=True),
            ],
            outputs=[io.Latent.Output()],
        )

    @classmethod
    def execute(cls, destination, source, x, y, resize_source, mask=None) -> io.NodeOutput:  # noqa: ANN001
        output = destination.copy()
        dest = destination["samples"].clone()
        output["samples"] = composite(dest, source["samples"], x, y, mask, 8, resize_source)
        return io.NodeOutput(output)


class LatentBlend(_LatentNode):
    FUNCTION = "blend"
    CATEGORY = "_for_testing"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "samples1": ("LATENT",),
                "samples2": ("LATENT",),
                "blend_factor": ("FLOAT", {"default": 0.5, "min": 0, "max": 1, "step": 0.01}),
            }
        }

    def blend(self, samples1: dict, samples2: dict, blend_factor: float, blend_mode: str = "normal"):
        if blend_mode != "normal":
            raise ValueError(f"Unsupported blend mode: {blend_mode}")
        out = samples1.copy()
        a, b = samples1["samples"], samples2["samples"]
        if a.shape != b.shape:
            b = common_upscale(b, a.shape[3], a.shape[2], "bicubic", crop="center")
        out["samples"] = a * blend_factor + b * (1 - blend_factor)
        return (out,)


class LatentCrop(_LatentNode):
    FUNCTION = "crop"
    CATEGORY = "latent/transform"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "samples": ("LATENT",),
                "width": _step8(512, 64),
                "height": _step8(512, 64),
                "x": _step8(0, 0),
                "y": _step8(0, 0),
            }
        }

    def crop(self, samples: dict, width: int, height: int, x: int, y: int):
        s = samples.copy()
        t = samples["samples"]
        # the corner stays at least 8 latent pixels (64 px) inside the latent
        x = min(x // 8, t.shape[3] - 8)
        y = min(y // 8, t.shape[2] - 8)
        s["samples"] = t[:, :, y : y + height // 8, x : x + width // 8]
        return (s,)


def _masks_for_batch(masks: torch.Tensor, batch: int) -> torch.Tensor:
    if masks.shape[0] < batch:
        masks = masks.repeat(math.ceil(batch / masks.shape[0]), 1, 1, 1)[:batch]
    return masks


class LatentFromBatch(_LatentNode):
    FUNCTION = "frombatch"
    CATEGORY = "latent/batch"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "samples": ("LATENT",),
                "batch_index": ("INT", {"default": 0, "min": 0, "max": 63}),
                "length": ("INT", {"default": 1, "min": 1, "max": 64}),
            }
        }

    def frombatch(self, samples: dict, batch_index: int, length: int):
        s = samples.copy()
        s_in = samples["samples"]
        batch_index = min(s_in.shape[0] - 1, batch_index)
        length = min(s_in.shape[0] - batch_index, length)
        s["samples"] = s_in[batch_index : batch_index + length].clone()
        if "noise_mask" in samples:
            masks = samples["noise_mask"]
            if masks.shape[0] == 1:
                s["noise_mask"] = masks.clone()
            else:
                masks = _masks_for_batch(masks, s_in.shape[0])
                s["noise_mask"] = masks[batch_index : batch_index + length].clone()
        if "batch_index" not in s:
            s["batch_index"] = list(range(batch_index, batch_index + length))
        else:
            s["batch_index"] = samples["batch_index"][batch_index : batch_index + length]
        return (s,)


class RepeatLatentBatch(_LatentNode):
    FUNCTION = "repeat"
    CATEGORY = "latent/batch"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "amount": ("INT", {"default": 1, "min": 1, "max": 64})}}

    def repeat(self, samples: dict, amount: int):
        s = samples.copy()
        s_in = samples["samples"]
        s["samples"] = s_in.repeat((amount,) + (1,) * (s_in.ndim - 1))
        if "noise_mask" in samples and samples["noise_mask"].shape[0] > 1:
            masks = samples["noise_mask"]
            s["noise_mask"] = masks.repeat((amount,) + (1,) * (masks.ndim - 1))
        if "batch_index" in s:
            offset = max(s["batch_index"]) - min(s["batch_index"]) + 1
            s["batch_index"] = s["batch_index"] + [
                x + (i * offset) for i in range(1, amount) for x in s["batch_index"]
            ]
        return (s,)


NODE_CLASS_MAPPINGS = {
    "EmptyLatentImage": EmptyLatentImage,
    "VAEDecode": VAEDecode,
    "VAEEncode": VAEEncode,
    "VAEDecodeTiled": VAEDecodeTiled,
    "VAEEncodeTiled": VAEEncodeTiled,
    "VAEEncodeForInpaint": VAEEncodeForInpaint,
    "SetLatentNoiseMask": SetLatentNoiseMask,
    "LatentUpscale": LatentUpscale,
    "LatentUpscaleBy": LatentUpscaleBy,
    "LatentComposite": LatentComposite,
    "LatentCompositeMasked": LatentCompositeMasked,
    "LatentBlend": LatentBlend,
    "LatentCrop": LatentCrop,
    "LatentFromBatch": LatentFromBatch,
    "RepeatLatentBatch": RepeatLatentBatch,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "EmptyLatentImage": "Empty Latent Image",
    "VAEDecode": "VAE Decode",
    "VAEEncode": "VAE Encode",
    "VAEDecodeTiled": "VAE Decode (Tiled)",
    "VAEEncodeTiled": "VAE Encode (Tiled)",
    "VAEEncodeForInpaint": "VAE Encode (for Inpainting)",
    "SetLatentNoiseMask": "Set Latent Noise Mask",
    "LatentUpscale": "Upscale Latent",
    "LatentUpscaleBy": "Upscale Latent By",
    "LatentComposite": "Latent Composite",
    "LatentBlend": "Latent Blend",
    "LatentCrop": "Crop Latent",
    "LatentFromBatch": "Latent From Batch",
    "RepeatLatentBatch": "Repeat Latent Batch",
}
