"""Shared by the numeric compat modules: ComfyUI hands MODEL objects (ModelPatchers) to functions that
comfy-core's sampling code expects loaded (`InferenceModel`); these helpers bridge the two."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def is_loaded(model: Any) -> bool:
    from comfy_core.memory.loading import InferenceModel

    return isinstance(model, InferenceModel)


@contextmanager
def loaded(model: Any) -> Iterator[Any]:
    """`model` ready for sampling for the block: a ModelPatcher is placed and patched through the loading
    seam; an already loaded model (or anything else) is used as it is."""
    if is_loaded(model) or not hasattr(model, "patched"):
        yield model
        return
    from comfy_core.memory.loading import load_for_inference

    with load_for_inference([model]) as (inference,):
        yield inference


def model_sampling_of(model: Any) -> Any:
    """The model_sampling object of a ModelPatcher (object patches first) or of a loaded model."""
    getter = getattr(model, "get_model_object", None)
    if getter is not None:
        return getter("model_sampling")
    return model.model_sampling


def latent_format_of(model: Any) -> Any:
    getter = getattr(model, "get_model_object", None)
    if getter is not None:
        try:
            return getter("latent_format")
        except AttributeError:
            pass
    from comfy_core.preview import latent_format_of as find

    return find(model)
