"""ComfyUI's `comfy.latent_formats`: `SD15()` / `SDXL()` give comfy-core's latent formats, and
`isinstance(model_format, SD15)` works on them; `LatentFormat` is a plain base class packs subclass
with class attributes (scale_factor, latent_channels, latent_rgb_factors, ...), as in ComfyUI."""

from __future__ import annotations

from typing import Any

import torch

from comfy_core.families import latent_formats as _lf

__all__ = ["SD15", "SDXL", "LatentFormat"]


class _FormatMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        if not isinstance(obj, _lf.LatentFormat):
            return False
        core = cls.__dict__.get("_core")
        return core is None if cls.__dict__.get("_is_base") else (core is not None and obj.name == core.name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        core = cls.__dict__.get("_core")
        return core if core is not None else super().__call__(*args, **kwargs)


class LatentFormat(metaclass=_FormatMeta):
    _is_base = True
    scale_factor = 1.0
    shift_factor = 0.0
    latent_channels = 4
    latent_dimensions = 2
    latent_rgb_factors: Any = None
    latent_rgb_factors_bias: Any = None
    taesd_decoder_name: str | None = None

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        return (latent - self.shift_factor) * self.scale_factor

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        return latent / self.scale_factor + self.shift_factor

    def latent_to_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """Linear latent -> RGB preview in [0, 1] with this format's factors."""
        return _lf.LatentFormat.latent_to_rgb(self, latent)  # type: ignore[arg-type]


class SD15(LatentFormat):
    _core = _lf.SD15
    scale_factor = _lf.SD15.scale_factor
    latent_rgb_factors = [list(r) for r in _lf.SD15.latent_rgb_factors]
    taesd_decoder_name = _lf.SD15.taesd_decoder_name


class SDXL(LatentFormat):
    _core = _lf.SDXL
    scale_factor = _lf.SDXL.scale_factor
    latent_rgb_factors = [list(r) for r in _lf.SDXL.latent_rgb_factors]
    latent_rgb_factors_bias = list(_lf.SDXL.latent_rgb_factors_bias or ())
    taesd_decoder_name = _lf.SDXL.taesd_decoder_name
