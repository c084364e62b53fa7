"""Residency through the real executor and nodes on the reduced SD1 checkpoint: a second prompt loads
nothing, A->B->A under a budget that fits one checkpoint evicts and reloads in LRU order, a LoRA change
never re-reads the checkpoint, partial loading gives the full-load output, OOM is retried once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from comfy_core import runtime
from tests.fixtures.sd_env import CKPT, single_thread
from tests.memory.sd_env import CKPT_B, LORAS, Runner, build_base, count_disk_loads, graph, virtual


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with single_thread():
        return build_base(tmp_path_factory.mktemp("memory_sd"))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with single_thread():
        yield
    runtime.uninstall()


def checkpoint_bytes(runner: Runner) -> int:
    """Bytes of every model the manager placed for one checkpoint (UNet + text encoder + VAE)."""
    return sum(lm.size for lm in runner.manager.loaded_models())


def test_second_prompt_on_the_same_checkpoint_loads_nothing(base: Path, monkeypatch) -> None:
    reads = count_disk_loads(monkeypatch)
    runner = Runner(base, virtual(None))
    runner.run(graph(seed=1))
    loads = runner.manager.stats.loads
    assert reads == [CKPT] and loads == 3  # text encoder, UNet, VAE placed once
    runner.run(graph(seed=2))  # new seed: sampling and decoding run again on the same models
    assert reads == [CKPT]
    assert runner.manager.stats.loads == loads and runner.manager.stats.reuses >= 2
    assert runner.manager.stats.unloads == 0


def test_a_b_a_under_a_budget_that_fits_one_checkpoint(base: Path, monkeypatch) -> None:
    probe = Runner(base, virtual(None))
    probe.run(graph())
    one = checkpoint_bytes(probe)
    runtime.uninstall()
    reads = count_disk_loads(monkeypatch)
    runner = Runner(base, virtual(int(one * 1.2)), cache="lru", lru=64)  # the LRU cache keeps A's outputs
    runner.run(graph(CKPT, seed=1))
    names_a = {lm.name for lm in runner.manager.loaded_models()}
    runner.run(graph(CKPT_B, seed=1))
    names_b = {lm.name for lm in runner.manager.loaded_models()} - names_a
    mark = len(runner.manager.stats.events)
    runner.run(graph(CKPT, seed=2))
    assert reads == [CKPT, CKPT_B]  # A's MODEL/CLIP/VAE stay cached: A comes back without the disk
    events = runner.manager.stats.events
    first_loads = [n for a, n in events if a == "load"]

    def lru_order(names: set[str]) -> list[str]:  # the order they were first placed (= used)
        return [n for n in dict.fromkeys(first_loads) if n in names]

    evicted = [n for a, n in events if a == "evict"]
    # B's prompt pushed out A's models least recently used first, then A's prompt pushed out B's
    assert [n for n in evicted if n in names_a] == lru_order(names_a)
    assert [n for n in evicted if n in names_b] == lru_order(names_b)
    assert max(evicted.index(n) for n in names_a) < max(evicted.index(n) for n in names_b)
    # ... and A's models needed again (UNet, VAE: the text encodings stayed cached) were placed again
    third = events[mark:]
    assert {n for a, n in third if a in ("load", "partial_load")} >= names_a - {lru_order(names_a)[0]}
    assert runner.manager.used_bytes() <= int(one * 1.2)


def test_lora_changes_never_reread_the_checkpoint(base: Path, monkeypatch) -> None:
    reads = count_disk_loads(monkeypatch)
    runner = Runner(base, virtual(None))
    outs = []
    for lora, strength in ((None, 1.0), (LORAS[0], 1.0), (LORAS[0], 0.5), (LORAS[1], -1.0), (None, 1.0)):
        runner.run(graph(lora=lora, strength=strength))
        outs.append(runner.manager.stats.loads)
    assert reads == [CKPT]
    # the plain model after the LoRA runs is bit-identical to the first: unpatching restored every weight
    first = _sample(base, None)
    assert torch.equal(first, _sample(base, None, runner=runner))


def _sample(
    base: Path, budget: int | None, runner: Runner | None = None, lora: str | None = None
) -> torch.Tensor:
    """One KSampler latent through direct node calls under a manager with `budget`."""
    from nodes.conditioning import CLIPTextEncode
    from nodes.loaders import CheckpointLoaderSimple
    from nodes.lora import LoraLoader
    from nodes.sampling import common_ksampler

    if runner is None:
        runner = Runner(base, virtual(budget))
    model, clip, _ = CheckpointLoaderSimple().load_checkpoint(CKPT)
    if lora is not None:
        model, clip = LoraLoader().load_lora(model, clip, lora, 0.8, 0.8)
    pos = CLIPTextEncode().encode(clip, "a red boat")[0]
    neg = CLIPTextEncode().encode(clip, "blurry")[0]
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    return common_ksampler(model, 7, 2, 5.0, "euler", "normal", pos, neg, latent)[0]["samples"]


@pytest.mark.parametrize("fraction", [0.0, 0.35])
def test_partial_loading_gives_the_full_load_output(base: Path, fraction: float) -> None:
    full = _sample(base, None, lora=LORAS[0])
    runtime.uninstall()
    from nodes.loaders import CheckpointLoaderSimple

    Runner(base, virtual(None))
    unet = CheckpointLoaderSimple().load_checkpoint(CKPT)[0].model_size()
    runtime.uninstall()
    runner = Runner(base, virtual(int(unet * fraction)))
    partial = _sample(base, None, runner=runner, lora=LORAS[0])
    assert runner.manager.stats.partial_loads >= 1
    torch.testing.assert_close(partial, full, rtol=1e-5, atol=1e-5)


def test_oom_in_a_node_frees_retries_once_then_names_the_node(base: Path) -> None:
    runner = Runner(base, virtual(None))
    runner.run(graph())
    calls = []

    class FlakyOOM:
        @classmethod
        def INPUT_TYPES(cls):  # noqa: ANN206
            return {"required": {"model": ("MODEL",), "fail": ("INT", {"default": 1})}}

        RETURN_TYPES = ()
        OUTPUT_NODE = True
        FUNCTION = "run"

        def run(self, model, fail):  # noqa: ANN001, ANN201
            calls.append(runner.manager.low_footprint)
            if len(calls) <= fail:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return {}

    runner.registry.register("FlakyOOM", FlakyOOM)
    g = graph()
    g["9"] = {"class_type": "FlakyOOM", "inputs": {"model": ["1", 0], "fail": 1}}
    runner.run(g)
    assert calls == [False, True] and runner.manager.stats.oom_frees == 1
    assert runner.manager.used_bytes() < sum(lm.size for lm in runner.manager.loaded_models())
    calls.clear()
    g["9"]["inputs"]["fail"] = 5
    import asyncio
    import uuid

    from comfy_core.graph.validation import validate_prompt

    pid = str(uuid.uuid4())
    _, _, outputs, _ = asyncio.run(validate_prompt(runner.registry, pid, g, None))
    runner.executor.execute(g, pid, {"client_id": None}, outputs)
    assert not runner.executor.success and len(calls) == 2
    (error,) = [d for e, d in runner.executor.status_messages if e == "execution_error"]
    assert "Out of memory in node 9 (FlakyOOM)" in error["exception_message"]
