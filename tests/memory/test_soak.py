"""Soak: prompts alternating two checkpoints and two LoRAs under a virtual budget that fits about one
checkpoint and a half; resident memory must stop growing (RSS after the last prompt within 5% of RSS
after the fifth) and the manager must not accumulate models."""

from __future__ import annotations

import gc
from pathlib import Path

import psutil
import pytest

from comfy_core import runtime
from tests.fixtures.sd_env import CKPT, single_thread
from tests.memory.sd_env import CKPT_B, LORAS, Runner, build_base, graph, virtual


def soak(base: Path, prompts: int) -> tuple[list[int], Runner]:
    process = psutil.Process()
    with single_thread():
        probe = Runner(base, virtual(None))
        probe.run(graph())
        one = sum(lm.size for lm in probe.manager.loaded_models())
        runtime.uninstall()
        runner = Runner(base, virtual(int(one * 1.5)))
        rss = []
        for i in range(prompts):
            ckpt = (CKPT, CKPT_B)[i % 2]
            lora = LORAS[(i // 2) % 2]
            runner.run(graph(ckpt, lora=lora, strength=0.5 + 0.25 * (i % 3), seed=i))
            gc.collect()
            rss.append(process.memory_info().rss)
            assert len(runner.manager.loaded_models()) <= 6  # at most two checkpoints' models alive
    return rss, runner


def check(rss: list[int], runner: Runner) -> None:
    growth = (rss[-1] - rss[4]) / rss[4]
    assert growth < 0.05, f"RSS grew {growth:.1%}: {[r // 2**20 for r in rss]} MB"
    stats = runner.manager.stats
    assert stats.unloads > 0 and stats.loads > len(rss)  # eviction really happened every prompt or so
    assert runner.manager.used_bytes() <= runner.manager.memory.total()


def test_soak_short(tmp_path: Path) -> None:
    with single_thread():
        base = build_base(tmp_path)
    try:
        check(*soak(base, 8))
    finally:
        runtime.uninstall()


@pytest.mark.slow
def test_soak_50_prompts(tmp_path: Path) -> None:
    with single_thread():
        base = build_base(tmp_path)
    try:
        rss, runner = soak(base, 50)
        print("RSS MB after prompts 5, 25, 50:", [rss[i] // 2**20 for i in (4, 24, 49)])
        check(rss, runner)
    finally:
        runtime.uninstall()
