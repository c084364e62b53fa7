"""The family descriptor: everything family-specific, as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from comfy_core.families.latent_formats import LatentFormat
from comfy_core.families.unet_detect import UNetStructure
from comfy_core.models.unet import UNetParams

# No released SD-family UNet is narrower than this; narrower files are reduced test models, matched by structure.
REDUCED_MAX_CHANNELS = 128


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder inside a checkpoint: `name` (clip_l/clip_g/clip_h), its architecture `kind`
    (hf_clip: transformers layout; open_clip: fused in_proj layout) and the key prefix it sits under."""

    name: str
    kind: str
    prefix: str


@dataclass(frozen=True)
class Family:
    name: str
    display_name: str
    latent_format: LatentFormat
    prediction: str  # "eps" | "v_prediction" (comfy_core.sampling.model_sampling names)
    text_encoders: tuple[TextEncoderSpec, ...]
    text_kind: str  # comfy_core.text kind ("sd1", "sd2", "sdxl", "sdxl_refiner") for load_text_encoders
    memory_usage_factor: float
    # structure this family's UNet must have
    levels: int
    linear_proj: bool
    adm: str  # "none" | "sdxl" | "sdxl_refiner"
    in_channels: int = 4
    # the released model's widths; smaller model_channels = a reduced test/distilled file matched by structure
    release: Mapping[str, int | None] = field(default_factory=dict)
    # head layout (not recoverable from shapes): SD1 has 8 heads, SD2/SDXL 64 channels per head
    num_heads: int = -1
    num_head_channels: int = 64
    attn_upcast: bool = False
    zsnr: bool = False
    inference_dtypes: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16, torch.float32)
    unet_prefix: str = "model.diffusion_model."
    vae_prefix: str = "first_stage_model."

    @property
    def inpaint(self) -> bool:
        return self.in_channels > 4

    def matches(self, s: UNetStructure) -> bool:
        if (
            len(s.channel_mult) != self.levels
            or s.use_linear_in_transformer != self.linear_proj
            or (s.adm_in_channels is not None) != (self.adm != "none")
            or s.in_channels != self.in_channels
            or s.out_channels != 4
        ):
            return False
        if self.adm != "none" and any(s.transformer_depth[: s.num_res_blocks[0]]):
            return False  # SDXL base and refiner have no attention at the first level
        if s.model_channels < REDUCED_MAX_CHANNELS:
            return True
        return all(getattr(s, k) == v for k, v in self.release.items())

    def unet_params(self, s: UNetStructure) -> UNetParams:
        heads, head_ch = self.num_heads, self.num_head_channels
        if heads > 0 and any(s.model_channels * m % heads for m in s.channel_mult):
            heads, head_ch = -1, 64  # reduced widths not divisible by the release head count
        return UNetParams(
            in_channels=s.in_channels,
            out_channels=s.out_channels,
            model_channels=s.model_channels,
            num_res_blocks=s.num_res_blocks,
            channel_mult=s.channel_mult,
            transformer_depth=s.transformer_depth,
            transformer_depth_output=s.transformer_depth_output,
            transformer_depth_middle=s.transformer_depth_middle,
            context_dim=s.context_dim or 768,
            num_heads=heads,
            num_head_channels=head_ch if heads <= 0 else -1,
            use_linear_in_transformer=s.use_linear_in_transformer,
            adm_in_channels=s.adm_in_channels,
            attn_upcast=self.attn_upcast,
        )

    def resolve_prediction(self, sd: Mapping[str, torch.Tensor], prefix: str) -> tuple[str, bool]:
        """(prediction, zsnr) for this file; families with file-dependent rules override via PREDICTION_RULES."""
        rule = PREDICTION_RULES.get(self.name)
        return rule(self, sd, prefix) if rule else (self.prediction, self.zsnr)


def _sd2_rule(fam: Family, sd: Mapping[str, torch.Tensor], prefix: str) -> tuple[str, bool]:
    """ComfyUI's SD2 rule: the 768-v model is told from the 512 eps model by its weights alone. If the
    population std of output_blocks.11.1.transformer_blocks.0.norm1.bias exceeds 0.09 the model is
    v-prediction (inpainting models are always eps). Meta tensors (no values) count as eps."""
    t = sd.get(f"{prefix}output_blocks.11.1.transformer_blocks.0.norm1.bias")
    if t is not None and t.device.type != "meta" and torch.std(t.float(), unbiased=False) > 0.09:
        return "v_prediction", False
    return "eps", False


def _sdxl_rule(fam: Family, sd: Mapping[str, torch.Tensor], prefix: str) -> tuple[str, bool]:
    """SDXL v-prediction fine-tunes carry an empty `v_pred` marker tensor (and `ztsnr` for zero-terminal-SNR)."""
    if "v_pred" in sd:
        return "v_prediction", "ztsnr" in sd
    return "eps", False


PREDICTION_RULES = {"sd20": _sd2_rule, "sdxl": _sdxl_rule, "sdxl_inpaint": _sdxl_rule}
