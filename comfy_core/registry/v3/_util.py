"""Small helpers shared by the V3 schema modules. Torch-free."""

from __future__ import annotations

from typing import Any


def prune_dict(d: dict[str, Any]) -> dict[str, Any]:
    """Drop entries whose value is None (False, 0 and empty lists are kept: they are meaningful)."""
    return {k: v for k, v in d.items() if v is not None}


class classproperty:  # noqa: N801 - reads like the builtin decorators it sits beside
    """A read-only property evaluated on the class (V1 attributes such as RETURN_TYPES on V3 nodes)."""

    def __init__(self, fget: Any) -> None:
        self.fget = fget
        self.__doc__ = getattr(fget, "__doc__", None)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self.fget(owner if owner is not None else type(obj))


def is_class(obj: Any) -> bool:
    return isinstance(obj, type)
