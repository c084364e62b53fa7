"""Seeded noise exactly as ComfyUI draws it.

* `prepare_noise`: the initial latent noise. ComfyUI seeds torch's *global* CPU generator with
  `torch.manual_seed(seed)` and draws one float32 `randn` of the latent shape on the CPU (so the noise
  does not depend on the GPU). We keep the global seeding because ComfyUI code paths and custom nodes
  that call `torch.randn_like` afterwards (s_churn > 0, some custom samplers) rely on that state.
* `default_noise_sampler`: per-step noise of ancestral samplers; a private generator seeded with
  `seed + 1` on CPU (plain `seed` on other devices).
* `BrownianTreeNoiseSampler`: per-step noise of the SDE samplers, a `torchsde.BrownianTree` over sigma
  (Kidger et al. 2021, "Efficient and Accurate Gradients for Neural SDEs"), seeded with the same seed.
* `Noise_RandomNoise` / `Noise_EmptyNoise`: the NOISE objects of the custom-sampling nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

NoiseSampler = Callable[[Any, Any], torch.Tensor]


def _randn_cpu(shape: Sequence[int], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(
        list(shape), dtype=torch.float32, layout=like.layout, generator=generator, device="cpu"
    ).to(dtype=like.dtype)


def prepare_noise(
    latent_image: torch.Tensor, seed: int, batch_index: Sequence[int] | None = None
) -> torch.Tensor:
    """Noise for `latent_image` from `seed` (ComfyUI `comfy.sample.prepare_noise`).

    With `batch_index` (the LATENT's `batch_index` list), noise is drawn one latent at a time for
    indices 0..max(batch_index) and item k gets the draw number batch_index[k], so a latent picked out of
    a batch gets the same noise it had inside the batch."""
    generator = torch.manual_seed(seed)
    if batch_index is None:
        return _randn_cpu(latent_image.size(), generator, latent_image)
    unique_inds, inverse = np.unique(np.asarray(batch_index), return_inverse=True)
    noises = []
    one_shape = [1] + list(latent_image.size())[1:]
    for i in range(int(unique_inds[-1]) + 1):
        noise = _randn_cpu(one_shape, generator, latent_image)
        if i in unique_inds:
            noises.append(noise)
    return torch.cat([noises[i] for i in np.asarray(inverse).reshape(-1)], dim=0)


def fix_empty_latent_channels(latent_image: torch.Tensor, latent_channels: int | None) -> torch.Tensor:
    """An all-zero latent with the wrong channel count is widened by repetition (EmptyLatentImage makes 4
    channels; SD3/Flux models want 16)."""
    if latent_channels is None or torch.count_nonzero(latent_image) != 0:
        return latent_image
    if latent_image.shape[1] == latent_channels:
        return latent_image
    reps = -(-latent_channels // latent_image.shape[1])
    return latent_image.repeat(1, reps, *([1] * (latent_image.ndim - 2)))[:, :latent_channels]


def default_noise_sampler(x: torch.Tensor, seed: int | None = None) -> NoiseSampler:
    """Gaussian noise shaped like `x` from a generator seeded with seed (+1 on CPU), or the global RNG."""
    generator: torch.Generator | None
    if seed is not None:
        if x.device == torch.device("cpu"):
            seed += 1
        generator = torch.Generator(device=x.device)
        generator.manual_seed(seed)
    else:
        generator = None

    def sample(sigma: Any, sigma_next: Any) -> torch.Tensor:
        return torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device, generator=generator)

    return sample


class BatchedBrownianTree:
    """One `torchsde.BrownianTree` (or one per batch item when given a list of seeds)."""

    def __init__(
        self, x: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor, seed: Any = None, cpu: bool = True
    ) -> None:
        import torchsde  # imported lazily: only the SDE samplers need it

        self.cpu_tree = cpu
        t0, t1, self.sign = self.sort(t0, t1)
        w0 = torch.zeros_like(x)
        self.batched = False
        if seed is None:
            seeds: Sequence[int] = (torch.randint(0, 2**63 - 1, ()).item(),)
        elif isinstance(seed, (tuple, list)):
            if len(seed) != x.shape[0]:
                raise ValueError("a list of seeds needs one seed per batch item")
            self.batched = True
            w0 = w0[0]
            seeds = seed
        else:
            seeds = (seed,)
        if self.cpu_tree:
            t0, w0, t1 = t0.detach().cpu(), w0.detach().cpu(), t1.detach().cpu()
        self.trees = tuple(torchsde.BrownianTree(t0, w0, t1, entropy=s) for s in seeds)

    @staticmethod
    def sort(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return (a, b, 1) if a < b else (b, a, -1)

    def __call__(self, t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
        t0, t1, sign = self.sort(t0, t1)
        device, dtype = t0.device, t0.dtype
        if self.cpu_tree:
            t0, t1 = t0.detach().cpu().float(), t1.detach().cpu().float()
        w = torch.stack([tree(t0, t1) for tree in self.trees]).to(device=device, dtype=dtype) * (
            self.sign * sign
        )
        return w if self.batched else w[0]


class BrownianTreeNoiseSampler:
    """Unit-variance increments W(sigma_next) - W(sigma) / sqrt|sigma_next - sigma| of a fixed Brownian
    path over [sigma_min, sigma_max]: the same seed gives the same path whatever the step sizes."""

    def __init__(
        self,
        x: torch.Tensor,
        sigma_min: Any,
        sigma_max: Any,
        seed: Any = None,
        transform: Callable[[torch.Tensor], torch.Tensor] = lambda v: v,
        cpu: bool = False,
    ) -> None:
        self.transform = transform
        t0 = self.transform(torch.as_tensor(sigma_min))
        t1 = self.transform(torch.as_tensor(sigma_max))
        self.tree = BatchedBrownianTree(x, t0, t1, seed, cpu=cpu)

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        t0 = self.transform(torch.as_tensor(sigma))
        t1 = self.transform(torch.as_tensor(sigma_next))
        return self.tree(t0, t1) / (t1 - t0).abs().sqrt()


class Noise_EmptyNoise:  # noqa: N801 - ComfyUI's name
    """DisableNoise: zeros of the latent's shape."""

    def __init__(self) -> None:
        self.seed = 0

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        latent_image = input_latent["samples"]
        return torch.zeros(
            latent_image.shape, dtype=latent_image.dtype, layout=latent_image.layout, device="cpu"
        )


class Noise_RandomNoise:  # noqa: N801 - ComfyUI's name
    """RandomNoise: `prepare_noise` with the latent's batch_index."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        return prepare_noise(input_latent["samples"], self.seed, input_latent.get("batch_index"))
