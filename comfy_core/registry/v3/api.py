"""`ComfyExtension` and the versioned public API objects (`ComfyAPI`, `ComfyAPISync`). Torch-free at import.

`api.execution.set_progress(...)` reports progress for the executing node (or `node_id`) through
`comfy_core.progress.report_progress`, so it reaches the same hook as `comfy.utils.ProgressBar` and raises
`InterruptProcessingException` once the prompt is interrupted.
"""

from __future__ import annotations

from typing import Any

from comfy_core.progress import get_executing_context, report_progress

DEFAULT_PREVIEW_SIZE = 512


class ComfyExtension:
    """What a pack's `comfy_entrypoint()` returns: its V3 node classes, plus an optional load hook."""

    async def on_load(self) -> None:
        return None

    async def get_node_list(self) -> list[type]:
        raise NotImplementedError


def _preview_size() -> int:
    from comfy_core import runtime

    services = runtime.maybe_current()
    config = getattr(services, "config", None)
    return int(getattr(config, "preview_size", DEFAULT_PREVIEW_SIZE) or DEFAULT_PREVIEW_SIZE)


def _preview_tuple(preview_image: Any, ignore_size_limit: bool) -> Any:
    """Turn a PIL image or an IMAGE tensor into the `(format, PIL image, max size)` preview tuple."""
    if preview_image is None or isinstance(preview_image, tuple):
        return preview_image
    image = preview_image
    if hasattr(image, "detach"):  # IMAGE tensor [B,H,W,C] or [H,W,C]
        import numpy as np
        from PIL import Image as PILImage

        tensor = image[0] if image.ndim == 4 else image
        array = (tensor.detach().cpu().float().numpy().clip(0.0, 1.0) * 255).astype(np.uint8)
        image = PILImage.fromarray(array)
    fmt = getattr(image, "format", None) or "JPEG"
    return (fmt, image, None if ignore_size_limit else _preview_size())


def set_progress(
    value: float,
    max_value: float,
    node_id: str | None = None,
    preview_image: Any = None,
    ignore_size_limit: bool = False,
) -> None:
    if node_id is None:
        ctx = get_executing_context()
        if ctx is None:
            raise ValueError("node_id must be provided when called outside of a running node")
        node_id = ctx.node_id
    report_progress(
        value, max_value, preview=_preview_tuple(preview_image, ignore_size_limit), node_id=node_id
    )


class _Execution:
    async def set_progress(
        self,
        value: float,
        max_value: float,
        node_id: str | None = None,
        preview_image: Any = None,
        ignore_size_limit: bool = False,
    ) -> None:
        set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class _ExecutionSync:
    def set_progress(
        self,
        value: float,
        max_value: float,
        node_id: str | None = None,
        preview_image: Any = None,
        ignore_size_limit: bool = False,
    ) -> None:
        set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class ComfyAPI:
    """The async public API (`comfy_api.latest.ComfyAPI`)."""

    VERSION = "latest"
    STABLE = False
    Execution = _Execution

    def __init__(self) -> None:
        self.execution = self.Execution()


class ComfyAPISync:
    """The same API with plain (blocking) methods, for synchronous node code."""

    VERSION = "latest"
    STABLE = False
    Execution = _ExecutionSync

    def __init__(self) -> None:
        self.execution = self.Execution()


def versioned(version: str, stable: bool) -> tuple[type, type]:
    """`(ComfyAPI, ComfyAPISync)` classes labelled with a public API version (`"0.0.2"` ...)."""
    namespace = {"VERSION": version, "STABLE": stable}
    tag = version.replace(".", "_")
    return (
        type(f"ComfyAPI_v{tag}", (ComfyAPI,), dict(namespace)),
        type(f"ComfyAPISync_v{tag}", (ComfyAPISync,), dict(namespace)),
    )
