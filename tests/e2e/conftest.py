"""The real server (app factory, built-in nodes, prompt executor) over a base directory holding a reduced
SD1 checkpoint; prompts go in over HTTP, events come back over the websocket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_core import runtime
from comfy_core.config import Config
from comfy_core.paths import Paths
from comfy_core.registry.discovery import load_builtin_nodes
from comfy_core.registry.registry import NodeRegistry
from comfy_core.runtime import Services
from comfy_core.server.app import create_app
from comfy_core.server.instance import PromptServer, ServerSink
from execution import CacheConfig, PromptExecutor
from tests.fixtures.sd_env import make_base, single_thread
from tests.server.harness import RunningServer


def start_sd_server(base: Path, **config_kw) -> RunningServer:  # noqa: ANN003
    config = Config(cpu=True, **config_kw)
    registry = NodeRegistry()
    load_builtin_nodes(registry)
    server = PromptServer()
    sink = ServerSink(server)
    services = Services(paths=Paths(str(base)), registry=registry, sink=sink, server=server, config=config)
    services.executor = PromptExecutor(registry, sink, CacheConfig(mode="classic"))
    runtime.install(services)
    return RunningServer(create_app(config, services), services).start()


@pytest.fixture(scope="module")
def sd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = make_base(tmp_path_factory.mktemp("sd_e2e"))
    with single_thread():
        srv = start_sd_server(base, preview_method="latent2rgb", preview_size=64)
        try:
            yield srv
        finally:
            srv.stop()
            runtime.uninstall()
