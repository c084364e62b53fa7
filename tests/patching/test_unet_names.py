"""The diffusers <-> LDM UNet name map is a bijection onto a real diffusers UNet2DConditionModel of the
same layout (names and shapes), for the SD1, SD2 and SDXL layouts at reduced widths (meta tensors)."""

from __future__ import annotations

import pytest
import torch

from comfy_core.models.unet import UNetModel
from comfy_core.patching.unet_names import unet_to_diffusers
from tests.fixtures.checkpoints import reduced_configs

diffusers = pytest.importorskip("diffusers")


def _diffusers_unet(family, p) -> torch.nn.Module:
    levels = len(p.channel_mult)
    per_level = [p.transformer_depth[sum(p.num_res_blocks[:lv])] for lv in range(levels)]
    down = tuple("CrossAttnDownBlock2D" if d else "DownBlock2D" for d in per_level)
    up = tuple("CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(per_level))
    if p.num_heads > 0:
        heads = p.num_heads
    else:
        heads = tuple(p.model_channels * m // p.num_head_channels for m in p.channel_mult)
    with torch.device("meta"):
        return diffusers.UNet2DConditionModel(
            sample_size=8,
            in_channels=p.in_channels,
            out_channels=p.out_channels,
            block_out_channels=tuple(p.model_channels * m for m in p.channel_mult),
            layers_per_block=p.num_res_blocks[0],
            down_block_types=down,
            up_block_types=up,
            cross_attention_dim=p.context_dim,
            attention_head_dim=heads,
            use_linear_projection=p.use_linear_in_transformer,
            transformer_layers_per_block=tuple(per_level) if family.adm == "sdxl" else 1,
            addition_embed_type="text_time" if p.adm_in_channels else None,
            addition_time_embed_dim=256 if p.adm_in_channels else None,
            projection_class_embeddings_input_dim=p.adm_in_channels,
        )


@pytest.mark.parametrize(
    "manifest", ["sd15_v1-5-pruned-emaonly", "sd21_v2-1_768-ema-pruned", "sdxl_sd_xl_base_1.0"]
)
def test_map_is_a_bijection_onto_diffusers(manifest: str) -> None:
    family, params, _, _ = reduced_configs(manifest)
    ours = {k: v.shape for k, v in UNetModel(params, device="meta").state_dict().items()}
    theirs = {k: v.shape for k, v in _diffusers_unet(family, params).state_dict().items()}
    mapping = unet_to_diffusers(params)
    assert [k for k in theirs if k not in mapping] == []
    assert [k for k in theirs if ours.get(mapping[k]) != theirs[k]] == []
    assert {mapping[k] for k in theirs} == set(ours)


def test_known_names() -> None:
    _, params, _, _ = reduced_configs("sd15_v1-5-pruned-emaonly")
    m = unet_to_diffusers(params)
    assert m["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"] == (
        "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"
    )
    assert m["down_blocks.1.downsamplers.0.conv.bias"] == "input_blocks.6.0.op.bias"
    assert m["up_blocks.3.attentions.2.proj_out.weight"] == "output_blocks.11.1.proj_out.weight"
    assert m["up_blocks.0.upsamplers.0.conv.weight"] == "output_blocks.2.1.conv.weight"
    assert m["up_blocks.1.upsamplers.0.conv.weight"] == "output_blocks.5.2.conv.weight"
    assert m["mid_block.resnets.1.conv2.weight"] == "middle_block.2.out_layers.3.weight"
    assert m["down_blocks.1.resnets.0.conv_shortcut.weight"] == "input_blocks.4.0.skip_connection.weight"
