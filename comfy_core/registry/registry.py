"""The node registry: class_type -> node class (V1-shaped; V3 classes arrive adapted). Torch-free."""

from __future__ import annotations

from typing import Any


class NodeRegistry:
    def __init__(self) -> None:
        self.classes: dict[str, type] = {}
        self.display_names: dict[str, str] = {}
        self.web_directories: dict[str, str] = {}  # module name -> absolute web directory
        self.failed_imports: dict[str, str] = {}  # pack path -> traceback text

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
