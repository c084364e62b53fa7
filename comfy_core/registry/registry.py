"""The node registry: class_type -> node class (V1-shaped; V3 classes arrive adapted). Torch-free.

Besides the classes it records what custom-node discovery found for the server: web directories served
under `/extensions/<name>/`, pack directories, `locales/`, example-workflow and `subgraphs/` folders, and
the packs that failed to import (with their tracebacks).
"""

from __future__ import annotations

import logging
from typing import Any

from comfy_core.registry.node_info import node_info as _node_info

log = logging.getLogger(__name__)


class NodeRegistry:
    def __init__(self) -> None:
        self.classes: dict[str, type] = {}
        self.display_names: dict[str, str] = {}
        self.web_directories: dict[str, str] = {}  # module name -> absolute web directory
        self.failed_imports: dict[str, str] = {}  # pack path -> traceback text
        self.pack_directories: dict[str, str] = {}  # pack module name -> absolute directory
        self.locales_directories: dict[str, str] = {}  # pack module name -> `locales/` directory
        self.example_workflow_directories: dict[str, str] = {}  # pack module name -> examples directory
        self.subgraph_directories: dict[str, str] = {}  # pack module name -> `subgraphs/` directory

    def register(
        self, name: str, cls: type, *, display_name: str | None = None, python_module: str = "nodes"
    ) -> None:
        if getattr(cls, "RELATIVE_PYTHON_MODULE", None) is None:
            cls.RELATIVE_PYTHON_MODULE = python_module
        self.classes[name] = cls
        if display_name is not None:
            self.display_names[name] = display_name

    def get(self, name: str) -> type | None:
        return self.classes.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.classes

    def names(self) -> list[str]:
        return list(self.classes)

    def describe(self) -> dict[str, Any]:
        return {"nodes": len(self.classes), "failed": list(self.failed_imports)}

    def node_info(self, name: str) -> dict[str, Any]:
        """The `/object_info` record of one registered class (raises KeyError when unknown)."""
        return _node_info(name, self.classes[name], self.display_names.get(name))

    def object_info(self) -> dict[str, Any]:
        """`/object_info` for every class; a class whose record cannot be built is logged and left out."""
        out: dict[str, Any] = {}
        for name in list(self.classes):
            try:
                out[name] = self.node_info(name)
            except Exception:
                log.exception("An error occurred while retrieving information for the '%s' node.", name)
        return out
