"""V3 inputs whose type or socket set depends on the graph: MultiType, MatchType, Autogrow, DynamicCombo,
DynamicSlot; plus the two functions that turn their templates into concrete inputs for one prompt node.

A prompt carries dynamic inputs under dotted ids (`images.image0`, `resize_type.width`).
`finalize_input_types` lists exactly those present (validation and input resolution read it) and records a
path per dotted id; `nest_inputs` then folds the flat keyword arguments into the nested dicts `execute` gets.
Torch-free.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from comfy_core.registry.v3._base import (
    ComfyTypeI,
    ComfyTypeIO,
    Input,
    Output,
    WidgetInput,
    _ComfyType,
    comfytype,
    create_input_dict_v1,
)
from comfy_core.registry.v3._types import AnyType
from comfy_core.registry.v3._util import is_class, prune_dict

AUTOGROW = "COMFY_AUTOGROW_V3"
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
DYNAMIC_SLOT = "COMFY_DYNAMICSLOT_V3"
DYNAMIC_TYPES = frozenset({AUTOGROW, DYNAMIC_COMBO, DYNAMIC_SLOT})
MAX_AUTOGROW_NAMES = 100


@comfytype(io_type="COMFY_MULTITYPED_V3")
class MultiType(ComfyTypeI):
    """A socket accepting several types; its type string is the comma-joined list (`"IMAGE,MASK"`)."""

    class Input(Input):
        def __init__(
            self,
            id: str | Input,
            types: list[Any],
            display_name: str | None = None,
            optional: bool = False,
            tooltip: str | None = None,
            lazy: bool | None = None,
            extra_dict: dict[str, Any] | None = None,
            raw_link: bool | None = None,
        ) -> None:
            # When `id` is itself an input, that input provides the widget and its own settings win.
            self.input_override: Input | None = None
            if isinstance(id, Input):
                self.input_override = copy.copy(id)
                optional = True if id.optional is True else optional
                tooltip = id.tooltip if id.tooltip is not None else tooltip
                display_name = id.display_name if id.display_name is not None else display_name
                lazy = id.lazy if id.lazy is not None else lazy
                id = id.id
                if isinstance(self.input_override, WidgetInput):
                    self.input_override.widget_type = self.input_override.get_io_type()
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
            self._io_types = types

        @property
        def io_types(self) -> list[Any]:
            return [t if is_class(t) else type(t) for t in self._io_types]

        def get_io_type(self) -> str:
            names = [t.io_type for t in self.io_types]
            if self.input_override is not None:
                names.insert(0, self.input_override.get_io_type())
            return ",".join(dict.fromkeys(names))

        def as_dict(self) -> dict[str, Any]:
            if self.input_override is not None:
                return self.input_override.as_dict() | super().as_dict()
            return super().as_dict()


@comfytype(io_type="COMFY_MATCHTYPE_V3")
class MatchType(ComfyTypeIO):
    """Generic type propagation: inputs and outputs sharing a template resolve to one concrete type in the UI."""

    class Template:
        def __init__(self, template_id: str, allowed_types: Any = AnyType) -> None:
            self.template_id = template_id
            if not isinstance(allowed_types, Iterable):
                allowed_types = [allowed_types]
            for t in allowed_types:
                ok = issubclass(t, _ComfyType) if is_class(t) else isinstance(t, _ComfyType)
                if not ok:
                    raise ValueError(f"Allowed types must be ComfyTypes, got {t!r}")
            self.allowed_types = list(allowed_types)

        def as_dict(self) -> dict[str, Any]:
            return {
                "template_id": self.template_id,
                "allowed_types": ",".join(t.io_type for t in self.allowed_types),
            }

    class Input(Input):
        def __init__(
            self,
            id: str,
            template: MatchType.Template,
            display_name: str | None = None,
            optional: bool = False,
            tooltip: str | None = None,
            lazy: bool | None = None,
            extra_dict: dict[str, Any] | None = None,
            raw_link: bool | None = None,
        ) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
            self.template = template

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | {"template": self.template.as_dict()}

    class Output(Output):
        def __init__(
            self,
            template: MatchType.Template,
            id: str | None = None,
            display_name: str = "MATCHTYPE",
            tooltip: str | None = None,
            is_output_list: bool = False,
        ) -> None:
            super().__init__(id, display_name, tooltip, is_output_list)
            self.template = template

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | {"template": self.template.as_dict()}


class DynamicInput(Input):
    """Base of inputs that expand into other inputs."""


class DynamicOutput(Output):
    """Base of outputs that expand into other outputs."""


@comfytype(io_type=AUTOGROW)
class Autogrow(ComfyTypeI):
    """Repeated sockets: a template input copied as `prefix0..prefixN` (or a fixed name list)."""

    Type = dict

    class _Template:
        def __init__(self, input: Input) -> None:
            if isinstance(input, DynamicInput):
                raise ValueError("Autogrow templates cannot be dynamic inputs")
            self.input = copy.copy(input)
            if isinstance(self.input, WidgetInput):
                self.input.force_input = True
            self.names: list[str] = []

        def get_all(self) -> list[Input]:
            out = []
            for name in self.names:
                clone = copy.copy(self.input)
                clone.id = name
                out.append(clone)
            return out

        def as_dict(self) -> dict[str, Any]:
            return {"input": create_input_dict_v1([self.input])}

        def validate(self) -> None:
            self.input.validate()

    class TemplatePrefix(_Template):
        def __init__(self, input: Input, prefix: str, min: int = 1, max: int = 10) -> None:
            super().__init__(input)
            if min < 0 or max < 1 or max > MAX_AUTOGROW_NAMES:
                raise ValueError(f"Autogrow needs 0 <= min and 1 <= max <= {MAX_AUTOGROW_NAMES}")
            self.prefix = prefix
            self.min = min
            self.max = max
            self.names = [f"{prefix}{i}" for i in range(max)]

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"prefix": self.prefix, "min": self.min, "max": self.max})

    class TemplateNames(_Template):
        def __init__(self, input: Input, names: list[str], min: int = 1) -> None:
            super().__init__(input)
            if min < 0:
                raise ValueError("Autogrow needs min >= 0")
            self.names = list(names[:MAX_AUTOGROW_NAMES])
            self.min = min

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"names": self.names, "min": self.min})

    class Input(DynamicInput):
        def __init__(
            self,
            id: str,
            template: Any,
            display_name: str | None = None,
            optional: bool = False,
            tooltip: str | None = None,
            lazy: bool | None = None,
            extra_dict: dict[str, Any] | None = None,
        ) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self.template = template

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | {"template": self.template.as_dict()}

        def get_all(self) -> list[Input]:
            return [self, *self.template.get_all()]

        def validate(self) -> None:
            self.template.validate()


@comfytype(io_type=DYNAMIC_COMBO)
class DynamicCombo(ComfyTypeI):
    """A combo whose selected option reveals that option's own inputs."""

    Type = dict

    class Option:
        def __init__(self, key: str, inputs: list[Input]) -> None:
            self.key = key
            self.inputs = inputs

        def as_dict(self) -> dict[str, Any]:
            return {"key": self.key, "inputs": create_input_dict_v1(self.inputs)}

    class Input(DynamicInput):
        def __init__(
            self,
            id: str,
            options: list[DynamicCombo.Option],
            display_name: str | None = None,
            optional: bool = False,
            tooltip: str | None = None,
            lazy: bool | None = None,
            extra_dict: dict[str, Any] | None = None,
        ) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self.options = options

        def get_all(self) -> list[Input]:
            return [self, *(inp for option in self.options for inp in option.inputs)]

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | {"options": [o.as_dict() for o in self.options]}

        def validate(self) -> None:
            for option in self.options:
                for inp in option.inputs:
                    inp.validate()


@comfytype(io_type=DYNAMIC_SLOT)
class DynamicSlot(ComfyTypeI):
    """An optional socket that, once connected, reveals further inputs."""

    Type = dict

    class Input(DynamicInput):
        def __init__(
            self,
            slot: Input,
            inputs: list[Input],
            display_name: str | None = None,
            tooltip: str | None = None,
            lazy: bool | None = None,
            extra_dict: dict[str, Any] | None = None,
        ) -> None:
            if isinstance(slot, DynamicInput):
                raise ValueError("DynamicSlot slots cannot be dynamic inputs")
            self.slot = copy.copy(slot)
            self.slot.display_name = slot.display_name if slot.display_name is not None else display_name
            self.slot.tooltip = slot.tooltip if slot.tooltip is not None else tooltip
            self.slot.lazy = slot.lazy if slot.lazy is not None else lazy
            self.slot.extra_dict = slot.extra_dict if slot.extra_dict is not None else extra_dict
            super().__init__(
                slot.id, self.slot.display_name, True, self.slot.tooltip, self.slot.lazy, self.slot.extra_dict
            )
            self.inputs = inputs
            self.force_input: bool | None = None
            if isinstance(self.slot, WidgetInput):
                self.force_input = True
                self.slot.force_input = True

        def get_all(self) -> list[Input]:
            return [self.slot, *self.inputs]

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict(
                {
                    "slotType": str(self.slot.get_io_type()),
                    "inputs": create_input_dict_v1(self.inputs),
                    "forceInput": self.force_input,
                }
            )

        def validate(self) -> None:
            self.slot.validate()
            for inp in self.inputs:
                inp.validate()


def has_dynamic_inputs(types: Mapping[str, Any]) -> bool:
    return any(
        _io_type(spec) in DYNAMIC_TYPES
        for section, entries in types.items()
        if section != "hidden"
        for spec in (entries or {}).values()
    )


def finalize_input_types(
    types: Mapping[str, Any], live_inputs: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Concrete `{required, optional[, hidden]}` for one prompt node, plus dotted id -> nesting path.

    Dynamic templates are replaced by the dotted ids present in `live_inputs` (the node's prompt inputs).
    """
    out: dict[str, Any] = {"required": {}, "optional": {}}
    paths: dict[str, str] = {}
    for section, entries in types.items():
        if section == "hidden":
            continue
        for name, spec in (entries or {}).items():
            _place(out, paths, live_inputs, section, name, spec, [])
    if "hidden" in types:
        out["hidden"] = types["hidden"]
    return out, paths


def nest_inputs(values: Mapping[str, Any], paths: Mapping[str, str]) -> dict[str, Any]:
    """Fold flat dotted keyword arguments into nested dicts following `paths`."""
    flat = dict(values)
    if not paths:
        return flat
    nested: dict[str, Any] = {}
    for key, path in paths.items():
        parts = path.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = flat.pop(key, None)
    flat.update(nested)
    return flat


def _io_type(spec: Any) -> Any:
    if isinstance(spec, (list, tuple)) and spec:
        return spec[0] if isinstance(spec[0], str) else None
    return None


def _place(
    out: dict[str, Any],
    paths: dict[str, str],
    live: Mapping[str, Any],
    section: str,
    name: str,
    spec: Any,
    prefix: list[str],
) -> None:
    kind = _io_type(spec)
    if kind == AUTOGROW:
        _place_autogrow(out, paths, live, spec, [*prefix, name])
    elif kind == DYNAMIC_COMBO:
        _place_dynamic_combo(out, paths, live, section, spec, [*prefix, name])
    elif kind == DYNAMIC_SLOT:
        _place_dynamic_slot(out, paths, live, section, spec, [*prefix, name])
    else:
        dotted = ".".join([*prefix, name])
        out.setdefault(section, {})[dotted] = spec
        if prefix:
            paths[dotted] = dotted


def _place_autogrow(out, paths, live, spec, prefix: list[str]) -> None:
    template = spec[1]["template"]
    if "names" in template:
        names = list(template["names"])
    else:
        names = [f"{template['prefix']}{i}" for i in range(template["max"])]
    minimum = template.get("min", 1)
    template_spec = None
    for entries in template["input"].values():
        for candidate in entries.values():
            template_spec = candidate
            break
    for i, name in enumerate(names):
        if ".".join([*prefix, name]) in live:
            _place(out, paths, live, "required" if i < minimum else "optional", name, template_spec, prefix)


def _place_dynamic_combo(out, paths, live, section: str, spec, prefix: list[str]) -> None:
    own_id = ".".join(prefix)
    if own_id not in live:
        return
    key = live[own_id]
    if isinstance(key, list) and key and not _is_link(key):
        key = key[0]  # list-mapped call values (INPUT_IS_LIST): the choice is the same for every element
    for option in spec[1]["options"]:
        if option["key"] == key:
            _place_sections(out, paths, live, option["inputs"], prefix)
            out.setdefault(section, {})[own_id] = spec
            paths[own_id] = f"{own_id}.{prefix[-1]}"
            return


def _place_dynamic_slot(out, paths, live, section: str, spec, prefix: list[str]) -> None:
    own_id = ".".join(prefix)
    if own_id not in live:
        return
    _place_sections(out, paths, live, spec[1]["inputs"], prefix)
    out.setdefault(section, {})[own_id] = spec
    paths[own_id] = f"{own_id}.{prefix[-1]}"


def _place_sections(out, paths, live, sections: Mapping[str, Any], prefix: list[str]) -> None:
    for section, entries in sections.items():
        for name, spec in (entries or {}).items():
            _place(out, paths, live, section, name, spec, prefix)


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )
