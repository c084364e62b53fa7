"""`/object_info` records for one node class (contract section 6). Torch-free.

V1 classes: built from the class attributes, optional keys only when present. V3 classes: every key,
taken from the schema (`GET_NODE_INFO_V1`). Key order matters to clients that diff the JSON, so the dicts
are built in ComfyUI's order.
"""

from __future__ import annotations

from typing import Any

from comfy_core.registry.inputs import is_v3


def node_info(name: str, cls: type, display_name: str | None = None) -> dict[str, Any]:
    if is_v3(cls) and hasattr(cls, "GET_NODE_INFO_V1"):
        return cls.GET_NODE_INFO_V1()
    return node_info_v1(name, cls, display_name)


def node_info_v1(name: str, cls: type, display_name: str | None = None) -> dict[str, Any]:
    types = cls.INPUT_TYPES()
    output = cls.RETURN_TYPES
    info: dict[str, Any] = {
        "input": types,
        "input_order": {section: list(entries.keys()) for section, entries in types.items()},
        "output": output,
        "output_is_list": cls.OUTPUT_IS_LIST if hasattr(cls, "OUTPUT_IS_LIST") else [False] * len(output),
        "output_name": cls.RETURN_NAMES if hasattr(cls, "RETURN_NAMES") else output,
        "name": name,
        "display_name": display_name if display_name is not None else name,
        "description": cls.DESCRIPTION if hasattr(cls, "DESCRIPTION") else "",
        "python_module": getattr(cls, "RELATIVE_PYTHON_MODULE", None) or "nodes",
        "category": cls.CATEGORY if hasattr(cls, "CATEGORY") else "sd",
        "output_node": getattr(cls, "OUTPUT_NODE", False) == True,  # noqa: E712 - ComfyUI accepts 1 too
    }
    if hasattr(cls, "OUTPUT_TOOLTIPS"):
        info["output_tooltips"] = cls.OUTPUT_TOOLTIPS
    if getattr(cls, "DEPRECATED", False):
        info["deprecated"] = True
    if getattr(cls, "EXPERIMENTAL", False):
        info["experimental"] = True
    if hasattr(cls, "API_NODE"):
        info["api_node"] = cls.API_NODE
    return info
