"""Diffusers UNet2DConditionModel tensor names <-> original LDM/SGM UNet names, built from the UNet's params.

Diffusers groups the UNet as down_blocks.L.{resnets,attentions,downsamplers}, mid_block and
up_blocks.L.{resnets,attentions,upsamplers}; the original layout numbers blocks flatly (input_blocks.N.M,
middle_block.M, output_blocks.N.M). Levels, ResBlocks per level and transformer depths come from
`UNetParams`, so the map holds for SD1, SD2, SDXL and reduced test UNets alike.
"""

from __future__ import annotations

from comfy_core.models.unet import UNetParams

# ResBlock: LDM sub-path -> diffusers name
RESNET = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}
# SpatialTransformer: same names in both layouts
ATTENTION = ("norm", "proj_in", "proj_out")
TRANSFORMER_BLOCK = (
    "norm1",
    "norm2",
    "norm3",
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
    "ff.net.0.proj",
    "ff.net.2",
)
BASIC = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
PARAMS = ("weight", "bias")


def _resnet(out: dict[str, str], diff: str, ldm: str) -> None:
    for src, dst in RESNET.items():
        out[f"{diff}.{dst}"] = f"{ldm}.{src}"


def _attention(out: dict[str, str], diff: str, ldm: str, depth: int) -> None:
    for name in ATTENTION:
        out[f"{diff}.{name}"] = f"{ldm}.{name}"
    for t in range(depth):
        for name in TRANSFORMER_BLOCK:
            out[f"{diff}.transformer_blocks.{t}.{name}"] = f"{ldm}.transformer_blocks.{t}.{name}"


def unet_module_map(p: UNetParams) -> dict[str, str]:
    """{diffusers module path: LDM module path} (no `.weight`/`.bias`)."""
    out: dict[str, str] = dict(BASIC)
    levels = len(p.channel_mult)
    depth_in = list(p.transformer_depth)
    n = 1
    for level in range(levels):
        for i in range(p.num_res_blocks[level]):
            _resnet(out, f"down_blocks.{level}.resnets.{i}", f"input_blocks.{n}.0")
            depth = depth_in.pop(0)
            if depth:
                _attention(out, f"down_blocks.{level}.attentions.{i}", f"input_blocks.{n}.1", depth)
            n += 1
        if level != levels - 1:
            out[f"down_blocks.{level}.downsamplers.0.conv"] = f"input_blocks.{n}.0.op"
            n += 1
    _resnet(out, "mid_block.resnets.0", "middle_block.0")
    _attention(out, "mid_block.attentions.0", "middle_block.1", p.transformer_depth_middle)
    _resnet(out, "mid_block.resnets.1", "middle_block.2")
    depth_out = list(p.transformer_depth_output)  # output order: deepest level first
    n = 0
    for up, level in enumerate(reversed(range(levels))):
        count = p.num_res_blocks[level] + 1
        for i in range(count):
            _resnet(out, f"up_blocks.{up}.resnets.{i}", f"output_blocks.{n}.0")
            depth = depth_out.pop(0)
            index = 1
            if depth:
                _attention(out, f"up_blocks.{up}.attentions.{i}", f"output_blocks.{n}.1", depth)
                index = 2
            if level and i == count - 1:
                out[f"up_blocks.{up}.upsamplers.0.conv"] = f"output_blocks.{n}.{index}.conv"
            n += 1
    return out


def unet_to_diffusers(p: UNetParams) -> dict[str, str]:
    """{diffusers tensor name: LDM tensor name} for weights and biases (ComfyUI's `unet_to_diffusers`)."""
    return {f"{d}.{w}": f"{ldm}.{w}" for d, ldm in unet_module_map(p).items() for w in PARAMS}
