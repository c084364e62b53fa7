"""Links between prompt nodes and the execution blocker value. Torch-free, dependency-free."""

from __future__ import annotations

from typing import Any


def is_link(value: Any) -> bool:
    """True for `[source_id: str, output_index: int | float]`, the only shape the executor follows."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
    )


class ExecutionBlocker:
    """Returned in place of an output value: every consumer is skipped and yields a blocker too.

    A non-None `message` is reported once (as an `ExecutionBlocked` execution_error message) by the
    first node that receives it; the prompt still succeeds. Prefer lazy inputs where possible.
    """

    def __init__(self, message: str | None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"
