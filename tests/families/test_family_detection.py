"""Detection on synthetic key/shape dicts (meta tensors from the real files' manifests)."""

from __future__ import annotations

import pytest
import torch

from comfy_core.families import UnexplainedKeysError, UnknownModelError, detect, split_checkpoint
from comfy_core.models.unet import UNetParams
from tests.fixtures.checkpoints import manifest_meta_state_dict

SD15 = "sd15_v1-5-pruned-emaonly"
SD21 = "sd21_v2-1_768-ema-pruned"
SDXL = "sdxl_sd_xl_base_1.0"
REFINER = "sdxl_refiner_sd_xl_refiner_1.0"
UNET = "model.diffusion_model."

EXPECTED = {
    SD15: ("sd15", UNetParams()),
    "sd15_comfyui_checkpointsave_fp16": ("sd15", UNetParams()),
    SD21: (
        "sd20",
        UNetParams(
            context_dim=1024,
            num_heads=-1,
            num_head_channels=64,
            use_linear_in_transformer=True,
            attn_upcast=True,
        ),
    ),
    SDXL: (
        "sdxl",
        UNetParams(
            num_res_blocks=(2, 2, 2),
            channel_mult=(1, 2, 4),
            transformer_depth=(0, 0, 2, 2, 10, 10),
            transformer_depth_output=(10, 10, 10, 2, 2, 2, 0, 0, 0),
            transformer_depth_middle=10,
            context_dim=2048,
            num_heads=-1,
            num_head_channels=64,
            use_linear_in_transformer=True,
            adm_in_channels=2816,
        ),
    ),
    REFINER: (
        "sdxl_refiner",
        UNetParams(
            model_channels=384,
            transformer_depth=(0, 0, 4, 4, 4, 4, 0, 0),
            transformer_depth_output=(0, 0, 0, 4, 4, 4, 4, 4, 4, 0, 0, 0),
            transformer_depth_middle=4,
            context_dim=1280,
            num_heads=-1,
            num_head_channels=64,
            use_linear_in_transformer=True,
            adm_in_channels=2560,
        ),
    ),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_release_files_detect_to_their_family_and_config(name: str) -> None:
    family, params = detect(manifest_meta_state_dict(name))
    want_family, want_params = EXPECTED[name]
    assert family.name == want_family
    assert params == want_params
    assert family.prediction == "eps"  # meta tensors carry no values: SD2's weight rule cannot fire


def _with_in_channels(sd: dict, n: int) -> dict:
    sd = dict(sd)
    w = sd[UNET + "input_blocks.0.0.weight"]
    sd[UNET + "input_blocks.0.0.weight"] = torch.empty((w.shape[0], n, *w.shape[2:]), device="meta")
    return sd


@pytest.mark.parametrize(
    ("name", "want"), [(SD15, "sd15_inpaint"), (SD21, "sd20_inpaint"), (SDXL, "sdxl_inpaint")]
)
def test_nine_input_channels_is_the_inpainting_family(name: str, want: str) -> None:
    family, params = detect(_with_in_channels(manifest_meta_state_dict(name), 9))
    assert family.name == want and family.inpaint and params.in_channels == 9


def _sd2_with_norm_bias_std(std: float, in_channels: int = 4) -> dict:
    sd = _with_in_channels(manifest_meta_state_dict(SD21), in_channels)
    g = torch.Generator().manual_seed(0)
    bias = torch.randn(320, generator=g)
    sd[UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias"] = bias / bias.std(unbiased=False) * std
    return sd


def test_sd2_v_prediction_rule_uses_comfyui_threshold() -> None:
    assert detect(_sd2_with_norm_bias_std(0.12))[0].prediction == "v_prediction"
    assert detect(_sd2_with_norm_bias_std(0.08))[0].prediction == "eps"
    # inpainting SD2 models are never v-prediction, whatever the statistic says
    assert detect(_sd2_with_norm_bias_std(0.5, in_channels=9))[0].prediction == "eps"


def test_sdxl_v_pred_and_ztsnr_markers() -> None:
    sd = manifest_meta_state_dict(SDXL)
    sd["v_pred"] = torch.tensor([])
    family, _ = detect(sd)
    assert (family.prediction, family.zsnr) == ("v_prediction", False)
    sd["ztsnr"] = torch.tensor([])
    family, _ = detect(sd)
    assert (family.prediction, family.zsnr) == ("v_prediction", True)
    # markers are knowingly ignored when splitting
    assert set(split_checkpoint(sd, family)["ignored"]) == {"v_pred", "ztsnr"}


def test_bare_unet_file_is_detected_without_prefix() -> None:
    sd = {k[len(UNET) :]: v for k, v in manifest_meta_state_dict(SDXL).items() if k.startswith(UNET)}
    family, params = detect(sd)
    assert family.name == "sdxl" and family.unet_prefix == "" and params.adm_in_channels == 2816
    assert len(split_checkpoint(sd, family)["unet"]) == 1680


def test_file_without_a_supported_model_names_its_first_keys() -> None:
    sd = manifest_meta_state_dict("flux_ae")
    with pytest.raises(UnknownModelError) as e:
        detect(sd)
    first = sorted(sd)[0]
    assert first in str(e.value) and e.value.keys[0] == first


def test_unsupported_unet_config_fails_with_keys() -> None:
    sd = dict(manifest_meta_state_dict(SD15))
    k = UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    sd[k] = torch.empty(320, 1000, device="meta")  # SD1 layout with an unknown text width
    with pytest.raises(UnknownModelError, match="matches no supported family"):
        detect(sd)


def test_unexplained_tensor_is_reported_by_name() -> None:
    sd = manifest_meta_state_dict(SD15)
    sd["lora_unet_down_blocks_0.alpha"] = torch.empty((), device="meta")
    family, _ = detect(sd)
    with pytest.raises(UnexplainedKeysError, match="lora_unet_down_blocks_0.alpha"):
        split_checkpoint(sd, family)
    parts = split_checkpoint(sd, family, strict=False)
    assert len(parts["unet"]) == 686 and "lora_unet_down_blocks_0.alpha" not in parts["ignored"]


def test_reduced_width_file_matches_by_structure() -> None:
    from tests.fixtures.checkpoints import reduced_configs

    for name, fam in [(SD15, "sd15"), (SD21, "sd20"), (SDXL, "sdxl"), (REFINER, "sdxl_refiner")]:
        family, unet, _, _ = reduced_configs(name)
        assert family.name == fam and unet.model_channels == 32
