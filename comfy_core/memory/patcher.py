"""ModelPatcher: a model plus the patches and options one graph branch applies to it.

Clones share the wrapped module; what differs between clones is data: weight patches
(`key -> [(strength_patch, adapter, strength_model)]`), object patches (attribute path -> replacement,
e.g. `model_sampling` from ModelSamplingDiscrete) and `model_options` (CFG hooks, transformer options).
Patches are applied only while a clone is *in use* (`patch_model` / `unpatch_model`, driven by the
memory manager): original weights are backed up and restored bit for bit, so two clones never see each
other's patches and changing a LoRA never re-reads the checkpoint.
"""

from __future__ import annotations

import copy
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from comfy_core.memory.partial import (
    StreamHooks,
    install_streaming,
    move_own_tensors,
    plan_load,
    remove_streaming,
)
from comfy_core.memory.streaming import current_config, pin_module_tensors, select_copier, use_pinned_memory

# One recorded patch: (strength_patch, adapter, strength_model). Adapters live in comfy_core.patching
# (LoRA, LoHa, LoKr, diff, set ...): `apply(weight_fp32, strength) -> weight`, or only
# `delta(weight_fp32, key_shape=...) -> Tensor` (the change at strength 1). A plain tensor is a full diff.
WeightPatch = tuple[float, Any, float]
FP8_DTYPES = tuple(
    getattr(torch, n)
    for n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
    if hasattr(torch, n)
)


def _get_attr(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set_attr(obj: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    setattr(obj, parts[-1], value)


def _named_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    named = dict(model.named_parameters())
    named.update(dict(model.named_buffers()))
    return named


class WeightState:
    """Placement and patch state of one module, shared by every ModelPatcher over it (clones share
    weights, so they must share the backups and know whose patches are in place)."""

    def __init__(self) -> None:
        self.backup: dict[str, torch.Tensor] = {}  # original values of weights patched in place
        self.applied: uuid.UUID | None = None  # patches_uuid of the clone whose patches are in place
        self.device: torch.device | None = None
        self.budget: int | None = None  # None: fully loaded
        self.device_bytes = 0
        self.streamed_bytes = 0
        self.streamed: list[StreamHooks] = []


def weight_state(model: torch.nn.Module) -> WeightState:
    st = model.__dict__.get("_comfy_weight_state")
    if st is None:
        st = WeightState()
        model.__dict__["_comfy_weight_state"] = st
    return st


def restore_weights(model: torch.nn.Module, device_to: torch.device | str | None = None) -> None:
    """Undo whatever patches are in place on `model` (no patcher needed: the backups are shared)."""
    st = weight_state(model)
    for hooks in st.streamed:
        remove_streaming(hooks)
    st.streamed = []
    if st.backup:
        named = _named_tensors(model)
        with torch.no_grad():
            for key, original in st.backup.items():
                named[key].copy_(original.to(named[key].device))
        st.backup = {}
    st.applied, st.budget, st.streamed_bytes = None, None, 0
    if device_to is not None:
        model.to(device_to)
        st.device = torch.device(device_to)
        st.device_bytes = 0


def _key_seed(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


def stochastic_round(value: torch.Tensor, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Cast fp32 -> `dtype`; fp8 targets round stochastically between the two neighbouring fp8 values
    (seeded per weight key, so patching is reproducible), which keeps small LoRA deltas from vanishing
    in fp8's coarse grid. Other dtypes use round-to-nearest."""
    if dtype not in FP8_DTYPES:
        return value.to(dtype)
    info = torch.finfo(dtype)
    x = value.float().clamp(info.min, info.max)
    nearest = x.to(dtype)
    near = nearest.float()
    bits = nearest.view(torch.uint8).to(torch.int16)
    # fp8 is sign-magnitude: +1 on the low 7 bits moves away from zero, -1 towards it
    away = x.abs() > near.abs()
    # (the step towards zero is only taken from non-zero magnitudes: x == near there, probability 0)
    other_bits = torch.where(away, bits + 1, bits - 1).clamp(0, 255)
    other = other_bits.to(torch.uint8).view(dtype).float()
    other = torch.where(torch.isfinite(other) & (other.abs() <= info.max), other, near)
    gap = (other - near).abs()
    prob = torch.where(gap > 0, (x - near).abs() / gap.clamp_min(1e-30), torch.zeros_like(x))
    g = torch.Generator(device=x.device).manual_seed(seed)
    u = torch.rand(x.shape, generator=g, device=x.device)
    return torch.where(u < prob, other, near).to(dtype)


def apply_weight_patches(weight: torch.Tensor, patches: list[WeightPatch], key: str = "") -> torch.Tensor:
    """weight * strength_model, then each adapter at its strength; computed in fp32, cast back."""
    out = weight.to(torch.float32)
    for strength_patch, adapter, strength_model in patches:
        if strength_model != 1.0:
            out = out * strength_model
        if isinstance(adapter, torch.Tensor):  # a plain full-weight difference ("diff")
            out = out + strength_patch * adapter.to(device=out.device, dtype=torch.float32).reshape(out.shape)
        elif hasattr(adapter, "apply"):
            out = adapter.apply(out, strength_patch)
        else:
            out = out + strength_patch * adapter.delta(out, key_shape=out.shape)
    if out.shape != weight.shape:  # a padding adapter (reshape_weight) outgrew the tensor; keep the fit
        out = out[tuple(slice(0, d) for d in weight.shape)]
    return stochastic_round(out, weight.dtype, _key_seed(key))


class ModelPatcher:
    def __init__(
        self,
        model: torch.nn.Module,
        load_device: torch.device | str = "cpu",
        offload_device: torch.device | str = "cpu",
        size: int = 0,
    ) -> None:
        self.model = model
        self.load_device = torch.device(load_device)
        self.offload_device = torch.device(offload_device)
        self.size = size
        self.patches: dict[str, list[WeightPatch]] = {}
        self.object_patches: dict[str, Any] = {}
        self.model_options: dict[str, Any] = {"transformer_options": {}}
        self.patches_uuid = uuid.uuid4()
        self._object_backup: dict[str, Any] = {}

    # ---- cloning and identity -------------------------------------------------------------
    def clone(self) -> ModelPatcher:
        n = ModelPatcher.__new__(ModelPatcher)
        n.model = self.model
        n.load_device, n.offload_device, n.size = self.load_device, self.offload_device, self.size
        n.patches = {k: list(v) for k, v in self.patches.items()}
        n.object_patches = dict(self.object_patches)
        n.model_options = copy.deepcopy(self.model_options)
        n.patches_uuid = self.patches_uuid
        n._object_backup = {}
        return n

    def is_clone(self, other: Any) -> bool:
        return isinstance(other, ModelPatcher) and other.model is self.model

    def model_size(self) -> int:
        if not self.size:
            self.size = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        return self.size

    def model_dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    # ---- patches as data ------------------------------------------------------------------
    def add_patches(
        self, patches: dict[str, Any], strength_patch: float = 1.0, strength_model: float = 1.0
    ) -> list[str]:
        """Record patches for keys of this model's state dict; returns the keys that matched."""
        from comfy_core.patching.adapters import as_adapter

        own = self.model.state_dict()
        added = []
        for key, adapter in patches.items():
            if key in own:
                self.patches.setdefault(key, []).append((strength_patch, as_adapter(adapter), strength_model))
                added.append(key)
        self.patches_uuid = uuid.uuid4()
        return added

    def get_key_patches(self, filter_prefix: str | None = None) -> dict[str, list]:
        """{key: [original weight, *patches]} (ComfyUI's shape; model-merge nodes read it)."""
        out: dict[str, list] = {}
        for key, tensor in self.model.state_dict().items():
            if filter_prefix is not None and not key.startswith(filter_prefix):
                continue
            out[key] = [self.weight_state.backup.get(key, tensor), *self.patches.get(key, [])]
        return out

    def weight_patch_function(self, key: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """For weights that stay off the device (partial loading): a function the layer ops apply to the
        cast weight on every forward, giving the same values as patching in place."""
        plist = self.patches.get(key)
        if not plist:
            return None

        def patched(weight: torch.Tensor) -> torch.Tensor:
            return apply_weight_patches(weight, plist, key)

        return patched

    def add_object_patch(self, name: str, obj: Any) -> None:
        self.object_patches[name] = obj

    def get_model_object(self, name: str) -> Any:
        if name in self.object_patches:
            return self.object_patches[name]
        if name in self._object_backup:
            return self._object_backup[name]
        return _get_attr(self.model, name)

    # ---- model options (custom nodes use these names) -------------------------------------
    def set_model_sampler_cfg_function(self, fn: Callable, disable_cfg1_optimization: bool = False) -> None:
        self.model_options["sampler_cfg_function"] = fn
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_post_cfg_function(
        self, fn: Callable, disable_cfg1_optimization: bool = False
    ) -> None:
        self.model_options.setdefault("sampler_post_cfg_function", []).append(fn)
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_pre_cfg_function(
        self, fn: Callable, disable_cfg1_optimization: bool = False
    ) -> None:
        self.model_options.setdefault("sampler_pre_cfg_function", []).append(fn)
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_unet_function_wrapper(self, fn: Callable) -> None:
        self.model_options["model_function_wrapper"] = fn

    def set_model_denoise_mask_function(self, fn: Callable) -> None:
        self.model_options["denoise_mask_function"] = fn

    def set_model_patch(self, patch: Any, name: str) -> None:
        to = self.model_options["transformer_options"]
        to.setdefault("patches", {}).setdefault(name, []).append(patch)

    def set_model_patch_replace(
        self, patch: Any, name: str, block_name: str, number: int, idx: int | None = None
    ) -> None:
        to = self.model_options["transformer_options"]
        key = (block_name, number) if idx is None else (block_name, number, idx)
        to.setdefault("patches_replace", {}).setdefault(name, {})[key] = patch

    def set_model_attn1_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_patch")

    def set_model_attn2_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_patch")

    def set_model_attn1_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_output_patch")

    def set_model_attn2_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_output_patch")

    def set_model_input_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "input_block_patch")

    def set_model_output_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "output_block_patch")

    # ---- applying patches -----------------------------------------------------------------
    @property
    def weight_state(self) -> WeightState:
        return weight_state(self.model)

    def weights_current(self, device: torch.device | str | None = None, budget: int | None = None) -> bool:
        """Whether this clone's weight patches are in place at this placement (nothing to redo)."""
        st = self.weight_state
        dev = torch.device(device) if device is not None else st.device
        return st.applied == self.patches_uuid and st.device == dev and st.budget == budget

    def patch_weights(self, device: torch.device | str | None = None, budget: int | None = None) -> int:
        """Place the weights and apply this clone's weight patches; returns the bytes on `device`.

        `budget` None loads everything on `device`; otherwise modules are placed largest first while the
        budget lasts and the rest stream (kept on the offload device, patched on the fly per forward).
        Another clone's patches, or the same patches at another placement, are undone first. Original
        weights are backed up on the offload device (shared by every clone of the module)."""
        st = self.weight_state
        dev = torch.device(device) if device is not None else (st.device or self.load_device)
        if self.weights_current(dev, budget):
            return st.device_bytes
        if st.applied is not None:
            self.unpatch_weights()
        plan = plan_load(self.model, budget)
        named = _named_tensors(self.model)
        with torch.no_grad():
            if budget is None:
                self.model.to(dev)
            else:
                for leaf in plan.resident:
                    move_own_tensors(leaf.module, dev)
                for leaf in plan.streamed:
                    move_own_tensors(leaf.module, self.offload_device)
            streamed = {leaf.name for leaf in plan.streamed}
            copier = None
            if plan.streamed:
                config = current_config()
                selected = select_copier(dev, config)
                copier = selected if selected.is_async else None  # sync: the layer ops' own cast, unchanged
                if copier is not None and use_pinned_memory(dev, config):
                    for leaf in plan.streamed:
                        if not pin_module_tensors(leaf.module):
                            break  # pinning unavailable: stream from pageable memory
            for leaf in plan.streamed:
                prefix = f"{leaf.name}." if leaf.name else ""
                st.streamed.append(
                    install_streaming(
                        leaf.module,
                        self.weight_patch_function(prefix + "weight"),
                        self.weight_patch_function(prefix + "bias"),
                        copier,
                    )
                )
            named = _named_tensors(self.model)
            for key, plist in self.patches.items():
                if key.rpartition(".")[0] in streamed or key not in named:
                    continue
                tensor = named[key]
                if key not in st.backup:
                    st.backup[key] = tensor.detach().to(self.offload_device, copy=True)
                tensor.copy_(apply_weight_patches(tensor.detach(), plist, key))
        st.applied, st.device, st.budget = self.patches_uuid, dev, budget
        st.device_bytes = plan.resident_bytes
        st.streamed_bytes = plan.streamed_bytes
        return st.device_bytes

    def unpatch_weights(self, device_to: torch.device | str | None = None) -> None:
        """Restore every backed-up weight bit for bit, stop streaming; optionally move to `device_to`."""
        restore_weights(self.model, device_to)
        if device_to is not None and torch.device(device_to) == self.load_device:
            self.weight_state.device_bytes = self.model_size()

    def patch_objects(self) -> None:
        for name, obj in self.object_patches.items():
            if name not in self._object_backup:
                self._object_backup[name] = _get_attr(self.model, name)
            _set_attr(self.model, name, obj)

    def unpatch_objects(self) -> None:
        for name, original in self._object_backup.items():
            _set_attr(self.model, name, original)
        self._object_backup = {}

    def patch_model(self, device: torch.device | str | None = None) -> torch.nn.Module:
        """Move to `device`, back up and replace patched weights and objects. Idempotent."""
        self.patch_weights(device)
        self.patch_objects()
        return self.model

    def unpatch_model(self, device_to: torch.device | str | None = None) -> None:
        self.unpatch_weights(device_to)
        self.unpatch_objects()

    @contextmanager
    def patched(self, device: torch.device | str | None = None) -> Iterator[torch.nn.Module]:
        """Placement without a memory manager: patch, run, restore."""
        model = self.patch_model(device if device is not None else self.load_device)
        try:
            yield model
        finally:
            self.unpatch_model()

    def model_state_dict(self, filter_prefix: str | None = None) -> dict[str, torch.Tensor]:
        sd = self.model.state_dict()
        if filter_prefix is None:
            return sd
        return {k: v for k, v in sd.items() if k.startswith(filter_prefix)}
