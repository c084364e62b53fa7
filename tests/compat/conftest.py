from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.events import RecordingSink
from comfy_core.paths import Paths


@pytest.fixture
def services(tmp_path: Path) -> Iterator[runtime.Services]:
    """Installed services over a private base directory (paths, default config, recording sink)."""
    installed = runtime.install(
        runtime.Services(paths=Paths(tmp_path / "base"), config=Config(), sink=RecordingSink())
    )
    yield installed
    runtime.uninstall()
