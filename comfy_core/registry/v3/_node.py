"""`io.ComfyNode`: the V3 node base class, and its V1 face for the executor. Torch-free.

The executor only speaks V1 (INPUT_TYPES, RETURN_TYPES, FUNCTION, ...). A V3 node class answers those names
from its schema, computed once per class, except INPUT_TYPES which re-runs `define_schema()` on every call
(combo choices such as file lists must stay fresh). Per call the executor asks for a class clone carrying the
hidden values (`PREPARE_CLASS_CLONE`) and calls `FUNCTION` on it with the flat prompt inputs; the normalised
function nests dynamic inputs, calls `execute` and converts its `NodeOutput` back into V1 return values.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from comfy_core.registry.v3._blocker import is_blocker, make_blocker
from comfy_core.registry.v3._dynamic import finalize_input_types, has_dynamic_inputs, nest_inputs
from comfy_core.registry.v3._schema import HIDDEN_NAMES, HiddenHolder, NodeOutput, Schema, _UIOutput
from comfy_core.registry.v3._util import classproperty

_DEFAULT_HIDDEN = HiddenHolder()


@dataclass(frozen=True)
class _Static:
    """Schema facts that do not change between calls (everything but combo choices)."""

    return_types: list[str]
    return_names: list[str]
    output_is_list: list[bool]
    output_tooltips: list[str | None]
    input_is_list: bool
    output_node: bool
    not_idempotent: bool
    category: str
    description: str
    deprecated: bool
    experimental: bool
    api_node: bool
    enable_expand: bool
    inputs: dict[str, Any]
    input_ids: frozenset[str]
    has_dynamic: bool


def _origin(cls: type) -> type:
    return cls.__dict__.get("_V3_ORIGIN", cls)


def _static(cls: type) -> _Static:
    origin = _origin(cls)
    cached = origin.__dict__.get("_v3_static")
    if cached is not None:
        return cached
    schema = origin.GET_SCHEMA()
    inputs = schema.v1_inputs()
    info = _Static(
        return_types=[o.io_type for o in schema.outputs],
        return_names=[o.display_name or o.io_type for o in schema.outputs],
        output_is_list=[o.is_output_list for o in schema.outputs],
        output_tooltips=[o.tooltip or None for o in schema.outputs],
        input_is_list=schema.is_input_list,
        output_node=schema.is_output_node,
        not_idempotent=schema.not_idempotent,
        category=schema.category,
        description=schema.description,
        deprecated=schema.is_deprecated,
        experimental=schema.is_experimental,
        api_node=schema.is_api_node,
        enable_expand=schema.enable_expand,
        inputs=inputs,
        input_ids=frozenset(n for s, e in inputs.items() if s != "hidden" for n in e),
        has_dynamic=has_dynamic_inputs(inputs),
    )
    type.__setattr__(origin, "_v3_static", info)
    return info


def _nest(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    static = _static(cls)
    if not static.has_dynamic:
        return kwargs
    _, paths = finalize_input_types(static.inputs, kwargs)
    return nest_inputs(kwargs, paths)


def _raw_function(attr: Any) -> Any:
    return attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr


def _adapter(call: Any, signature_of: Any) -> classmethod:
    """A classmethod forwarding to `call(cls, *args, **nested_kwargs)` with `signature_of`'s signature.

    The executor inspects VALIDATE_INPUTS' parameters to decide what to pass, so the signature must be the
    node's own.
    """
    if inspect.iscoroutinefunction(signature_of):

        async def adapted(cls, *args, **kwargs):
            return await call(cls, *args, **_nest(cls, kwargs))

    else:

        def adapted(cls, *args, **kwargs):
            return call(cls, *args, **_nest(cls, kwargs))

    adapted.__signature__ = inspect.signature(signature_of)
    adapted.__name__ = getattr(signature_of, "__name__", "adapted")
    adapted.__doc__ = getattr(signature_of, "__doc__", None)
    return classmethod(adapted)


def _forward_to(name: str):
    return lambda cls, *args, **kwargs: getattr(cls, name)(*args, **kwargs)


class ComfyNode:
    """Base of every V3 node: override `define_schema` and `execute` (both classmethods)."""

    _COMFY_V3 = True
    RELATIVE_PYTHON_MODULE: str | None = None
    hidden: HiddenHolder = _DEFAULT_HIDDEN

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def validate_inputs(cls, **kwargs: Any) -> bool | str:
        """Override to validate inputs (V1 VALIDATE_INPUTS): return True or an error string."""
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        """Override to fingerprint inputs (V1 IS_CHANGED): a changed value forces re-execution."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_V3_ORIGIN" in cls.__dict__:
            return
        own = cls.__dict__
        if "validate_inputs" in own:
            cls.VALIDATE_INPUTS = _adapter(
                _forward_to("validate_inputs"), _raw_function(own["validate_inputs"])
            )
        if "fingerprint_inputs" in own:
            cls.IS_CHANGED = _adapter(
                _forward_to("fingerprint_inputs"), _raw_function(own["fingerprint_inputs"])
            )
        if "check_lazy_status" in own:
            func = _raw_function(own["check_lazy_status"])
            cls.check_lazy_status = _adapter(func, func)

    # -- class checks and schema -------------------------------------------------------------------
    @classmethod
    def GET_BASE_CLASS(cls) -> type:  # noqa: N802 - ComfyUI's public names follow
        return ComfyNode

    @classmethod
    def VALIDATE_CLASS(cls) -> None:  # noqa: N802
        for name in ("define_schema", "execute"):
            if _raw_function(inspect.getattr_static(cls, name)) is _raw_function(ComfyNode.__dict__[name]):
                raise TypeError(f"No {name} function was defined for node class {cls.__name__}.")

    @classmethod
    def FINALIZE_SCHEMA(cls) -> Schema:  # noqa: N802
        return cls.define_schema().finalize()

    @classmethod
    def GET_SCHEMA(cls) -> Schema:  # noqa: N802
        cls.VALIDATE_CLASS()
        schema = cls.FINALIZE_SCHEMA()
        schema.validate()
        return schema

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict[str, Any]:  # noqa: N802
        return vars(cls.GET_SCHEMA().get_v1_info(cls))

    @classmethod
    def GET_NODE_INFO_V3(cls) -> dict[str, Any]:  # noqa: N802
        return vars(cls.GET_SCHEMA().get_v3_info(cls))

    # -- V1 face -----------------------------------------------------------------------------------
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802
        return cls.FINALIZE_SCHEMA().v1_inputs()

    @classmethod
    def FINALIZE_INPUT_TYPES(cls, node_inputs: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """INPUT_TYPES for one prompt node: dynamic templates become the dotted ids present in it."""
        types = cls.INPUT_TYPES()
        if not has_dynamic_inputs(types):
            return types
        return finalize_input_types(types, node_inputs or {})[0]

    @classproperty
    def FUNCTION(cls) -> str:  # noqa: N802
        return (
            "EXECUTE_NORMALIZED_ASYNC" if inspect.iscoroutinefunction(cls.execute) else "EXECUTE_NORMALIZED"
        )

    RETURN_TYPES = classproperty(lambda cls: _static(cls).return_types)
    RETURN_NAMES = classproperty(lambda cls: _static(cls).return_names)
    OUTPUT_IS_LIST = classproperty(lambda cls: _static(cls).output_is_list)
    OUTPUT_TOOLTIPS = classproperty(lambda cls: _static(cls).output_tooltips)
    INPUT_IS_LIST = classproperty(lambda cls: _static(cls).input_is_list)
    OUTPUT_NODE = classproperty(lambda cls: _static(cls).output_node)
    NOT_IDEMPOTENT = classproperty(lambda cls: _static(cls).not_idempotent)
    CATEGORY = classproperty(lambda cls: _static(cls).category)
    DESCRIPTION = classproperty(lambda cls: _static(cls).description)
    DEPRECATED = classproperty(lambda cls: _static(cls).deprecated)
    EXPERIMENTAL = classproperty(lambda cls: _static(cls).experimental)
    API_NODE = classproperty(lambda cls: _static(cls).api_node)

    @classmethod
    def PREPARE_CLASS_CLONE(cls, hidden: dict[Any, Any] | HiddenHolder | None = None) -> type:  # noqa: N802
        """A throw-away subclass whose `cls.hidden` holds this call's hidden values.

        Accepts `{name or kind: value}` (`unique_id` / `UNIQUE_ID`) or ComfyUI's `{"hidden_inputs": {...}}`.
        """
        origin = _origin(cls)
        holder = hidden if isinstance(hidden, HiddenHolder) else HiddenHolder.from_dict(hidden)
        namespace = {
            "hidden": holder,
            "_V3_ORIGIN": origin,
            "__module__": origin.__module__,
            "__qualname__": origin.__qualname__,
            "__doc__": origin.__doc__,
        }
        return type(origin.__name__, (origin,), namespace)

    @classmethod
    def EXECUTE_NORMALIZED(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        target, kwargs = _split_hidden(cls, kwargs)
        return _to_v1(target, target.execute(*args, **_nest(target, kwargs)))

    @classmethod
    async def EXECUTE_NORMALIZED_ASYNC(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        target, kwargs = _split_hidden(cls, kwargs)
        return _to_v1(target, await target.execute(*args, **_nest(target, kwargs)))


def _split_hidden(cls: type, kwargs: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    """Hidden values passed as keyword arguments (V1 style) go to a class clone instead of `execute`."""
    declared = _static(cls).input_ids
    hidden = {k: kwargs[k] for k in HIDDEN_NAMES if k in kwargs and k not in declared}
    if not hidden:
        return cls, kwargs
    rest = {k: v for k, v in kwargs.items() if k not in hidden}
    if cls.hidden is _DEFAULT_HIDDEN:
        return cls.PREPARE_CLASS_CLONE(hidden), rest
    return cls, rest


def _to_v1(cls: type, returned: Any) -> Any:
    """Convert what `execute` returned into the executor's V1 forms: a tuple, or a dict with
    `result` / `ui` / `expand`."""
    if returned is None:
        out = NodeOutput()
    elif isinstance(returned, NodeOutput):
        out = returned
    elif isinstance(returned, tuple):
        out = NodeOutput(*returned)
    elif isinstance(returned, dict):
        out = NodeOutput.from_dict(returned)
    elif is_blocker(returned):
        out = NodeOutput(block_execution=returned.message)
    else:
        raise TypeError(f"Invalid return type from node {cls.__name__}: {type(returned).__name__}")
    static = _static(cls)
    if out.expand is not None and not static.enable_expand:
        raise RuntimeError(
            f"Node {cls.__name__} returned an expansion but its Schema does not set enable_expand=True."
        )
    ui = out.ui.as_dict() if isinstance(out.ui, _UIOutput) else out.ui
    result = out.result
    if out.block_execution is not None:
        result = tuple([make_blocker(out.block_execution)] * len(static.return_types))
    if out.expand is not None:
        converted: dict[str, Any] = {"result": result if result is not None else (), "expand": out.expand}
        if ui is not None:
            converted["ui"] = ui
        return converted
    if ui is not None:
        converted = {"ui": ui}
        if result is not None:
            converted["result"] = result
        return converted
    return result if result is not None else ()
