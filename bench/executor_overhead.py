"""Executor overhead: a 500-node chain of trivial nodes, cold run and fully cached re-run.

Prints microseconds per node for the cold run and milliseconds for the cached re-run (targets:
< 100 us/node cold, < 20 ms cached). Torch-free; events go to a sink that only counts them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfy_core.registry import NodeRegistry  # noqa: E402
from execution import CacheConfig, PromptExecutor  # noqa: E402


class Const:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        return (value,)


class AddOne:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        return (x + 1,)


class Result:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    def run(self, x):
        return {"ui": {"value": [x]}}


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def send(self, event, data, sid=None) -> None:
        self.count += 1


def chain(n: int) -> dict:
    prompt = {"0": {"class_type": "Const", "inputs": {"value": 0}}}
    for i in range(1, n - 1):
        prompt[str(i)] = {"class_type": "AddOne", "inputs": {"x": [str(i - 1), 0]}}
    prompt[str(n - 1)] = {"class_type": "Result", "inputs": {"x": [str(n - 2), 0]}}
    return prompt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", default="classic")
    args = parser.parse_args()
    registry = NodeRegistry()
    for cls in (Const, AddOne, Result):
        registry.register(cls.__name__, cls)
    out_id = str(args.nodes - 1)
    cold, cached, cold_cpu, cached_cpu = [], [], [], []
    for _ in range(args.repeat):
        sink = CountingSink()
        executor = PromptExecutor(registry, sink, CacheConfig(args.cache))
        prompt = chain(args.nodes)
        t0, c0 = time.perf_counter(), time.process_time()
        executor.execute(prompt, "cold", {"client_id": "bench"}, [out_id])
        cold.append(time.perf_counter() - t0)
        cold_cpu.append(time.process_time() - c0)
        assert executor.success and executor.history_result["outputs"][out_id] == {"value": [args.nodes - 2]}
        t0, c0 = time.perf_counter(), time.process_time()
        executor.execute(chain(args.nodes), "warm", {"client_id": "bench"}, [out_id])
        cached.append(time.perf_counter() - t0)
        cached_cpu.append(time.process_time() - c0)
        assert executor.success
    n = args.nodes
    print(f"nodes={n} cache={args.cache} events(cold)={sink.count} (best of {args.repeat}; cpu = process time)")
    print(f"cold run:   wall {min(cold) * 1e3:7.2f} ms = {min(cold) / n * 1e6:6.1f} us/node, "
          f"cpu {min(cold_cpu) / n * 1e6:6.1f} us/node  (target < 100 us/node)")
    print(f"cached run: wall {min(cached) * 1e3:7.2f} ms, cpu {min(cached_cpu) * 1e3:7.2f} ms  (target < 20 ms)")


if __name__ == "__main__":
    main()
