"""The default model through the real node path (CheckpointLoaderSimple -> CLIPTextEncode -> KSampler ->
VAEDecode, VAEEncode for img2img), for the quality tests and the bench.

`ShapesPipeline(path)` points a private `models/checkpoints/` at the file, installs runtime services for
the duration of each call and returns images as uint8 `[H, W, 3]` arrays.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = ROOT / "models" / "checkpoints" / "comfy-core-shapes.safetensors"
DEFAULT_NEGATIVE = ""


def cli_command(workflow: Path, text: str, output_directory: str | os.PathLike[str]) -> list[str]:
    """`python main.py run WORKFLOW --set 6.text=TEXT --output-directory DIR` (run it with cwd=ROOT)."""
    import sys

    return [
        sys.executable,
        "main.py",
        "run",
        str(workflow),
        "--set",
        f"6.text={text}",
        "--output-directory",
        str(output_directory),
    ]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """IMAGE [B, H, W, C] in [0, 1] -> uint8 [B, H, W, C], rounded as SaveImage does (clip(255 * x))."""
    return np.clip(image.cpu().numpy() * 255.0, 0, 255).astype(np.uint8)


class ShapesPipeline:
    def __init__(self, checkpoint: str | os.PathLike[str] = DEFAULT_CHECKPOINT, threads: int | None = None):
        self.checkpoint = Path(checkpoint)
        self.base = Path(tempfile.mkdtemp(prefix="comfy_default_model_"))
        folder = self.base / "models" / "checkpoints"
        folder.mkdir(parents=True)
        (folder / self.checkpoint.name).symlink_to(self.checkpoint.resolve())
        for sub in ("input", "output", "temp"):
            (self.base / sub).mkdir()
        self.threads = threads
        self._loaded: tuple[Any, Any, Any] | None = None

    @contextmanager
    def _services(self) -> Iterator[None]:
        from comfy_core import runtime
        from comfy_core.config import Config
        from comfy_core.paths import Paths

        previous_threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        runtime.install(runtime.Services(paths=Paths(str(self.base)), config=Config(cpu=True)))
        try:
            yield
        finally:
            runtime.uninstall()
            torch.set_num_threads(previous_threads)

    def load(self) -> tuple[Any, Any, Any]:
        """(MODEL, CLIP, VAE) from CheckpointLoaderSimple (cached)."""
        if self._loaded is None:
            from nodes.loaders import CheckpointLoaderSimple

            with self._services():
                self._loaded = CheckpointLoaderSimple().load_checkpoint(self.checkpoint.name)
        return self._loaded

    def encode_text(self, text: str) -> list:
        from nodes.conditioning import CLIPTextEncode

        _, clip, _ = self.load()
        with self._services():
            return CLIPTextEncode().encode(clip, text)[0]

    def generate(
        self,
        prompt: str,
        negative: str = DEFAULT_NEGATIVE,
        seed: int = 0,
        steps: int = 20,
        cfg: float = 6.0,
        sampler: str = "euler",
        scheduler: str = "normal",
        denoise: float = 1.0,
        init_image: np.ndarray | None = None,
        batch_size: int = 1,
    ) -> np.ndarray:
        """uint8 images [B, 128, 128, 3]. With `init_image` (uint8 [H, W, 3]) this is img2img."""
        from nodes.latent import EmptyLatentImage, VAEDecode, VAEEncode
        from nodes.sampling import KSampler

        model, _, vae = self.load()
        pos, neg = self.encode_text(prompt), self.encode_text(negative)
        with self._services():
            if init_image is None:
                latent = EmptyLatentImage().generate(128, 128, batch_size)[0]
            else:
                pixels = torch.from_numpy(init_image.astype(np.float32) / 255.0)[None]
                latent = VAEEncode().encode(vae, pixels)[0]
            out = KSampler().sample(model, seed, steps, cfg, sampler, scheduler, pos, neg, latent, denoise)[0]
            return to_uint8(VAEDecode().decode(vae, out)[0])
