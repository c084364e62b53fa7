from __future__ import annotations

import pytest

from comfy_core import runtime
from tests.server.harness import RunningServer, start_server


@pytest.fixture
def server(tmp_path) -> RunningServer:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()
    runtime.uninstall()
