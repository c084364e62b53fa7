"""How the executor and validation read a node class's inputs (V1 and V3 alike). Torch-free.

V3 schema classes are adapted to look like V1 classes (INPUT_TYPES, RETURN_TYPES, FUNCTION, ...); the
few places where they differ are answered here so the executor never inspects schemas itself.
"""

from __future__ import annotations

from typing import Any


def is_v3(cls: type) -> bool:
    """True for classes built from a V3 `io.Schema` (they inject hidden values via a class clone)."""
    return bool(getattr(cls, "_COMFY_V3", False))


def input_types(cls: type, node_inputs: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The class's INPUT_TYPES() for one prompt node.

    For V3 classes with dynamic inputs (Autogrow, DynamicCombo, ...) the returned dict has the concrete
    dotted input names present in `node_inputs` (e.g. `images.image0`) instead of the template entry.
    """
    expand = getattr(cls, "FINALIZE_INPUT_TYPES", None)
    if expand is not None:
        return expand(node_inputs or {})
    return cls.INPUT_TYPES()


def hidden_kinds(cls: type, types: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Map hidden input name -> kind (`PROMPT`, `UNIQUE_ID`, `DYNPROMPT`, `EXTRA_PNGINFO`, ...).

    V1 declares kinds as plain strings, V3 as one-element lists/tuples; both are normalised here.
    """
    types = types if types is not None else cls.INPUT_TYPES()
    out: dict[str, str] = {}
    for name, kind in (types.get("hidden") or {}).items():
        if isinstance(kind, (list, tuple)):
            kind = kind[0] if kind else ""
        out[name] = str(kind)
    return out
