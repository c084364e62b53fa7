"""ComfyUI's `latent_preview`: the sampler callback with per-step previews, over `comfy_core.preview`.

`set_preview_method(x)` changes the configured method (`args.preview_method`) for valid names and
restores the start-up one for None, "", "default" or anything else; `default_preview_method` is that
start-up method. A prompt's own `extra_data.preview_method` is honoured by `comfy_core.preview` without
touching the configuration.
"""

from __future__ import annotations

from typing import Any

from comfy_core import preview as _preview
from comfy_core.compat.comfy.cli_args import LatentPreviewMethod, current_args
from comfy_core.preview import Latent2RGBPreviewer, TAESDPreviewer, prepare_callback

__all__ = [
    "Latent2RGBPreviewer",
    "LatentPreviewMethod",
    "TAESDPreviewer",
    "TAESDPreviewerImpl",
    "get_previewer",
    "prepare_callback",
    "preview_to_image",
    "set_preview_method",
]

TAESDPreviewerImpl = TAESDPreviewer
_STARTUP_KEY = "_compat_startup_preview_method"


def _startup_method(args: Any) -> LatentPreviewMethod:
    """The configuration's preview method before the first override (remembered on the config)."""
    state = vars(args)
    if _STARTUP_KEY not in state:
        state[_STARTUP_KEY] = args.preview_method
    value = state[_STARTUP_KEY]
    return LatentPreviewMethod.from_string(getattr(value, "value", value)) or LatentPreviewMethod.NoPreviews


def set_preview_method(override: str | None) -> None:
    args = current_args()
    default = _startup_method(args)
    chosen = LatentPreviewMethod.from_string(override) if override else None
    args.preview_method = chosen if chosen is not None else default


def preview_to_image(latent_image: Any) -> Any:
    """[h, w, 3] RGB in [-1, 1] -> PIL image (ComfyUI's helper for custom previewers)."""
    return _preview.to_image((latent_image.float() + 1.0) / 2.0)


class _ComfyPreviewer:
    """A comfy-core previewer with ComfyUI's `decode_latent_to_preview_image(format, x0)` as well."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def decode_latent_to_preview(self, x0: Any) -> Any:
        return self.inner.decode_latent_to_preview(x0)

    def decode_latent_to_preview_image(self, preview_format: str, x0: Any) -> tuple[str, Any, int]:
        return (preview_format, self.inner.decode_latent_to_preview(x0), _preview.preview_size())


def get_previewer(device: Any, latent_format: Any) -> _ComfyPreviewer | None:
    """ComfyUI's signature: the previewer of the current method for `latent_format`, or None."""
    inner = _preview.get_previewer(latent_format)
    return None if inner is None else _ComfyPreviewer(inner)


def __getattr__(name: str) -> Any:
    if name == "default_preview_method":
        return _startup_method(current_args())
    if name == "MAX_PREVIEW_RESOLUTION":
        return _preview.preview_size()
    raise AttributeError(f"latent_preview has no attribute {name!r}")
