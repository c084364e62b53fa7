"""Base classes of the V3 type system: `Input`, `Output`, `comfytype` and the small enums. Torch-free.

A V3 "type" is a class carrying an `io_type` string with nested `Input` / `Output` classes; the instances
describe one socket or widget and serialise to the V1 `(TYPE, {options})` form that `/object_info` and
validation read. Option dicts are built in a fixed key order because the UI contract compares them as JSON.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from comfy_core.registry.v3._util import prune_dict


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


class RemoteOptions:
    """Options of a combo whose choices the UI fetches from a route."""

    def __init__(
        self,
        route: str,
        refresh_button: bool,
        control_after_refresh: Literal["first", "last"] = "first",
        timeout: int | None = None,
        max_retries: int | None = None,
        refresh: int | None = None,
    ) -> None:
        self.route = route
        self.refresh_button = refresh_button
        self.control_after_refresh = control_after_refresh
        self.timeout = timeout
        self.max_retries = max_retries
        self.refresh = refresh

    def as_dict(self) -> dict[str, Any]:
        return prune_dict(
            {
                "route": self.route,
                "refresh_button": self.refresh_button,
                "control_after_refresh": self.control_after_refresh,
                "timeout": self.timeout,
                "max_retries": self.max_retries,
                "refresh": self.refresh,
            }
        )


class _ComfyType:
    """Marker base of every V3 type class."""

    Type: Any = Any
    io_type: str | None = None


class _IO:
    """Base of V3 inputs and outputs; `Parent` is the type class the socket belongs to."""

    Parent: Any = None

    def validate(self) -> None:
        return None

    @property
    def io_type(self) -> str:
        return self.Parent.io_type

    @property
    def Type(self) -> Any:  # noqa: N802 - ComfyUI's public name
        return self.Parent.Type


class Input(_IO):
    def __init__(
        self,
        id: str,
        display_name: str | None = None,
        optional: bool = False,
        tooltip: str | None = None,
        lazy: bool | None = None,
        extra_dict: dict[str, Any] | None = None,
        raw_link: bool | None = None,
    ) -> None:
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = extra_dict if extra_dict is not None else {}
        self.rawLink = raw_link

    def as_dict(self) -> dict[str, Any]:
        return prune_dict(
            {
                "display_name": self.display_name,
                "optional": self.optional,
                "tooltip": self.tooltip,
                "lazy": self.lazy,
                "rawLink": self.rawLink,
            }
        ) | prune_dict(self.extra_dict)

    def get_io_type(self) -> str:
        return self.io_type

    def get_all(self) -> list[Input]:
        return [self]


class WidgetInput(Input):
    def __init__(
        self,
        id: str,
        display_name: str | None = None,
        optional: bool = False,
        tooltip: str | None = None,
        lazy: bool | None = None,
        default: Any = None,
        socketless: bool | None = None,
        widget_type: str | None = None,
        force_input: bool | None = None,
        extra_dict: dict[str, Any] | None = None,
        raw_link: bool | None = None,
    ) -> None:
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link)
        self.default = default
        self.socketless = socketless
        self.widget_type = widget_type
        self.force_input = force_input

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | prune_dict(
            {
                "default": self.default,
                "socketless": self.socketless,
                "widgetType": self.widget_type,
                "forceInput": self.force_input,
            }
        )

    def get_io_type(self) -> str:
        return self.widget_type if self.widget_type is not None else super().get_io_type()


class Output(_IO):
    def __init__(
        self,
        id: str | None = None,
        display_name: str | None = None,
        tooltip: str | None = None,
        is_output_list: bool = False,
    ) -> None:
        self.id = id
        self.display_name = display_name
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    def as_dict(self) -> dict[str, Any]:
        return prune_dict(
            {
                "display_name": self.display_name,
                "tooltip": self.tooltip,
                "is_output_list": self.is_output_list,
            }
        )

    def get_io_type(self) -> str:
        return self.io_type


class ComfyTypeI(_ComfyType):
    """A type that only appears as an input."""

    class Input(Input):
        pass


class ComfyTypeIO(ComfyTypeI):
    """A type with both an input and an output socket."""

    class Output(Output):
        pass


def comfytype(io_type: str):
    """Class decorator binding `io_type` to a V3 type class.

    Each decorated type gets its own `Input` / `Output` subclasses whose `Parent` points back at it, so two
    types sharing a base socket class never overwrite each other's `Parent`.
    """

    def decorate(cls: type) -> type:
        if not issubclass(cls, _ComfyType):
            cls = type(
                cls.__name__, (cls, ComfyTypeIO), {"__module__": cls.__module__, "__doc__": cls.__doc__}
            )
        cls.io_type = io_type
        for slot in ("Input", "Output"):
            base = getattr(cls, slot, None)
            if base is None:
                continue
            bound = type(
                base.__name__, (base,), {"Parent": cls, "__qualname__": f"{cls.__qualname__}.{slot}"}
            )
            bound.__module__ = cls.__module__
            setattr(cls, slot, bound)
        return cls

    return decorate


def Custom(io_type: str) -> type[ComfyTypeIO]:  # noqa: N802 - ComfyUI's public name
    """A V3 type for any custom type string (`io.Custom("MY_TYPE").Input("x")`)."""

    @comfytype(io_type=io_type)
    class CustomComfyType(ComfyTypeIO):
        pass

    return CustomComfyType


def add_to_dict_v1(inp: Input, d: dict[str, Any]) -> None:
    """Add one input as `(TYPE, {options})` under `required` or `optional` (the V1 form)."""
    section = "optional" if inp.optional else "required"
    options = inp.as_dict()
    options.pop("optional", None)
    d.setdefault(section, {})[inp.id] = (inp.get_io_type(), options)


def create_input_dict_v1(inputs: list[Input]) -> dict[str, Any]:
    d: dict[str, Any] = {"required": {}}
    for inp in inputs:
        add_to_dict_v1(inp, d)
    return d
