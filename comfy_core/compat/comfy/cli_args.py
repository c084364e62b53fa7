"""ComfyUI's `comfy.cli_args`: `args` is the running instance's configuration (flag names as ComfyUI's)."""

from __future__ import annotations

import enum
from typing import Any

from comfy_core import runtime


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"

    @classmethod
    def from_string(cls, value: str) -> LatentPreviewMethod | None:
        for member in cls:
            if member.value == value:
                return member
        return None


def __getattr__(name: str) -> Any:
    if name == "args":
        services = runtime.maybe_current()
        config = getattr(services, "config", None)
        if config is None:
            from comfy_core.config import Config

            return Config()
        return config
    raise AttributeError(f"comfy.cli_args has no attribute {name!r}")
