"""ComfyUI's `comfy.cli_args`: `args` is the running instance's configuration (flag names as ComfyUI's).

Without an installed instance, `args` is one default `Config` kept for the process, so code that
imports `args` and code that looks it up later see (and change) the same object, as in ComfyUI.
`LatentPreviewMethod` members are strings too, so `args.preview_method == "taesd"` and
`args.preview_method == LatentPreviewMethod.TAESD` agree whichever form the configuration holds.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

from comfy_core import runtime


class LatentPreviewMethod(enum.StrEnum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"

    @classmethod
    def from_string(cls, value: Any) -> LatentPreviewMethod | None:
        """The member whose value is exactly `value` (case-sensitive), else None."""
        for member in cls:
            if member.value == value:
                return member
        return None


@functools.cache
def _fallback_config() -> Any:
    from comfy_core.config import Config

    return Config()


def current_args() -> Any:
    services = runtime.maybe_current()
    config = getattr(services, "config", None)
    return _fallback_config() if config is None else config


def __getattr__(name: str) -> Any:
    if name == "args":
        return current_args()
    raise AttributeError(f"comfy.cli_args has no attribute {name!r}")
