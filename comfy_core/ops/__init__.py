"""Injectable layer ops (plain, manual cast, fp8 storage) and attention dispatch.

Architectures take an `Operations` namespace and build every weighted layer through it, so the same
module definition runs with fp32/bf16/fp16 weights (plain) or with weights stored in another dtype or
device (manual cast, which is also how fp8-stored weights are used).
"""

from __future__ import annotations

from comfy_core.ops.ops import MANUAL_CAST, PLAIN, Operations, pick_operations

__all__ = ["MANUAL_CAST", "PLAIN", "Operations", "pick_operations"]
