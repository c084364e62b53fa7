"""The running instance's services, installed once by `main.py` (or a test) and read by node code.

This is the one place where process-wide state lives: ComfyUI's node API is module-level
(`folder_paths.get_full_path`, `PromptServer.instance`, `comfy.model_management.*`), so built-in nodes and
the compat modules need a way to reach the instance that `main.py` built. Nothing here is created at
import time; `current()` fails loudly when nothing was installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfy_core.events import EventSink, NullSink


@dataclass
class Services:
    paths: Any = None  # comfy_core.paths.Paths
    registry: Any = None  # comfy_core.registry.NodeRegistry
    sink: EventSink = field(default_factory=NullSink)
    server: Any = None  # the running server object (routes, loop, client ids) or None when headless
    executor: Any = None  # execution.PromptExecutor
    memory: Any = None  # comfy_core.memory manager (numeric side)
    device: Any = None  # comfy_core.device.DevicePolicy (probed once at start-up)
    config: Any = None  # parsed command-line configuration


class _Holder:
    services: Services | None = None


def install(services: Services) -> Services:
    _Holder.services = services
    return services


def uninstall() -> None:
    _Holder.services = None


def current() -> Services:
    if _Holder.services is None:
        raise RuntimeError("comfy-core services are not installed (main.py or the test fixture installs them)")
    return _Holder.services


def maybe_current() -> Services | None:
    return _Holder.services
