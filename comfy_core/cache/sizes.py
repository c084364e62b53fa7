"""RAM estimates of cached outputs, duck-typed so the cache never imports torch."""

from __future__ import annotations

from typing import Any

DEFAULT_RAM_USAGE = 0.1  # base score so entries without size information still rank by age


def _is_cpu_tensor(value: Any) -> bool:
    device = getattr(value, "device", None)
    return (
        getattr(device, "type", None) == "cpu"
        and callable(getattr(value, "numel", None))
        and callable(getattr(value, "element_size", None))
    )


def estimate_ram_usage(outputs: Any) -> float:
    """Score of one cache entry's outputs: CPU tensors count at 50 % of their bytes (likely valuable
    intermediates), objects with `get_ram_usage()` report their own size, plus a small base."""
    total = DEFAULT_RAM_USAGE
    stack = [outputs]
    while stack:
        value = stack.pop()
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif _is_cpu_tensor(value):
            total += value.numel() * value.element_size() * 0.5
        elif hasattr(value, "get_ram_usage"):
            total += value.get_ram_usage()
    return total
