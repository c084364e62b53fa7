"""Fixtures for executor tests (an in-process client per cache mode)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from comfy_core.graph import GraphBuilder  # noqa: E402
from execution import CacheConfig  # noqa: E402
from tests.fixtures.executor_env import Client, make_client  # noqa: E402

CACHE_MODES = {
    "classic": (CacheConfig("classic"), True),
    "lru0": (CacheConfig("lru", lru_size=0), True),
    "lru100": (CacheConfig("lru", lru_size=100), True),
    "ram": (CacheConfig("ram", ram_gb=0.0), True),
    "none": (CacheConfig("none"), False),
}


@pytest.fixture(params=list(CACHE_MODES))
def cache_mode(request):
    return request.param


@pytest.fixture
def client(tmp_path, cache_mode) -> Client:
    client = make_client(tmp_path, CACHE_MODES[cache_mode][0])
    client.should_cache = CACHE_MODES[cache_mode][1]
    return client


@pytest.fixture
def classic_client(tmp_path) -> Client:
    return make_client(tmp_path, CacheConfig("classic"))


@pytest.fixture
def builder(request) -> GraphBuilder:
    return GraphBuilder(prefix=request.node.name.split("[")[0] + "_")
