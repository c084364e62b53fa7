"""ComfyUI's `comfy.utils`: ProgressBar, load_torch_file, common_upscale and friends.

Torch is imported inside the functions; the image maths lives in `comfy_core.imageops`.
"""

from __future__ import annotations

import logging
from typing import Any

from comfy_core.progress import get_executing_context, report_progress

log = logging.getLogger(__name__)
PROGRESS_BAR_ENABLED = True


class ProgressBar:
    """Progress of the running node: `update(delta)` / `update_absolute(value, total, preview)`.

    `preview` is `(format, PIL image, max size)`; interrupts surface here as InterruptProcessingException.
    """

    def __init__(self, total: int | float, node_id: str | None = None) -> None:
        if node_id is None:
            ctx = get_executing_context()
            node_id = ctx.node_id if ctx is not None else None
        self.total = total
        self.current: int | float = 0
        self.node_id = node_id

    def update_absolute(
        self, value: int | float, total: int | float | None = None, preview: Any = None
    ) -> None:
        if total is not None:
            self.total = total
        if value > self.total:
            value = self.total
        self.current = value
        report_progress(self.current, self.total, preview, node_id=self.node_id)

    def update(self, value: int | float) -> None:
        self.update_absolute(self.current + value)


def load_torch_file(
    ckpt: str, safe_load: bool = False, device: Any = None, return_metadata: bool = False
) -> Any:
    """A weight file's state dict (safetensors, or a pickle via torch.load(weights_only=True)).

    Pickles whose tensors sit under `state_dict` (or a single top-level key) are unwrapped as ComfyUI does.
    """
    from comfy_core.io.checkpoint import load_state_dict_file

    sd, metadata = load_state_dict_file(ckpt, device=device if device is not None else "cpu")
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    elif len(sd) == 1 and isinstance(next(iter(sd.values())), dict):
        sd = next(iter(sd.values()))
    return (sd, metadata or None) if return_metadata else sd


def common_upscale(samples: Any, width: int, height: int, upscale_method: str, crop: str) -> Any:
    """Resize `[B,C,H,W]` (or `[B,C,T,H,W]`); methods nearest-exact, bilinear, area, bicubic, bislerp,
    lanczos; `crop="center"` first trims to the target aspect ratio."""
    from comfy_core.imageops import common_upscale as upscale

    return upscale(samples, width, height, upscale_method, crop)


def bislerp(samples: Any, width: int, height: int) -> Any:
    from comfy_core.imageops import bislerp as impl

    return impl(samples, width, height)


def lanczos(samples: Any, width: int, height: int) -> Any:
    from comfy_core.imageops import lanczos as impl

    return impl(samples, width, height)


def repeat_to_batch_size(tensor: Any, batch_size: int, dim: int = 0) -> Any:
    from comfy_core.imageops import repeat_to_batch_size as impl

    return impl(tensor, batch_size, dim)


def state_dict_prefix_replace(
    state_dict: dict[str, Any], replace_prefix: dict[str, str], filter_keys: bool = False
) -> dict[str, Any]:
    """Rename keys starting with each prefix; with `filter_keys` only the renamed keys are returned."""
    out = {} if filter_keys else state_dict
    for old, new in replace_prefix.items():
        for key in [k for k in state_dict if k.startswith(old)]:
            out[new + key[len(old) :]] = state_dict.pop(key)
    return out


def calculate_parameters(sd: dict[str, Any], prefix: str = "") -> int:
    return sum(v.nelement() for k, v in sd.items() if k.startswith(prefix))


def get_tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int, overlap: int) -> int:
    from comfy_core.models.vae_tiled import tiled_scale_steps

    return tiled_scale_steps(width, height, tile_x, tile_y, overlap)


def tiled_scale_multidim(
    samples: Any,
    function: Any,
    tile: Any = (64, 64),
    overlap: Any = 8,
    upscale_amount: float = 4,
    out_channels: int = 3,
    output_device: Any = "cpu",
    downscale: bool = False,
    index_formulas: Any = None,
    pbar: Any = None,
) -> Any:
    """Apply `function` (scaling spatial dims by `upscale_amount`) tile by tile with feathered overlaps."""
    from comfy_core.models.vae_tiled import tiled_scale_multidim as impl

    scale = 1.0 / upscale_amount if downscale else upscale_amount
    progress = pbar.update if pbar is not None else None
    return impl(samples, function, tuple(tile), overlap, scale, out_channels, output_device, progress)


def tiled_scale(
    samples: Any,
    function: Any,
    tile_x: int = 64,
    tile_y: int = 64,
    overlap: int = 8,
    upscale_amount: float = 4,
    out_channels: int = 3,
    output_device: Any = "cpu",
    pbar: Any = None,
) -> Any:
    """ComfyUI's 2-D form (upscale models, tiled VAE): tiles of `tile_y` x `tile_x` latent/pixel cells."""
    return tiled_scale_multidim(
        samples, function, (tile_y, tile_x), overlap, upscale_amount, out_channels, output_device, pbar=pbar
    )


def reshape_mask(input_mask: Any, output_shape: Any) -> Any:
    """A mask resized (bilinear) to `output_shape`'s spatial size and repeated over its channels."""
    from comfy_core.sampling.guiders import reshape_mask as impl

    return impl(input_mask, output_shape)
