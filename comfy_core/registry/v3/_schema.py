"""V3 node schema (`io.Schema`), hidden values, node outputs and the V1/V3 `/object_info` records. Torch-free."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from comfy_core.registry.v3._base import Input, Output, create_input_dict_v1
from comfy_core.registry.v3._dynamic import DynamicInput, MatchType


class Hidden(str, Enum):
    """Hidden values a V3 node can ask for; read them as `cls.hidden.<name>` inside `execute`."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


HIDDEN_NAMES: tuple[str, ...] = tuple(h.name for h in Hidden)


class HiddenHolder:
    """The hidden values of one call; names that were not supplied read as None."""

    def __init__(
        self,
        unique_id: str | None = None,
        prompt: Any = None,
        extra_pnginfo: Any = None,
        dynprompt: Any = None,
        auth_token_comfy_org: str | None = None,
        api_key_comfy_org: str | None = None,
        **extra: Any,
    ) -> None:
        self.unique_id = unique_id
        self.prompt = prompt
        self.extra_pnginfo = extra_pnginfo
        self.dynprompt = dynprompt
        self.auth_token_comfy_org = auth_token_comfy_org
        self.api_key_comfy_org = api_key_comfy_org

    def __getattr__(self, key: str) -> Any:
        return None

    @classmethod
    def from_dict(cls, d: dict[Any, Any] | None) -> HiddenHolder:
        """Accept keys as names (`unique_id`), kinds (`UNIQUE_ID`) or `Hidden` members, or ComfyUI's
        `{"hidden_inputs": {...}}` wrapper."""
        d = dict(d or {})
        if isinstance(d.get("hidden_inputs"), dict):
            d = dict(d["hidden_inputs"])
        values: dict[str, Any] = {}
        for member in Hidden:
            for key in (member.name, member.value):
                if key in d:
                    values[member.name] = d[key]
        return cls(**values)


@dataclass
class NodeInfoV1:
    input: dict | None = None
    input_order: dict[str, list[str]] | None = None
    output: list[str] | None = None
    output_is_list: list[bool] | None = None
    output_name: list[str] | None = None
    output_tooltips: list[str | None] | None = None
    output_matchtypes: list[str | None] | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    python_module: Any = None
    category: str | None = None
    output_node: bool | None = None
    deprecated: bool | None = None
    experimental: bool | None = None
    api_node: bool | None = None


@dataclass
class NodeInfoV3:
    input: dict | None = None
    output: dict | None = None
    hidden: list[str] | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    python_module: Any = None
    category: str | None = None
    output_node: bool | None = None
    deprecated: bool | None = None
    experimental: bool | None = None
    api_node: bool | None = None


@dataclass
class Schema:
    """Everything the system needs to know about a V3 node, returned by `define_schema()`."""

    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self) -> None:
        """Input and output ids must be unique, within and across the two lists."""
        nested: list[Input] = []
        for inp in self.inputs:
            if not isinstance(inp, DynamicInput):
                nested.extend(inp.get_all())
        input_ids = [i.id for i in nested]
        output_ids = [o.id for o in self.outputs]
        issues = []
        dup_in = [k for k, n in Counter(input_ids).items() if n > 1]
        dup_out = [k for k, n in Counter(output_ids).items() if n > 1]
        if dup_in:
            issues.append(f"Input ids must be unique, but {dup_in} are not.")
        if dup_out:
            issues.append(f"Output ids must be unique, but {dup_out} are not.")
        both = set(input_ids) & set(output_ids)
        if both:
            issues.append(f"Ids must be unique between inputs and outputs, but {sorted(both)} are not.")
        if issues:
            raise ValueError("\n".join(issues))
        for inp in self.inputs:
            inp.validate()
        for out in self.outputs:
            out.validate()

    def finalize(self) -> Schema:
        """Add the hidden values implied by the flags and give outputs without ids `_<i>_<TYPE>_`."""
        self.inputs = list(self.inputs or [])
        self.outputs = list(self.outputs or [])
        self.hidden = [Hidden(h) for h in (self.hidden or [])]
        implied: list[Hidden] = []
        if self.is_api_node:
            implied += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org]
        if self.is_output_node:
            implied += [Hidden.prompt, Hidden.extra_pnginfo]
        for h in implied:
            if h not in self.hidden:
                self.hidden.append(h)
        for i, out in enumerate(self.outputs):
            if out.id is None:
                out.id = f"_{i}_{out.io_type}_"
        return self

    def v1_inputs(self) -> dict[str, Any]:
        d = create_input_dict_v1(self.inputs)
        for h in self.hidden:
            d.setdefault("hidden", {})[h.name] = (h.value,)
        return d

    def get_v1_info(self, cls: type) -> NodeInfoV1:
        inputs = self.v1_inputs()
        matchtypes = [
            o.template.template_id if isinstance(o, MatchType.Output) else None for o in self.outputs
        ]
        return NodeInfoV1(
            input=inputs,
            input_order={section: list(entries) for section, entries in inputs.items()},
            output=[o.io_type for o in self.outputs],
            output_is_list=[o.is_output_list for o in self.outputs],
            output_name=[o.display_name or o.io_type for o in self.outputs],
            output_tooltips=[o.tooltip or None for o in self.outputs],
            output_matchtypes=matchtypes if any(m is not None for m in matchtypes) else None,
            name=self.node_id,
            display_name=self.display_name,
            description=self.description,
            python_module=getattr(cls, "RELATIVE_PYTHON_MODULE", None) or "nodes",
            category=self.category,
            output_node=self.is_output_node,
            deprecated=self.is_deprecated,
            experimental=self.is_experimental,
            api_node=self.is_api_node,
        )

    def get_v3_info(self, cls: type) -> NodeInfoV3:
        return NodeInfoV3(
            input={i.id: (i.get_io_type(), i.as_dict()) for i in self.inputs},
            output={o.id: (o.get_io_type(), o.as_dict()) for o in self.outputs},
            hidden=[h.value for h in self.hidden],
            name=self.node_id,
            display_name=self.display_name,
            description=self.description,
            python_module=getattr(cls, "RELATIVE_PYTHON_MODULE", None) or "nodes",
            category=self.category,
            output_node=self.is_output_node,
            deprecated=self.is_deprecated,
            experimental=self.is_experimental,
            api_node=self.is_api_node,
        )


class _UIOutput:
    """Base of `ui.*` helpers; `as_dict()` gives the node's ui dict (`{"images": [...]}` ...)."""

    def as_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class NodeOutput:
    """What a V3 `execute` returns: output values, plus optional ui, graph expansion or a block message."""

    def __init__(
        self,
        *args: Any,
        ui: _UIOutput | dict[str, Any] | None = None,
        expand: dict[str, Any] | None = None,
        block_execution: str | None = None,
    ) -> None:
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple[Any, ...] | None:
        return self.args if self.args else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeOutput:
        """Read a V1-style `{"result", "ui", "expand"}` dict."""
        from comfy_core.registry.v3._blocker import is_blocker

        result = data.get("result", ())
        if is_blocker(result):
            return cls(block_execution=result.message)
        return cls(*(result or ()), ui=data.get("ui"), expand=data.get("expand"))

    def __getitem__(self, index: int) -> Any:
        return self.args[index]
