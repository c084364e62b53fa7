"""Text encoding and conditioning nodes (ComfyUI's nodes.py and comfy_extras/nodes_clip_sdxl.py).

CONDITIONING is a list of `[tensor, options dict]`; nodes never mutate their input: entries are copied and
the options dict is shallow-copied before values are set.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from comfy_core.registry.v3 import io
from nodes._sd_common import MAX_RESOLUTION

log = logging.getLogger(__name__)

CLIP_MISSING = (
    "ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node your checkpoint "
    "does not contain a valid clip or text encoder model."
)


def conditioning_set_values(conditioning: list, values: dict[str, Any], append: bool = False) -> list:
    """Copy of `conditioning` with `values` set in every entry's options (`append` adds to old values)."""
    out = []
    for tensor, options in conditioning:
        opts = options.copy()
        for key, value in values.items():
            if append and opts.get(key) is not None:
                value = opts[key] + value
            opts[key] = value
        out.append([tensor, opts])
    return out


def _to_intermediate(conditioning: list) -> list:
    """Encoder outputs leave the compute device as float32 CPU tensors (ComfyUI's intermediate device)."""
    out = []
    for tensor, options in conditioning:
        opts = {
            k: v.to("cpu", torch.float32) if isinstance(v, torch.Tensor) else v for k, v in options.items()
        }
        out.append([tensor.to("cpu", torch.float32), opts])
    return out


def encode(clip: Any, tokens: dict, add_dict: dict[str, Any] | None = None) -> list:
    return _to_intermediate(clip.encode_from_tokens_scheduled(tokens, add_dict=add_dict or {}))


def _check_clip(clip: Any) -> None:
    if clip is None:
        raise RuntimeError(CLIP_MISSING)


class CLIPTextEncode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "dynamicPrompts": True}),
                "clip": ("CLIP", {}),
            }
        }

    def encode(self, clip: Any, text: str):
        _check_clip(clip)
        return (encode(clip, clip.tokenize(text)),)


class CLIPSetLastLayer:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "set_last_layer"
    CATEGORY = "conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "clip": ("CLIP",),
                "stop_at_clip_layer": ("INT", {"default": -1, "min": -24, "max": -1, "step": 1}),
            }
        }

    def set_last_layer(self, clip: Any, stop_at_clip_layer: int):
        clip = clip.clone()
        clip.clip_layer(stop_at_clip_layer)
        return (clip,)


def _size_input(name: str, default: int) -> io.Int.Input:
    return io.Int.Input(name, default=default, min=0, max=MAX_RESOLUTION)


class CLIPTextEncodeSDXL(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_clip_sdxl"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="CLIPTextEncodeSDXL",
            category="advanced/conditioning",
            inputs=[
                io.Clip.Input("clip"),
                _size_input("width", 1024),
                _size_input("height", 1024),
                _size_input("crop_w", 0),
                _size_input("crop_h", 0),
                _size_input("target_width", 1024),
                _size_input("target_height", 1024),
                io.String.Input("text_g", multiline=True, dynamic_prompts=True),
                io.String.Input("text_l", multiline=True, dynamic_prompts=True),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, clip, width, height, crop_w, crop_h, target_width, target_height, text_g, text_l):  # noqa: ANN001
        _check_clip(clip)
        tokens = clip.tokenize(text_g)
        tokens["l"] = clip.tokenize(text_l)["l"]
        if len(tokens["l"]) != len(tokens["g"]):
            # both towers must see the same number of 77-token chunks: pad the shorter with empty prompts
            empty = clip.tokenize("")
            while len(tokens["l"]) < len(tokens["g"]):
                tokens["l"] += empty["l"]
            while len(tokens["l"]) > len(tokens["g"]):
                tokens["g"] += empty["g"]
        sizes = {
            "width": width,
            "height": height,
            "crop_w": crop_w,
            "crop_h": crop_h,
            "target_width": target_width,
            "target_height": target_height,
        }
        return io.NodeOutput(encode(clip, tokens, sizes))


class CLIPTextEncodeSDXLRefiner(io.ComfyNode):
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_clip_sdxl"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="CLIPTextEncodeSDXLRefiner",
            category="advanced/conditioning",
            inputs=[
                io.Float.Input("ascore", default=6.0, min=0.0, max=1000.0, step=0.01),
                _size_input("width", 1024),
                _size_input("height", 1024),
                io.String.Input("text", multiline=True, dynamic_prompts=True),
                io.Clip.Input("clip"),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, ascore, width, height, text, clip):  # noqa: ANN001
        _check_clip(clip)
        extra = {"aesthetic_score": ascore, "width": width, "height": height}
        return io.NodeOutput(encode(clip, clip.tokenize(text), extra))


class _ConditioningNode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CONDITIONING",)
    CATEGORY = "conditioning"


class ConditioningCombine(_ConditioningNode):
    FUNCTION = "combine"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_1": ("CONDITIONING",), "conditioning_2": ("CONDITIONING",)}}

    def combine(self, conditioning_1: list, conditioning_2: list):
        return (conditioning_1 + conditioning_2,)


class ConditioningAverage(_ConditioningNode):
    FUNCTION = "addWeighted"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "conditioning_to": ("CONDITIONING",),
                "conditioning_from": ("CONDITIONING",),
                "conditioning_to_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
            }
        }

    def addWeighted(self, conditioning_to: list, conditioning_from: list, conditioning_to_strength: float):  # noqa: N802
        if len(conditioning_from) > 1:
            log.warning(
                "Warning: ConditioningAverage conditioning_from contains more than 1 cond, only the first one "
                "will actually be applied to conditioning_to."
            )
        cond_from = conditioning_from[0][0]
        pooled_from = conditioning_from[0][1].get("pooled_output", None)
        s = conditioning_to_strength
        out = []
        for t1, options in conditioning_to:
            pooled_to = options.get("pooled_output", pooled_from)
            t0 = cond_from[:, : t1.shape[1]]
            if t0.shape[1] < t1.shape[1]:  # shorter source: zero tokens fill the rest
                t0 = torch.cat([t0, torch.zeros((1, t1.shape[1] - t0.shape[1], t1.shape[2]))], dim=1)
            mixed = torch.mul(t1, s) + torch.mul(t0, 1.0 - s)
            opts = options.copy()
            if pooled_from is not None and pooled_to is not None:
                opts["pooled_output"] = torch.mul(pooled_to, s) + torch.mul(pooled_from, 1.0 - s)
            elif pooled_from is not None:
                opts["pooled_output"] = pooled_from
            out.append([mixed, opts])
        return (out,)


class ConditioningConcat(_ConditioningNode):
    FUNCTION = "concat"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",)}}

    def concat(self, conditioning_to: list, conditioning_from: list):
        if len(conditioning_from) > 1:
            log.warning(
                "Warning: ConditioningConcat conditioning_from contains more than 1 cond, only the first one "
                "will actually be applied to conditioning_to."
            )
        cond_from = conditioning_from[0][0]
        return ([[torch.cat((t1, cond_from), 1), options.copy()] for t1, options in conditioning_to],)


def _area_int(default: int, lo: int) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": default, "min": lo, "max": MAX_RESOLUTION, "step": 8})


def _strength() -> tuple[str, dict[str, Any]]:
    return ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01})


class ConditioningSetArea(_ConditioningNode):
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "conditioning": ("CONDITIONING",),
                "width": _area_int(64, 64),
                "height": _area_int(64, 64),
                "x": _area_int(0, 0),
                "y": _area_int(0, 0),
                "strength": _strength(),
            }
        }

    def append(self, conditioning: list, width: int, height: int, x: int, y: int, strength: float):
        area = (height // 8, width // 8, y // 8, x // 8)  # latent units: (h, w, y, x)
        values = {"area": area, "strength": strength, "set_area_to_bounds": False}
        return (conditioning_set_values(conditioning, values),)


class ConditioningSetAreaPercentage(_ConditioningNode):
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def pct(default: float) -> tuple[str, dict[str, Any]]:
            return ("FLOAT", {"default": default, "min": 0, "max": 1.0, "step": 0.01})

        return {
            "required": {
                "conditioning": ("CONDITIONING",),
                "width": pct(1.0),
                "height": pct(1.0),
                "x": pct(0),
                "y": pct(0),
                "strength": _strength(),
            }
        }

    def append(self, conditioning: list, width: float, height: float, x: float, y: float, strength: float):
        values = {
            "area": ("percentage", height, width, y, x),
            "strength": strength,
            "set_area_to_bounds": False,
        }
        return (conditioning_set_values(conditioning, values),)


class ConditioningSetAreaStrength(_ConditioningNode):
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning": ("CONDITIONING",), "strength": _strength()}}

    def append(self, conditioning: list, strength: float):
        return (conditioning_set_values(conditioning, {"strength": strength}),)


class ConditioningSetMask(_ConditioningNode):
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "conditioning": ("CONDITIONING",),
                "mask": ("MASK",),
                "strength": _strength(),
                "set_cond_area": (["default", "mask bounds"],),
            }
        }

    def append(self, conditioning: list, mask: torch.Tensor, set_cond_area: str, strength: float):
        if len(mask.shape) < 3:
            mask = mask.unsqueeze(0)
        values = {"mask": mask, "set_area_to_bounds": set_cond_area != "default", "mask_strength": strength}
        return (conditioning_set_values(conditioning, values),)


class ConditioningSetTimestepRange(_ConditioningNode):
    FUNCTION = "set_range"
    CATEGORY = "advanced/conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def pct(default: float) -> tuple[str, dict[str, Any]]:
            return ("FLOAT", {"default": default, "min": 0.0, "max": 1.0, "step": 0.001})

        return {"required": {"conditioning": ("CONDITIONING",), "start": pct(0.0), "end": pct(1.0)}}

    def set_range(self, conditioning: list, start: float, end: float):
        return (conditioning_set_values(conditioning, {"start_percent": start, "end_percent": end}),)


class ConditioningZeroOut(_ConditioningNode):
    FUNCTION = "zero_out"
    CATEGORY = "advanced/conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning": ("CONDITIONING",)}}

    def zero_out(self, conditioning: list):
        out = []
        for tensor, options in conditioning:
            opts = options.copy()
            for key in ("pooled_output", "conditioning_lyrics"):
                if opts.get(key) is not None:
                    opts[key] = torch.zeros_like(opts[key])
            out.append([torch.zeros_like(tensor), opts])
        return (out,)


def _mask_to_pixels(mask: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """MASK -> [B, 1, H, W] at the image's size (bilinear)."""
    flat = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
    return F.interpolate(flat, size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")


def crop_to_multiple(
    pixels: torch.Tensor, mask: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Centre-crop IMAGE [B,H,W,C] and mask [B,1,H,W] to multiples of the VAE ratio; returns (pixels, mask,
    kept height, kept width)."""
    h = (pixels.shape[1] // multiple) * multiple
    w = (pixels.shape[2] // multiple) * multiple
    if pixels.shape[1] != h or pixels.shape[2] != w:
        dy = (pixels.shape[1] % multiple) // 2
        dx = (pixels.shape[2] % multiple) // 2
        pixels = pixels[:, dy : h + dy, dx : w + dx, :]
        mask = mask[:, :, dy : h + dy, dx : w + dx]
    return pixels, mask, h, w


def grey_out_masked(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked pixels (mask rounds to 1) become mid-grey 0.5 in the RGB channels; works on a copy."""
    pixels = pixels.clone()
    keep = (1.0 - mask.round()).squeeze(1)
    for c in range(3):
        pixels[:, :, :, c] -= 0.5
        pixels[:, :, :, c] *= keep
        pixels[:, :, :, c] += 0.5
    return pixels


class InpaintModelConditioning:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "LATENT")
    RETURN_NAMES = ("positive", "negative", "latent")
    FUNCTION = "encode"
    CATEGORY = "conditioning/inpaint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "positive": ("CONDITIONING",),
                "negative": ("CONDITIONING",),
                "vae": ("VAE",),
                "pixels": ("IMAGE",),
                "mask": ("MASK",),
                "noise_mask": ("BOOLEAN", {"default": True}),
            }
        }

    def encode(self, positive, negative, pixels, vae, mask, noise_mask=True):  # noqa: ANN001
        mask = _mask_to_pixels(mask, pixels)
        orig_pixels = pixels
        cropped, mask, _, _ = crop_to_multiple(pixels, mask, 8)
        concat_latent = vae.encode(grey_out_masked(cropped, mask))
        orig_latent = vae.encode(orig_pixels)
        out_latent: dict[str, Any] = {"samples": orig_latent}
        if noise_mask:
            out_latent["noise_mask"] = mask
        values = {"concat_latent_image": concat_latent, "concat_mask": mask}
        return (
            conditioning_set_values(positive, values),
            conditioning_set_values(negative, values),
            out_latent,
        )


NODE_CLASS_MAPPINGS = {
    "CLIPTextEncode": CLIPTextEncode,
    "CLIPSetLastLayer": CLIPSetLastLayer,
    "CLIPTextEncodeSDXL": CLIPTextEncodeSDXL,
    "CLIPTextEncodeSDXLRefiner": CLIPTextEncodeSDXLRefiner,
    "ConditioningCombine": ConditioningCombine,
    "ConditioningAverage": ConditioningAverage,
    "ConditioningConcat": ConditioningConcat,
    "ConditioningSetArea": ConditioningSetArea,
    "ConditioningSetAreaPercentage": ConditioningSetAreaPercentage,
    "ConditioningSetAreaStrength": ConditioningSetAreaStrength,
    "ConditioningSetMask": ConditioningSetMask,
    "ConditioningSetTimestepRange": ConditioningSetTimestepRange,
    "ConditioningZeroOut": ConditioningZeroOut,
    "InpaintModelConditioning": InpaintModelConditioning,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "CLIPTextEncode": "CLIP Text Encode (Prompt)",
    "CLIPSetLastLayer": "CLIP Set Last Layer",
    "ConditioningCombine": "Conditioning (Combine)",
    "ConditioningConcat": "Conditioning (Concat)",
    "ConditioningSetArea": "Conditioning (Set Area)",
    "ConditioningSetAreaPercentage": "Conditioning (Set Area with Percentage)",
    "ConditioningSetMask": "Conditioning (Set Mask)",
}
