"""Out-of-memory recognition (torch's CUDA OOM, host MemoryError, backend messages)."""

from __future__ import annotations

OOM_MESSAGES = (
    "out of memory",
    "not enough memory",
    "cuda error: out of memory",
    "mps backend out of memory",
)


def is_oom(ex: BaseException) -> bool:
    if isinstance(ex, MemoryError):
        return True
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(ex, oom_type):
        return True
    if isinstance(ex, RuntimeError):
        text = str(ex).lower()
        return any(m in text for m in OOM_MESSAGES)
    return False
