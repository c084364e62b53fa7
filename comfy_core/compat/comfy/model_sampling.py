"""ComfyUI's `comfy.model_sampling`: prediction types (EPS, V_PREDICTION, EDM, X0, CONST) and noise
tables. Packs combine them by multiple inheritance (`class S(ModelSamplingDiscrete, EPS)`) and build the
table from a model config (`S(model_config)`), which the compat ModelSamplingDiscrete accepts."""

from __future__ import annotations

from typing import Any

from comfy_core.sampling import model_sampling as _ms
from comfy_core.sampling.model_sampling import (
    CONST,
    EDM,
    EPS,
    V_PREDICTION,
    X0,
    ModelSamplingDiscreteFlow,
    ModelSamplingFlux,
    flux_time_shift,
    rescale_zero_terminal_snr_sigmas,
    time_snr_shift,
)

__all__ = [
    "CONST",
    "EDM",
    "EPS",
    "V_PREDICTION",
    "X0",
    "ModelSamplingDiscrete",
    "ModelSamplingDiscreteFlow",
    "ModelSamplingFlux",
    "flux_time_shift",
    "rescale_zero_terminal_snr_sigmas",
    "time_snr_shift",
]


class _AlsoCoreInstances(type(_ms.ModelSamplingDiscrete)):
    """isinstance(x, comfy.model_sampling.ModelSamplingDiscrete) holds for comfy-core's tables too (only
    for this class itself, not for the subclasses packs derive from it)."""

    def __instancecheck__(cls, obj: Any) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        return cls.__dict__.get("_core_class") is not None and isinstance(obj, cls.__dict__["_core_class"])


class ModelSamplingDiscrete(_ms.ModelSamplingDiscrete, metaclass=_AlsoCoreInstances):
    """ComfyUI's constructor: `(model_config=None, zsnr=None)`, settings from `model_config.sampling_settings`."""

    _core_class = _ms.ModelSamplingDiscrete

    def __init__(self, model_config: Any = None, zsnr: bool | None = None) -> None:
        settings = dict(getattr(model_config, "sampling_settings", None) or {})
        super().__init__(
            beta_schedule=settings.get("beta_schedule", "linear"),
            linear_start=settings.get("linear_start", 0.00085),
            linear_end=settings.get("linear_end", 0.012),
            timesteps=settings.get("timesteps", 1000),
            zsnr=bool(settings.get("zsnr", False) if zsnr is None else zsnr),
        )
