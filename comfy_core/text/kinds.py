"""Text-encoder kinds as data: which CLIP towers a model family uses and how each is run.

Per tower (ComfyUI's SDClipModel options): activation, pad token, default hidden layer, whether the
final layer norm is applied to that hidden layer, whether pooled output goes through text_projection,
and where the tower sits in a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlotSpec:
    name: str  # token-dict key and module name suffix: "l" -> clip_l
    activation: str
    pad_with_end: bool  # CLIP-L pads with the end token, OpenCLIP towers with 0
    default_layer: int | None  # None = last layer
    norm_hidden: bool  # apply final_layer_norm to the selected hidden layer
    projected_pooled: bool
    embedding_key: str  # key inside SDXL textual-inversion files
    layout: str  # layout inside checkpoints: "hf" | "openclip"
    reference_width: int  # width of the released tower, used to recognise it

    @property
    def module_name(self) -> str:
        return f"clip_{self.name}"


@dataclass(frozen=True)
class KindSpec:
    name: str
    slots: tuple[tuple[SlotSpec, str], ...]  # (tower, checkpoint prefix), in output-concat order
    pooled_from: str
    token_slots: tuple[SlotSpec, ...]  # tokenizers run by CLIP.tokenize, in ComfyUI's dict order

    def slot(self, name: str) -> SlotSpec:
        return next(spec for spec, _ in self.slots if spec.name == name)


CLIP_L_SD1 = SlotSpec("l", "quick_gelu", True, None, True, False, "clip_l", "hf", 768)
CLIP_L_SDXL = SlotSpec("l", "quick_gelu", True, -2, False, True, "clip_l", "hf", 768)
CLIP_H_SD2 = SlotSpec("h", "gelu", False, -2, True, True, "clip_h", "openclip", 1024)
CLIP_G_SDXL = SlotSpec("g", "gelu", False, -2, False, True, "clip_g", "openclip", 1280)

KINDS: dict[str, KindSpec] = {
    "sd1": KindSpec("sd1", ((CLIP_L_SD1, "cond_stage_model.transformer."),), "l", (CLIP_L_SD1,)),
    "sd2": KindSpec("sd2", ((CLIP_H_SD2, "cond_stage_model.model."),), "h", (CLIP_H_SD2,)),
    "sdxl": KindSpec(
        "sdxl",
        (
            (CLIP_L_SDXL, "conditioner.embedders.0.transformer."),
            (CLIP_G_SDXL, "conditioner.embedders.1.model."),
        ),
        "g",
        (CLIP_G_SDXL, CLIP_L_SDXL),
    ),
    # ComfyUI tokenizes for both towers (SDXLTokenizer) though only bigG is encoded.
    "sdxl_refiner": KindSpec(
        "sdxl_refiner", ((CLIP_G_SDXL, "conditioner.embedders.0.model."),), "g", (CLIP_G_SDXL, CLIP_L_SDXL)
    ),
}


def get_kind(name: str) -> KindSpec:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown text-encoder kind {name!r}; expected one of {sorted(KINDS)}") from None
