"""SD model-side throughput: UNet denoising steps and VAE decode, ours against diffusers on identical
random weights (the release configs read from the checkpoint manifests, optionally at reduced width).

Prints seconds per step/decode for both and the ratio ours/diffusers (target <= 1.05). CPU defaults are
small; on a GPU use e.g. `--family sdxl --width full --latent 128 --dtype bf16 --device cuda`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from comfy_core.families import build_diffusion_model, detect, split_checkpoint  # noqa: E402
from comfy_core.models.vae import AutoencoderKL, vae_params_from_state_dict  # noqa: E402
from tests.fixtures.checkpoints import manifest_meta_state_dict, randomize_  # noqa: E402

MANIFESTS = {
    "sd15": "sd15_v1-5-pruned-emaonly",
    "sd21": "sd21_v2-1_768-ema-pruned",
    "sdxl": "sdxl_sd_xl_base_1.0",
    "refiner": "sdxl_refiner_sd_xl_refiner_1.0",
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, repeats: int, device: str) -> float:
    fn()
    _sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=sorted(MANIFESTS), default="sd15")
    ap.add_argument("--width", default="64", help="UNet model_channels, or 'full' for the release width")
    ap.add_argument("--latent", type=int, default=32, help="latent side (pixels / 8)")
    ap.add_argument("--batch", type=int, default=2, help="2 = cond + uncond")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dtype, dev = DTYPES[args.dtype], args.device
    torch.set_grad_enabled(False)

    meta = manifest_meta_state_dict(MANIFESTS[args.family])
    family, params = detect(meta)
    if args.width != "full":
        params = replace(params, model_channels=int(args.width))
    model = build_diffusion_model(family, params, dtype=dtype, device=dev)
    randomize_(model.diffusion_model, 0)
    unet = model.diffusion_model
    print(
        f"{family.display_name}: UNet {sum(p.numel() for p in unet.parameters()) / 1e6:.1f}M params, {args.dtype}"
    )

    b, s = args.batch, args.latent
    x = torch.randn(b, params.in_channels, s, s, device=dev, dtype=dtype)
    t = torch.full((b,), 500.0, device=dev)
    ctx = torch.randn(b, 77, params.context_dim, device=dev, dtype=dtype)
    y = torch.randn(b, params.adm_in_channels, device=dev, dtype=dtype) if params.adm_in_channels else None
    ours = _time(lambda: unet(x, t, ctx, y=y), args.repeats, dev)
    print(f"unet step   ours      {ours * 1000:9.1f} ms")

    try:
        from diffusers import UNet2DConditionModel
        from diffusers.loaders.single_file_utils import (
            convert_ldm_unet_checkpoint,
            convert_ldm_vae_checkpoint,
        )
    except ImportError:
        print("diffusers not installed: no comparison")
        return

    theirs = _diffusers_unet(params, UNet2DConditionModel).to(device=dev, dtype=dtype).eval()
    sd = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    theirs.load_state_dict(convert_ldm_unet_checkpoint(sd, dict(theirs.config)))
    kw = {}
    if y is not None:
        n_ids = 6 if family.adm == "sdxl" else 5  # size/crop/target ids, or size/crop/aesthetic score
        pooled = y[:, : params.adm_in_channels - n_ids * 256]
        time_ids = torch.zeros(b, n_ids, device=dev, dtype=dtype)
        kw = {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids}}
    ref = _time(lambda: theirs(x, t, encoder_hidden_states=ctx, **kw), args.repeats, dev)
    print(f"unet step   diffusers {ref * 1000:9.1f} ms   ratio {ours / ref:.3f}")

    vae_params = vae_params_from_state_dict(split_checkpoint(meta, family)["vae"])
    if args.width != "full":
        vae_params = replace(vae_params, ch=32)
    vae = randomize_(AutoencoderKL(vae_params, dtype=dtype, device=dev), 1).eval()
    z = torch.randn(1, 4, s, s, device=dev, dtype=dtype)
    ours_v = _time(lambda: vae.decode(z), args.repeats, dev)
    from diffusers import AutoencoderKL as DKL

    dkl = (
        DKL(
            down_block_types=("DownEncoderBlock2D",) * len(vae_params.ch_mult),
            up_block_types=("UpDecoderBlock2D",) * len(vae_params.ch_mult),
            block_out_channels=tuple(vae_params.ch * m for m in vae_params.ch_mult),
            layers_per_block=vae_params.num_res_blocks,
            latent_channels=4,
        )
        .to(device=dev, dtype=dtype)
        .eval()
    )
    dkl.load_state_dict(
        convert_ldm_vae_checkpoint(
            {"first_stage_model." + k: v for k, v in vae.state_dict().items()}, dict(dkl.config)
        )
    )
    ref_v = _time(lambda: dkl.decode(z), args.repeats, dev)
    print(f"vae decode  ours      {ours_v * 1000:9.1f} ms")
    print(f"vae decode  diffusers {ref_v * 1000:9.1f} ms   ratio {ours_v / ref_v:.3f}")


def _diffusers_unet(p, cls):
    """diffusers UNet2DConditionModel with the same structure as our UNetParams."""
    attn_levels = []
    i = 0
    for n in p.num_res_blocks:
        attn_levels.append(max(p.transformer_depth[i : i + n]))
        i += n
    down = tuple("CrossAttnDownBlock2D" if d else "DownBlock2D" for d in attn_levels)
    up = tuple("CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(attn_levels))
    chans = tuple(p.model_channels * m for m in p.channel_mult)
    heads = tuple(p.heads_for(c)[0] for c in chans)
    extra = {}
    if p.adm_in_channels:
        extra = dict(
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=p.adm_in_channels,
        )
    return cls(
        sample_size=64,
        in_channels=p.in_channels,
        out_channels=p.out_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=chans,
        layers_per_block=p.num_res_blocks[0],
        transformer_layers_per_block=tuple(max(d, 1) for d in attn_levels),
        cross_attention_dim=p.context_dim,
        attention_head_dim=heads,
        use_linear_projection=p.use_linear_in_transformer,
        **extra,
    )


if __name__ == "__main__":
    main()
