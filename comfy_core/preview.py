"""Per-step sampler progress with latent previews (ComfyUI's `latent_preview.py`).

Methods (`--preview-method`, overridden per prompt by a valid `extra_data.preview_method`): `none` (progress only, the default), `latent2rgb` (the family's linear
latent -> RGB factors), `taesd` (the family's TAESD decoder from `models/vae_approx`), `auto` (TAESD when
its decoder file is present, else latent2rgb). The sampler callback reports `step + 1 / total` through
`comfy_core.progress.report_progress` (which also raises when the prompt was interrupted) with a
`("JPEG", PIL image, max size)` preview.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from comfy_core import runtime
from comfy_core.progress import prompt_extra_data, report_progress

log = logging.getLogger(__name__)

PREVIEW_FORMAT = "JPEG"
DEFAULT_PREVIEW_SIZE = 512
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")


def to_image(rgb: torch.Tensor) -> Image.Image:
    """[h, w, 3] in [0, 1] -> 8-bit PIL image (values truncated like ComfyUI's preview)."""
    data = rgb.clamp(0, 1).mul(0xFF).to(device="cpu", dtype=torch.uint8)
    return Image.fromarray(data.numpy())


class Latent2RGBPreviewer:
    def __init__(self, latent_format: Any) -> None:
        self.latent_format = latent_format

    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image:
        first = x0[:1, :, 0] if x0.ndim == 5 else x0[:1]
        return to_image(self.latent_format.latent_to_rgb(first.float())[0])


class TAESDPreviewer:
    def __init__(self, taesd: torch.nn.Module) -> None:
        self.taesd = taesd

    @torch.inference_mode()
    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image:
        first = x0[:1, :, 0] if x0.ndim == 5 else x0[:1]
        device = next(self.taesd.parameters()).device
        sample = self.taesd.decode(first.to(device=device, dtype=torch.float32))[0].movedim(0, -1)
        return to_image((sample + 1.0) / 2.0)


def _config_value(name: str, default: Any) -> Any:
    services = runtime.maybe_current()
    config = getattr(services, "config", None) if services is not None else None
    value = getattr(config, name, None)
    return default if value is None else value


def preview_method() -> str:
    """The running prompt's `extra_data.preview_method` when it names a method (`default` or anything
    else falls back), else the configured one (a string or a compat LatentPreviewMethod member)."""
    override = prompt_extra_data().get("preview_method")
    if override in PREVIEW_METHODS:
        return str(override)
    configured = _config_value("preview_method", "none")
    return str(getattr(configured, "value", configured))


def preview_size() -> int:
    return int(_config_value("preview_size", DEFAULT_PREVIEW_SIZE))


def _taesd_decoder_path(latent_format: Any) -> str | None:
    name = getattr(latent_format, "taesd_decoder_name", None)
    services = runtime.maybe_current()
    paths = getattr(services, "paths", None) if services is not None else None
    if not name or paths is None:
        return None
    for filename in paths.get_filename_list("vae_approx"):
        if filename.startswith(name + "."):
            return paths.get_full_path("vae_approx", filename)
    return None


def _load_taesd_previewer(path: str) -> TAESDPreviewer:
    from comfy_core.families.build import build_taesd
    from comfy_core.io.checkpoint import load_state_dict_file

    decoder, _ = load_state_dict_file(path)
    return TAESDPreviewer(build_taesd(None, decoder))


def get_previewer(latent_format: Any, method: str | None = None) -> Any | None:
    """The previewer for `method` (default: the configured one), or None for no previews."""
    method = method or preview_method()
    if method == "none" or latent_format is None:
        return None
    if method in ("auto", "taesd"):
        path = _taesd_decoder_path(latent_format)
        if path is not None:
            return _load_taesd_previewer(path)
        if method == "taesd":
            log.warning(
                "Warning: TAESD previews enabled, but could not find models/vae_approx/%s",
                getattr(latent_format, "taesd_decoder_name", "?"),
            )
    if getattr(latent_format, "latent_rgb_factors", None):
        return Latent2RGBPreviewer(latent_format)
    return None


def latent_format_of(model: Any) -> Any | None:
    """The latent format of a MODEL (ModelPatcher), a loaded model or a bare DiffusionWrapper."""
    for candidate in (getattr(model, "model", None), getattr(model, "module", None), model):
        fmt = getattr(candidate, "latent_format", None)
        if fmt is not None:
            return fmt
    return None


def prepare_callback(
    model: Any, steps: int, x0_output_dict: dict | None = None
) -> Callable[[int, torch.Tensor, torch.Tensor, int], None]:
    """The KSampler callback `(step, x0, x, total_steps)`: progress, preview, interrupt check.

    `x0_output_dict["x0"]` receives the latest denoised estimate (SamplerCustom's second output)."""
    previewer = get_previewer(latent_format_of(model))
    max_size = preview_size()

    def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        preview = None
        if previewer is not None:
            preview = (PREVIEW_FORMAT, previewer.decode_latent_to_preview(x0), max_size)
        report_progress(step + 1, total_steps, preview)

    return callback
