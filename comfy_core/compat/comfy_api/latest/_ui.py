"""ComfyUI's `comfy_api.latest._ui` module path (some packs import it directly)."""

from __future__ import annotations

from comfy_core.registry.v3.ui import *  # noqa: F403
from comfy_core.registry.v3.ui import __all__  # noqa: F401
