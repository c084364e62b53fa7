"""Event order and targeting (contract 2.2), progress and previews, interrupts, async nodes, V3 calls."""

from __future__ import annotations

import threading
import time

import pytest

from comfy_core.events import BinaryEvent
from tests.fixtures.executor_env import ExecutionFailed, ValidationFailed


def _img(g, content, size=32):
    return g.node("StubImage", content=content, height=size, width=size, batch_size=1)


def _names(result):
    return [e for e, _, _ in result.events]


def test_event_order_single_prompt_and_cached_rerun(classic_client, builder):
    g = builder
    image = _img(g, "BLACK")
    out = g.node("PreviewImage", images=image.out(0))
    first = classic_client.run(g)
    assert _names(first) == [
        "execution_start", "execution_cached",
        "progress_state", "executing", "progress_state",
        "progress_state", "executing", "executed", "progress_state",
        "execution_success",
    ]
    sids = {sid for _, _, sid in first.events}
    assert sids == {classic_client.client_id}
    executing = [d for e, d, _ in first.events if e == "executing"]
    assert executing == [{"node": n.id, "display_node": n.id, "prompt_id": first.prompt_id} for n in (image, out)]
    states = [d for e, d, _ in first.events if e == "progress_state"]
    assert states[0]["nodes"][image.id]["state"] == "running" and states[1]["nodes"][image.id]["state"] == "finished"
    assert set(states[-1]["nodes"]) == {image.id, out.id}
    entry = states[-1]["nodes"][out.id]
    assert entry == {"value": 1, "max": 1, "state": "finished", "node_id": out.id, "prompt_id": first.prompt_id,
                     "display_node_id": out.id, "parent_node_id": None, "real_node_id": out.id}
    start = first.events[0][1]
    assert set(start) == {"prompt_id", "timestamp"} and start["timestamp"] > 1.6e12
    assert [m[0] for m in first.status_messages] == ["execution_start", "execution_cached", "execution_success"]
    assert first.meta[out.id] == {"node_id": out.id, "display_node": out.id, "parent_node": None, "real_node_id": out.id}

    second = classic_client.run(g)
    assert _names(second) == ["execution_start", "execution_cached", "executed", "progress_state", "execution_success"]
    assert second.events[1][1]["nodes"] == [image.id, out.id]
    assert second.events[2][1]["output"] == first.outputs[out.id]
    assert second.outputs == first.outputs


def test_no_client_id_broadcasts_progress_only(classic_client, builder):
    g = builder
    sleep = g.node("TestSleep", value=_img(g, "BLACK").out(0), seconds=0.05)
    g.node("PreviewImage", images=sleep.out(0))
    result = classic_client.run(g, client_id=None)
    names = set(_names(result))
    assert names == {"progress_state", "progress"}
    assert {sid for _, _, sid in result.events} == {None}
    assert [m[0] for m in result.status_messages][-1] == "execution_success"


def test_progress_events_and_preview(classic_client, builder):
    from PIL import Image

    class Previewing:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"
        OUTPUT_NODE = True

        def run(self):
            from comfy_core.progress import report_progress

            report_progress(1, 2)
            report_progress(2, 2, ("JPEG", Image.new("RGB", (4, 4)), 512))
            return (1,)

    classic_client.registry.register("Previewing", Previewing)
    node = builder.node("Previewing")
    result = classic_client.run(builder)
    progress = [d for e, d, _ in result.events if e == "progress"]
    assert progress == [{"value": 1, "max": 2, "prompt_id": result.prompt_id, "node": node.id},
                        {"value": 2, "max": 2, "prompt_id": result.prompt_id, "node": node.id}]
    previews = [d for e, d, _ in result.events if e == BinaryEvent.UNENCODED_PREVIEW_IMAGE]
    assert len(previews) == 1
    fmt, image, max_size, meta = previews[0]
    assert (fmt, image.size, max_size) == ("JPEG", (4, 4), 512)
    assert meta == {"node_id": node.id, "prompt_id": result.prompt_id, "display_node_id": node.id,
                    "parent_node_id": None, "real_node_id": node.id}
    order = _names(result)
    assert order.index("progress_state", order.index("executing")) < order.index("progress")


def test_interrupt_stops_prompt_and_is_broadcast_flagged(classic_client, builder):
    g = builder
    sleep = g.node("TestSleep", value=_img(g, "BLACK").out(0), seconds=5.0)
    g.node("PreviewImage", images=sleep.out(0))
    timer = threading.Timer(0.3, classic_client.executor.interrupt)
    timer.start()
    start = time.time()
    result = classic_client.run(g)
    assert time.time() - start < 2.0
    assert result.success is False
    last = result.status_messages[-1]
    assert last[0] == "execution_interrupted"
    assert {k for k in last[1]} == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert last[1]["node_id"] == sleep.id and last[1]["node_type"] == "TestSleep"
    assert not classic_client.executor.interrupt_flag.is_set()
    # the flag is cleared at the start of the next prompt
    classic_client.executor.interrupt()
    g2 = type(builder)(prefix="again_")
    g2.node("PreviewImage", images=_img(g2, "WHITE").out(0))
    assert classic_client.run(g2).success


def test_interrupt_checked_before_each_node_call(classic_client, builder):
    class Interrupter:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"image": ("IMAGE",)}}

        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "run"
        executor = None

        def run(self, image):
            Interrupter.executor.interrupt()
            return (image,)

    Interrupter.executor = classic_client.executor
    classic_client.registry.register("Interrupter", Interrupter)
    g = builder
    mid = g.node("Interrupter", image=_img(g, "BLACK").out(0))
    out = g.node("PreviewImage", images=mid.out(0))
    result = classic_client.run(g)
    assert result.status_messages[-1][0] == "execution_interrupted"
    assert result.status_messages[-1][1]["node_id"] == out.id
    assert mid.id in result.status_messages[-1][1]["executed"]


def test_async_validate_and_lazy_and_errors(classic_client, builder):
    g = builder
    v = g.node("TestAsyncValidation", value=5.0, threshold=10.0)
    g.node("SaveImage", images=v.out(0))
    assert classic_client.run(g).did_run(v)
    v.inputs["threshold"] = 3.0
    with pytest.raises(ValidationFailed):
        classic_client.run(g)

    g2 = type(builder)(prefix="lazy_")
    lazy = g2.node("TestAsyncLazyCheck", input1="value1", input2="value2", condition=True)
    g2.node("SaveImage", images=lazy.out(0))
    assert classic_client.run(g2).did_run(lazy)

    g3 = type(builder)(prefix="err_")
    err = g3.node("TestAsyncError", value=_img(g3, "BLACK").out(0), error_after=0.05)
    g3.node("SaveImage", images=err.out(0))
    with pytest.raises(ExecutionFailed) as info:
        classic_client.run(g3)
    assert info.value.args[0]["node_id"] == err.id
    assert info.value.args[0]["exception_message"].startswith("Intentional async execution error")

    g4 = type(builder)(prefix="timeout_")
    t = g4.node("TestAsyncTimeout", value=_img(g4, "BLACK").out(0), timeout=0.1, operation_time=1.0)
    g4.node("SaveImage", images=t.out(0))
    with pytest.raises(ExecutionFailed) as info:
        classic_client.run(g4)
    assert "timed out" in info.value.args[0]["exception_message"]


def test_sync_error_while_async_runs_then_recovery(classic_client, builder):
    g = builder
    image = _img(g, "BLACK")
    sleep = g.node("TestSleep", value=image.out(0), seconds=0.3)
    error = g.node("TestSyncError", value=image.out(0))
    g.node("PreviewImage", images=sleep.out(0))
    g.node("PreviewImage", images=error.out(0))
    with pytest.raises(ExecutionFailed) as info:
        classic_client.run(g)
    assert info.value.args[0]["node_id"] == error.id
    g2 = type(builder)(prefix="recover_")
    s = g2.node("TestSleep", value=_img(g2, "WHITE").out(0), seconds=0.05)
    g2.node("SaveImage", images=s.out(0))
    assert classic_client.run(g2).did_run(s)


def test_async_lazy_evaluation_skips_unneeded_sleep(classic_client, builder):
    g = builder
    s1 = g.node("TestSleep", value=_img(g, "BLACK").out(0), seconds=0.2)
    s2 = g.node("TestSleep", value=_img(g, "WHITE").out(0), seconds=0.2)
    mask = g.node("StubMask", value=0.0, height=32, width=32, batch_size=1)
    mix = g.node("TestLazyMixImages", image1=s1.out(0), image2=s2.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix.out(0))
    start = time.time()
    result = classic_client.run(g)
    assert time.time() - start < 0.45
    assert result.did_run(s1) and not result.did_run(s2)


def test_async_blocker_list_and_caching(client, builder):
    g = builder
    s1 = g.node("TestSleep", value=_img(g, "BLACK").out(0), seconds=0.1)
    s2 = g.node("TestSleep", value=_img(g, "WHITE").out(0), seconds=0.1)
    images = g.node("TestMakeListNode", value1=s1.out(0), value2=s2.out(0))
    ints = g.node("TestMakeListNode", value1=g.node("StubInt", value=1).out(0), value2=g.node("StubInt", value=2).out(0))
    compare = g.node("TestIntConditions", a=ints.out(0), b=2, operation="==")
    blocker = g.node("TestExecutionBlocker", input=images.out(0), block=compare.out(0), verbose=False)
    out = g.node("PreviewImage", images=blocker.out(0))
    assert len(client.run(g).get_images(out)) == 1
    start = time.time()
    again = client.run(g)
    if client.should_cache:
        assert not again.did_run(s1) and time.time() - start < 0.1
    else:
        assert again.did_run(s1)


def test_dynamic_async_generation_overlaps(classic_client, builder):
    g = builder
    gen = g.node("TestDynamicAsyncGeneration", image1=_img(g, "BLACK").out(0), image2=_img(g, "WHITE").out(0),
                 num_async_nodes=5, sleep_duration=0.2)
    out = g.node("SaveImage", images=gen.out(0))
    start = time.time()
    result = classic_client.run(g)
    assert time.time() - start < 0.6
    assert result.did_run(gen) and abs(result.get_images(out)[0].mean() - 255 * 2 / 5) < 1


def test_resource_cleanup_and_second_run_cached(classic_client, builder):
    g = builder
    image = _img(g, "BLACK")
    users = [g.node("TestAsyncResourceUser", value=image.out(0), resource_id=f"r{i}", duration=0.05) for i in range(4)]
    for u in users:
        g.node("PreviewImage", images=u.out(0))
    first = classic_client.run(g)
    assert all(first.did_run(u) for u in users)
    second = classic_client.run(g)
    assert not any(second.did_run(u) for u in users)


def test_progress_update_nodes(classic_client, builder):
    g = builder
    image = _img(g, "BLACK")
    a = g.node("TestAsyncProgressUpdate", value=image.out(0), sleep_seconds=0.05)
    s = g.node("TestSyncProgressUpdate", value=image.out(0), sleep_seconds=0.05)
    g.node("PreviewImage", images=a.out(0))
    g.node("PreviewImage", images=s.out(0))
    result = classic_client.run(g)
    nodes = {d["node"] for e, d, _ in result.events if e == "progress"}
    assert {a.id, s.id} <= nodes


def test_v3_style_class_called_through_clone(classic_client, builder):
    calls = []

    class V3Node:
        _COMFY_V3 = True
        hidden = None

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": ("INT", {"default": 1})}, "hidden": {"unique_id": ("UNIQUE_ID",), "prompt": ("PROMPT",)}}

        RETURN_TYPES = ("INT",)
        OUTPUT_NODE = True
        FUNCTION = "execute"

        @classmethod
        def PREPARE_CLASS_CLONE(cls, hidden):
            return type("Clone", (cls,), {"hidden": dict(hidden)})

        @classmethod
        def execute(cls, x):
            calls.append((x, cls.hidden))
            return {"ui": {"text": [str(x)]}, "result": (x,)}

    classic_client.registry.register("V3Node", V3Node)
    a = builder.node("V3Node", x=3)
    builder.node("V3Node", x=3)
    result = classic_client.run(builder)
    assert calls[0][0] == 3 and calls[0][1]["unique_id"] == a.id and a.id in calls[0][1]["prompt"]
    assert len(calls) == 1  # V3 hidden UNIQUE_ID does not make the key node-specific: the twin is a hit
    assert result.outputs[a.id] == {"text": ["3"]}


def test_not_idempotent_and_v1_unique_id_keys(classic_client, builder):
    class Counter:
        runs = 0
        NOT_IDEMPOTENT = True

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ("INT",)
        OUTPUT_NODE = True
        FUNCTION = "run"

        def run(self):
            Counter.runs += 1
            return (Counter.runs,)

    classic_client.registry.register("Counter", Counter)
    builder.node("Counter")
    builder.node("Counter")
    classic_client.run(builder)
    assert Counter.runs == 2
    classic_client.run(builder)
    assert Counter.runs == 2  # same ids: cached


def test_reset_drops_caches(classic_client, builder):
    g = builder
    image = _img(g, "BLACK")
    g.node("PreviewImage", images=image.out(0))
    classic_client.run(g)
    classic_client.executor.reset()
    assert classic_client.run(g).did_run(image)


def test_oom_hooks(classic_client, builder):
    freed = []
    classic_client.executor.is_oom = lambda ex: isinstance(ex, MemoryError)
    classic_client.executor.on_oom = lambda: freed.append(True)

    class Hungry:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ()
        OUTPUT_NODE = True
        FUNCTION = "run"

        def run(self):
            raise MemoryError("out of memory")

    classic_client.registry.register("Hungry", Hungry)
    builder.node("Hungry")
    with pytest.raises(ExecutionFailed) as info:
        classic_client.run(builder)
    assert freed == [True] and "TIPS:" in info.value.args[0]["exception_message"]
    assert info.value.args[0]["exception_type"] == "MemoryError"
