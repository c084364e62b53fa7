"""In-process client for executor tests: validate like POST /prompt, execute, read events like
ComfyUI's test client (runs = `executing` nodes, cached = `execution_cached` nodes)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from comfy_core.events import RecordingSink  # noqa: E402
from comfy_core.graph import GraphBuilder, validate_prompt  # noqa: E402
from execution import CacheConfig, PromptExecutor  # noqa: E402
from tests.fixtures.executor_env import load_image, make_registry  # noqa: E402

CACHE_MODES = {
    "classic": (CacheConfig("classic"), True),
    "lru0": (CacheConfig("lru", lru_size=0), True),
    "lru100": (CacheConfig("lru", lru_size=100), True),
    "ram": (CacheConfig("ram", ram_gb=0.0), True),
    "none": (CacheConfig("none"), False),
}


class ValidationFailed(Exception):
    pass


class ExecutionFailed(Exception):
    pass


class RunResult:
    def __init__(self, prompt_id: str, root: Path) -> None:
        self.prompt_id = prompt_id
        self.root = root
        self.outputs: dict[str, dict] = {}
        self.runs: set[str] = set()
        self.cached: set[str] = set()
        self.events: list[tuple[Any, Any, Any]] = []
        self.success = True
        self.status_messages: list = []
        self.meta: dict = {}

    def did_run(self, node: Any) -> bool:
        return node.id in self.runs

    def was_cached(self, node: Any) -> bool:
        return node.id in self.cached

    def was_executed(self, node: Any) -> bool:
        return self.did_run(node) or self.was_cached(node)

    def get_images(self, node: Any) -> list:
        out = self.outputs.get(node.id) or {}
        return [load_image(self.root, e) for e in out.get("images", [])]


class Client:
    def __init__(self, executor: PromptExecutor, sink: RecordingSink, registry: Any, root: Path) -> None:
        self.executor = executor
        self.sink = sink
        self.registry = registry
        self.root = root
        self.client_id = "client-" + uuid.uuid4().hex[:6]

    def validate(self, prompt: dict, targets: list[str] | None = None) -> tuple:
        return asyncio.run(validate_prompt(self.registry, "pid", prompt, targets))

    def run(self, graph: GraphBuilder | dict, partial_execution_targets: list[str] | None = None,
            client_id: str | None = "default", raise_errors: bool = True) -> RunResult:
        prompt = graph.finalize() if isinstance(graph, GraphBuilder) else graph
        for node in prompt.values():
            if node["class_type"] == "SaveImage":
                node["inputs"]["filename_prefix"] = "test"  # as ComfyUI's test client does
        prompt = json.loads(json.dumps(prompt))  # like the HTTP hop: a fresh, JSON-shaped copy
        prompt_id = uuid.uuid4().hex
        valid, error, outputs, node_errors = asyncio.run(
            validate_prompt(self.registry, prompt_id, prompt, partial_execution_targets)
        )
        if not valid:
            raise ValidationFailed(error, node_errors)
        extra = {} if client_id is None else {"client_id": self.client_id if client_id == "default" else client_id}
        start = len(self.sink.events)
        self.executor.execute(prompt, prompt_id, extra, outputs)
        result = RunResult(prompt_id, self.root)
        result.events = self.sink.events[start:]
        result.success = self.executor.success
        result.status_messages = self.executor.status_messages
        result.outputs = self.executor.history_result["outputs"]
        result.meta = self.executor.history_result["meta"]
        for event, data, _sid in result.events:
            if event == "executing" and data["node"] is not None:
                result.runs.add(data["node"])
            elif event == "execution_cached":
                result.cached.update(data["nodes"])
            elif event == "execution_error" and raise_errors:
                raise ExecutionFailed(data)
        return result


@pytest.fixture(params=list(CACHE_MODES))
def cache_mode(request):
    return request.param


def make_client(tmp_path: Path, config: CacheConfig) -> Client:
    registry = make_registry(tmp_path)
    sink = RecordingSink()
    return Client(PromptExecutor(registry, sink, config), sink, registry, tmp_path)


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
