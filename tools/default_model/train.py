"""Training stages of the default model: autoencoder, latent cache, UNet + text encoder, all on the CPU.

Each stage writes its result into a work directory (`vae.pt`, `latents.pt`, `diffusion.pt`) so a run can be
resumed or a later stage retrained alone. Computation is fp32 master weights with bf16 autocast (never fp16
on the CPU). Seeds: one `torch.Generator`/`random.Random` per stage, derived from the recipe seed.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from comfy_core.models.unet import UNetModel
from comfy_core.models.vae import AutoencoderKL
from comfy_core.text.bpe import ClipBPE
from comfy_core.text.clip_model import CLIPTextModel
from comfy_core.text.tokenizer import ClipTokenizer
from tools.default_model import analytic_vae as av
from tools.default_model import dataset as ds
from tools.default_model.recipe import LATENT_SCALE, Recipe, text_params, unet_params, vae_params
from tools.default_model.unet_head import build_head

log = logging.getLogger("train_default_model")


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def init_weights(module: torch.nn.Module, zero_out: tuple[str, ...] = ()) -> torch.nn.Module:
    """Fresh initialisation (the runtime's layers skip torch's random init, as weights normally come from
    files): torch's default init for convs/linears, unit norms, and zeros for residual-branch outputs whose
    names end with one of `zero_out` (each block starts as the identity)."""
    for name, m in module.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            _reset_default(m)
            if name.endswith(zero_out):
                torch.nn.init.zeros_(m.weight)
                if m.bias is not None:
                    torch.nn.init.zeros_(m.bias)
        elif isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return module


def _reset_default(m: torch.nn.Module) -> None:
    base = torch.nn.Conv2d if isinstance(m, torch.nn.Conv2d) else torch.nn.Linear
    base.reset_parameters(m)


def _batch(rng: random.Random, n: int, size: int) -> torch.Tensor:
    triples = ds.training_triples()
    return torch.from_numpy(
        np.stack([ds.render_array(ds.random_scene(rng, triples), size) for _ in range(n)])
    )


# ---------------------------------------------------------------------------------------------- autoencoder
def train_vae(recipe: Recipe, work: Path, report: Callable[[str], None]) -> AutoencoderKL:
    """Constructed thumbnail encoder + frozen output head (tools/default_model/analytic_vae.py); the decoder
    trunk is trained to turn the blurred thumbnail back into sharp shapes (L1 + MSE)."""
    torch.manual_seed(recipe.seed)
    vae = av.build(init_weights(AutoencoderKL(vae_params()), zero_out=("conv2", "proj_out")))
    rng = random.Random(recipe.seed + 1)
    err = av.fit_head(vae, _batch(rng, 16, 64))
    report(f"autoencoder head fitted (pixel error {err:.5f})")
    for p in av.frozen_parameters(vae):
        p.requires_grad_(False)
    params = av.trunk_parameters(vae)
    opt = torch.optim.AdamW(params, lr=recipe.vae_lr, weight_decay=0.0, betas=(0.9, 0.99))
    plan = [
        (64, recipe.vae_batch_low, recipe.vae_steps_low),
        (128, recipe.vae_batch_full, recipe.vae_steps_full),
    ]
    total = sum(p[2] for p in plan)
    step = 0
    t0 = time.perf_counter()
    vae.train()
    for size, batch, steps in plan:
        for _ in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, 20, recipe.vae_lr)
            x = _batch(rng, batch, size)
            with torch.no_grad():
                z = av.encode_fast(vae, x)
            with autocast():
                h = av.decode_trunk(vae, z)
            rec = av.decode_head(vae, h.float())
            l1 = (rec - x).abs().mean()
            loss = l1 + (rec - x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            if step % 20 == 0 or step == total:
                report(
                    f"vae step {step}/{total} size {size} loss {loss.item():.4f} l1 {l1.item():.4f} "
                    f"({time.perf_counter() - t0:.0f}s)"
                )
    vae.eval()
    normalise_latents(vae, recipe)
    check_reconstruction(vae, work, report)
    torch.save(vae.state_dict(), work / "vae.pt")
    return vae


@torch.no_grad()
def normalise_latents(vae: AutoencoderKL, recipe: Recipe, n: int = 96) -> None:
    """Fold a per-channel affine map into quant_conv / post_quant_conv so that encoded latents have zero
    mean and std 1/LATENT_SCALE (the loader multiplies by SD1's 0.18215). Decoding is unchanged."""
    rng = random.Random(recipe.seed + 3)
    x = _batch(rng, n, 128)
    mean = av.encode_fast(vae, x)
    m = mean.mean(dim=(0, 2, 3))
    s = mean.std(dim=(0, 2, 3)) * LATENT_SCALE
    c = vae.params.embed_dim
    qw, qb = vae.quant_conv.weight, vae.quant_conv.bias
    qw[:c] /= s[:, None, None, None]
    qb[:c] = (qb[:c] - m) / s
    qb[c:] -= 2.0 * torch.log(s)  # logvar of the rescaled posterior
    pw, pb = vae.post_quant_conv.weight, vae.post_quant_conv.bias
    pb += (pw[:, :, 0, 0] * m[None]).sum(1)
    pw *= s[None, :, None, None]


@torch.no_grad()
def check_reconstruction(vae: AutoencoderKL, work: Path, report: Callable[[str], None]) -> float:
    """Reconstruct the held-out quality scenes; save a grid (top: input, bottom: output) and report how
    many the pixel checker still reads correctly."""
    from PIL import Image

    from tools.default_model.checker import read_image

    scenes = ds.quality_scenes()
    x = torch.from_numpy(np.stack([ds.render_array(s) for s in scenes]))
    rec = vae.decode(av.encode_fast(vae, x)).float().clamp(-1, 1)
    to8 = lambda t: ((t + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # noqa: E731
    a, b = to8(x), to8(rec)
    ok = sum(read_image(im).agrees(s) for im, s in zip(b, scenes, strict=True))
    err = float((rec - x).abs().mean())
    grid = np.concatenate([np.concatenate(list(a[:8]), 1), np.concatenate(list(b[:8]), 1)], 0)
    Image.fromarray(grid).save(work / "vae_recon.png")
    report(f"autoencoder: reconstruction L1 {err:.4f}, checker agrees on {ok}/{len(scenes)}")
    return err


def load_vae(work: Path) -> AutoencoderKL:
    vae = AutoencoderKL(vae_params())
    vae.load_state_dict(torch.load(work / "vae.pt"))
    return vae.eval()


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, recipe: Recipe, work: Path, report: Callable[[str], None]) -> dict:
    """Render `latent_images` training scenes at 128x128 and store their (model-space) latents."""
    rng = random.Random(recipe.seed + 4)
    triples = ds.training_triples()
    scenes = [ds.random_scene(rng, triples) for _ in range(recipe.latent_images)]
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(scenes), 32):
        x = torch.from_numpy(np.stack([ds.render_array(s) for s in scenes[i : i + 32]]))
        out.append(av.encode_fast(vae, x) * LATENT_SCALE)
        if (i // 32) % 10 == 0:
            report(f"encoded {i + len(x)}/{len(scenes)} ({time.perf_counter() - t0:.0f}s)")
    latents = torch.cat(out)
    report(f"latents: mean {latents.mean():.3f} std {latents.std():.3f}")
    data = {"latents": latents, "scenes": [s.__dict__ for s in scenes]}
    torch.save(data, work / "latents.pt")
    return data


# ---------------------------------------------------------------------------------------------- text side
class TokenCache:
    """Captions -> 77 SD1 token ids through the project's own CLIP tokenizer (the inference path)."""

    def __init__(self) -> None:
        self.tok = ClipTokenizer(ClipBPE())
        self._cache: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        if text not in self._cache:
            self._cache[text] = [t for t, _ in self.tok.tokenize_with_weights(text)[0]]
        return self._cache[text]

    def vocabulary(self) -> list[int]:
        """Every token id any training caption can produce (sorted)."""
        words = set()
        for c, s, b in ds.all_triples():
            words.add(ds.Scene(c, s, b, "small", "top left").caption())
        for size in ds.SIZES:
            for pos in ds.POSITIONS:
                words.add(ds.Scene("red", "circle", "blue", size, pos).caption())
        ids = {t for w in words for t in self.ids(w)} | set(self.ids(""))
        return sorted(ids)


class TextModel(torch.nn.Module):
    """The CLIP text model with a trainable table for the tokens the captions use; the rest of the real
    49408-token table stays at its seeded initialisation (unused words map to fixed random vectors)."""

    def __init__(self, recipe: Recipe, vocab: list[int]) -> None:
        super().__init__()
        self.params = text_params(recipe.text_width, recipe.text_layers)
        self.clip = CLIPTextModel(self.params)
        g = torch.Generator().manual_seed(recipe.seed + 5)
        with torch.no_grad():
            for name, p in self.clip.named_parameters():
                if p.ndim == 2 and name != "text_projection.weight":
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        self.clip.text_model.embeddings.token_embedding.weight.requires_grad_(False)
        self.clip.text_projection.weight.requires_grad_(False)
        self.register_buffer("vocab", torch.tensor(vocab), persistent=False)
        lookup = torch.full((self.params.vocab_size,), -1, dtype=torch.long)
        lookup[self.vocab] = torch.arange(len(vocab))
        self.register_buffer("lookup", lookup, persistent=False)
        rows = self.clip.text_model.embeddings.token_embedding.weight[self.vocab].clone()
        self.used = torch.nn.Parameter(rows * (recipe.token_init_std / 0.02))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        local = self.lookup[ids]
        if (local < 0).any():
            raise ValueError("caption uses a token outside the training vocabulary")
        embeds = self.used[local]
        eos = (ids == ids.max(dim=-1, keepdim=True).values).int().argmax(dim=-1)
        return self.clip(inputs_embeds=embeds, eos_index=eos).last

    def export(self) -> dict[str, torch.Tensor]:
        """HF-layout state dict (`text_model.*`) with the trained rows written into the full table."""
        sd = {
            k: v.detach().clone() for k, v in self.clip.state_dict().items() if k != "text_projection.weight"
        }
        sd["text_model.embeddings.token_embedding.weight"][self.vocab] = self.used.detach()
        return sd


# ---------------------------------------------------------------------------------------------- diffusion
def alphas_cumprod() -> torch.Tensor:
    """SD1's scaled-linear schedule (beta 0.00085 -> 0.012 over 1000 steps), as ModelSamplingDiscrete."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def loss_weights(acp: torch.Tensor, cap: float) -> torch.Tensor:
    """Per-timestep weight of the eps loss: 1 / alpha_bar (the v-prediction loss expressed on eps), capped,
    normalised to mean 1. Plain eps-MSE barely rewards getting the composition right at high noise, where
    the caption matters most; this weighting makes the text steer the picture within a CPU budget."""
    w = (1.0 / acp).clamp(max=cap)
    return w / w.mean()


def foreground_weights(scenes: list[ds.Scene], size: int, extra: float) -> torch.Tensor | None:
    """Per-sample latent-pixel loss weights [N, 1, size, size] (mean 1 each): 1 + `extra` on the shape's
    latent pixels, dilated by one so the outline counts too. None when `extra` is 0."""
    if extra <= 0:
        return None
    cell = ds.IMAGE_SIZE // size
    masks = torch.from_numpy(np.stack([ds.render_mask(s, ds.IMAGE_SIZE) for s in scenes]))[:, None]
    cover = torch.nn.functional.avg_pool2d(masks, cell) > 0.05
    cover = torch.nn.functional.max_pool2d(cover.float(), 3, stride=1, padding=1)
    w = 1.0 + extra * cover
    return w / w.mean(dim=(1, 2, 3), keepdim=True)


@torch.no_grad()
def seed_position_channels(unet: UNetModel, n: int) -> None:
    """Make the first `n` conv_in output channels constant fields (alternating +1/-1); still trainable."""
    conv = unet.input_blocks[0][0]
    conv.weight[:n] = 0.0
    conv.bias[:n] = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(n)])


def sample_timesteps(n: int, high_share: float, gen: torch.Generator) -> torch.Tensor:
    """Uniform timesteps, with `high_share` of them redrawn from the top quarter (t >= 750)."""
    t = torch.randint(0, 1000, (n,), generator=gen)
    high = torch.randint(750, 1000, (n,), generator=gen)
    pick = torch.rand(n, generator=gen) < high_share
    return torch.where(pick, high, t)


def structured_noise(shape: torch.Size, recipe: Recipe, gen: torch.Generator) -> torch.Tensor:
    """White noise plus offset noise (a per-image, per-channel constant: hides the colours at high noise,
    so they must come from the caption) plus bilinearly upsampled 2x2 and 4x4 noise (hides the shape's
    quadrant the same way, so the position must come from the caption too)."""
    b, c, h, w = shape
    noise = torch.randn(shape, generator=gen)
    noise = noise + recipe.offset_noise * torch.randn((b, c, 1, 1), generator=gen)
    for res, std in ((2, recipe.pyramid_noise_2), (4, recipe.pyramid_noise_4)):
        if std > 0:
            low = torch.randn((b, c, res, res), generator=gen)
            noise = noise + std * torch.nn.functional.interpolate(
                low, size=(h, w), mode="bilinear", align_corners=False
            )
    return noise


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1.0 - decay)


def train_diffusion(
    recipe: Recipe,
    data: dict,
    work: Path,
    report: Callable[[str], None],
    evaluate: Callable[[UNetModel, TextModel, int], None] | None = None,
) -> tuple[UNetModel, TextModel]:
    torch.manual_seed(recipe.seed + 6)
    tokens = TokenCache()
    text = TextModel(recipe, tokens.vocabulary())
    unet = init_weights(
        UNetModel(unet_params(recipe.unet_channels, recipe.text_width)),
        zero_out=("out_layers.3", "proj_out"),
    )
    build_head(unet)
    seed_position_channels(unet, recipe.position_channels)
    latents: torch.Tensor = data["latents"]
    scenes = [ds.Scene(**s) for s in data["scenes"]]
    pixel_weights = foreground_weights(scenes, latents.shape[-1], recipe.foreground_weight)
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text).eval()
    groups = [
        {"params": [p for p in unet.parameters() if p.requires_grad], "peak": recipe.diffusion_lr},
        {"params": [p for p in text.parameters() if p.requires_grad], "peak": recipe.text_lr},
    ]
    opt = torch.optim.AdamW(
        [{"params": g["params"], "lr": g["peak"]} for g in groups], weight_decay=0.01, betas=(0.9, 0.99)
    )
    acp = alphas_cumprod()
    weights = loss_weights(acp, recipe.max_loss_weight)
    rng = random.Random(recipe.seed + 7)
    gen = torch.Generator().manual_seed(recipe.seed + 8)
    t0 = time.perf_counter()
    smooth = None
    unet.train()
    text.train()
    for step in range(recipe.diffusion_steps):
        for g, spec in zip(opt.param_groups, groups, strict=True):
            g["lr"] = lr_at(step, recipe.diffusion_steps, recipe.warmup, spec["peak"])
        idx = torch.randint(0, len(latents), (recipe.diffusion_batch,), generator=gen)
        captions = [
            "" if rng.random() < recipe.caption_dropout else ds.random_caption(rng, scenes[i])
            for i in idx.tolist()
        ]
        ids = torch.tensor([tokens.ids(c) for c in captions])
        x0 = latents[idx]
        t = sample_timesteps(len(idx), recipe.high_noise_share, gen)
        noise = structured_noise(x0.shape, recipe, gen)
        a = acp[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        context = text(ids)  # fp32: on this CPU bf16 autocast is slower for these narrow layers
        pred = unet(xt, t.float(), context)
        err = (pred.float() - noise).pow(2)
        if pixel_weights is not None:
            err = err * pixel_weights[idx]
        per_sample = err.mean(dim=(1, 2, 3))
        loss = (weights[t] * per_sample).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(groups[0]["params"] + groups[1]["params"], 1.0)
        opt.step()
        decay = min(recipe.ema_decay, (1 + step) / (10 + step))
        _ema_update(ema_unet, unet, decay)
        _ema_update(ema_text, text, decay)
        smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
        if (step + 1) % 25 == 0 or step + 1 == recipe.diffusion_steps:
            report(
                f"diffusion step {step + 1}/{recipe.diffusion_steps} loss {loss.item():.4f} "
                f"(avg {smooth:.4f}) ({time.perf_counter() - t0:.0f}s)"
            )
        if evaluate is not None and (step + 1) % 250 == 0:
            evaluate(ema_unet, ema_text, step + 1)
            torch.save({"unet": ema_unet.state_dict(), "text": ema_text.state_dict()}, work / "diffusion.pt")
    torch.save(
        {"unet": ema_unet.state_dict(), "text": ema_text.state_dict(), "loss": smooth}, work / "diffusion.pt"
    )
    return ema_unet, ema_text


# ---------------------------------------------------------------------------------------------- sampling
@torch.no_grad()
def sample(
    unet: UNetModel,
    text: TextModel,
    vae: AutoencoderKL,
    prompts: list[str],
    seed: int,
    steps: int = 20,
    cfg: float = 6.0,
) -> np.ndarray:
    """Quick DDIM (eta 0) sampler for monitoring: uint8 images [B, 128, 128, 3]."""
    tokens = TokenCache()
    ids = torch.tensor([tokens.ids(p) for p in prompts] + [tokens.ids("")] * len(prompts))
    context = text(ids).float()
    acp = alphas_cumprod()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((len(prompts), 4, 16, 16), generator=g)
    ts = torch.linspace(999, 0, steps).round().long()
    for i, t in enumerate(ts):
        a = acp[t]
        eps = unet(torch.cat([x, x]), torch.full((2 * len(prompts),), float(t)), context).float()
        cond, unc = eps.chunk(2)
        e = unc + cfg * (cond - unc)
        x0 = (x - (1 - a).sqrt() * e) / a.sqrt()
        a_next = acp[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * e
    img = vae.decode(x / LATENT_SCALE).float()
    return ((img.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
