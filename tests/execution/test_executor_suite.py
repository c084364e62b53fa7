"""ComfyUI's tests/execution/test_execution.py behaviours, run in-process in every cache mode."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.fixtures.executor_env import ExecutionFailed, ValidationFailed


def _img(g, content, size=64, **kw):
    return g.node("StubImage", content=content, height=size, width=size, batch_size=1, **kw)


def _mask(g, value, size=64):
    return g.node("StubMask", value=value, height=size, width=size, batch_size=1)


def _flat(image, value):
    return image.min() == value and image.max() == value


def test_lazy_input(client, builder):
    g = builder
    input1, input2, mask = _img(g, "BLACK"), _img(g, "WHITE"), _mask(g, 0.0)
    mix = g.node("TestLazyMixImages", image1=input1.out(0), image2=input2.out(0), mask=mask.out(0))
    output = g.node("SaveImage", images=mix.out(0))
    result = client.run(g)
    assert _flat(result.get_images(output)[0], 0)
    assert result.did_run(input1) and result.did_run(mask) and result.did_run(mix)
    assert not result.did_run(input2)


def test_full_cache(client, builder):
    g = builder
    input1, input2, mask = _img(g, "BLACK"), _img(g, "NOISE"), _mask(g, 0.5)
    mix = g.node("TestLazyMixImages", image1=input1.out(0), image2=input2.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix.out(0))
    client.run(g)
    result2 = client.run(g)
    for node in g.nodes.values():
        assert result2.did_run(node) is (not client.should_cache), node.id


def test_partial_cache(client, builder):
    g = builder
    input1, input2, mask = _img(g, "BLACK"), _img(g, "NOISE"), _mask(g, 0.5)
    mix = g.node("TestLazyMixImages", image1=input1.out(0), image2=input2.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix.out(0))
    client.run(g)
    mask.inputs["value"] = 0.4
    result2 = client.run(g)
    assert result2.did_run(mask) and result2.did_run(mix)
    assert result2.did_run(input1) is (not client.should_cache)
    assert result2.did_run(input2) is (not client.should_cache)


def test_error_names_node_and_keeps_completed_outputs(client, builder):
    g = builder
    input1 = _img(g, "BLACK", 64)
    input2 = _img(g, "NOISE", 32)  # different size: the mix fails
    mask = _mask(g, 0.5)
    mix = g.node("TestLazyMixImages", image1=input1.out(0), image2=input2.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix.out(0))
    with pytest.raises(ExecutionFailed) as info:
        client.run(g)
    error = info.value.args[0]
    assert error["prompt_id"] and error["node_id"] == mix.id and error["node_type"] == "TestLazyMixImages"
    assert error["exception_type"] == "RuntimeError" and error["exception_message"].endswith("\n")
    assert set(error["current_inputs"]) == {"image1", "image2", "mask"} and error["traceback"]
    assert set(error["executed"]) == {input1.id, input2.id, mask.id}
    assert client.executor.success is False
    assert [m[0] for m in client.executor.status_messages] == ["execution_start", "execution_cached", "execution_error"]
    # the next run resumes: the nodes that completed stay cached
    with pytest.raises(ExecutionFailed) as info:
        client.run(g)
    rerun = info.value.args[0]
    if client.should_cache:
        assert rerun["executed"] == [] and set(rerun["current_outputs"]) == {input1.id, input2.id, mask.id}
    else:
        assert set(rerun["executed"]) == {input1.id, input2.id, mask.id}


@pytest.mark.parametrize("value, expect_error", [(5, True), ("foo", True), (5.0, False)])
def test_validation_error_literal(value, expect_error, classic_client, builder):
    g = builder
    v = g.node("TestCustomValidation1", input1=value, input2=3.0)
    g.node("SaveImage", images=v.out(0))
    if expect_error:
        with pytest.raises(ValidationFailed) as info:
            classic_client.run(g)
        error, node_errors = info.value.args
        assert error["type"] == "prompt_outputs_failed_validation"
        assert [e["type"] for e in node_errors[v.id]["errors"]] == ["custom_validation_failed"] * 2
        assert node_errors[v.id]["errors"][0]["details"].startswith("input1 - Invalid type of input1")
    else:
        classic_client.run(g)


@pytest.mark.parametrize("node_type, value", [("StubInt", 5), ("StubMask", 5.0)])
def test_validation_error_edge1(node_type, value, classic_client, builder):
    g = builder
    stub = g.node(node_type, value=value) if node_type == "StubInt" else _mask(g, 0.5)
    v = g.node("TestCustomValidation1", input1=stub.out(0), input2=3.0)
    g.node("SaveImage", images=v.out(0))
    with pytest.raises(ValidationFailed) as info:
        classic_client.run(g)
    assert info.value.args[1][v.id]["errors"][0]["type"] == "return_type_mismatch"


@pytest.mark.parametrize("validator", ["TestCustomValidation2", "TestCustomValidation3", "TestCustomValidation4"])
@pytest.mark.parametrize("node_type, value, expect_error", [("StubInt", 5, True), ("StubFloat", 5.0, False)])
def test_validation_error_edges_2_3_4(validator, node_type, value, expect_error, classic_client, builder):
    g = builder
    stub = g.node(node_type, value=value)
    v = g.node(validator, input1=stub.out(0), input2=3.0)
    out = g.node("SaveImage", images=v.out(0))
    if expect_error:
        with pytest.raises(ValidationFailed) as info:
            classic_client.run(g)
        assert info.value.args[1][v.id]["errors"][0]["type"] in ("custom_validation_failed", "return_type_mismatch")
    else:
        result = classic_client.run(g)
        assert _flat(result.get_images(out)[0], 255)  # 5.0 * 3.0 clipped


@pytest.mark.parametrize("value1, value2, expect_error", [(0.0, 0.5, False), (0.0, 5.0, False), (0.0, 7.0, True)])
def test_validation_error_kwargs(value1, value2, expect_error, classic_client, builder):
    g = builder
    v = g.node("TestCustomValidation5", input1=value1, input2=value2)
    g.node("SaveImage", images=v.out(0))
    if expect_error:
        with pytest.raises(ValidationFailed) as info:
            classic_client.run(g)
        details = [e["details"] for e in info.value.args[1][v.id]["errors"]]
        assert "input2 - 7s are not allowed. I've never liked 7s." in details
    else:
        classic_client.run(g)  # 5.0 > max 1.0 is not checked: VALIDATE_INPUTS takes **kwargs


def test_cycle_error_is_a_validation_error(classic_client, builder):
    g = builder
    input1, input2, mask = _img(g, "BLACK"), _img(g, "WHITE"), _mask(g, 0.5)
    mix1 = g.node("TestLazyMixImages", image1=input1.out(0), mask=mask.out(0))
    mix2 = g.node("TestLazyMixImages", image1=mix1.out(0), image2=input2.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix2.out(0))
    with pytest.raises(ValidationFailed):
        classic_client.run(g)
    mix1.set_input("image2", mix2.out(0))  # a real static cycle
    with pytest.raises(ValidationFailed) as info:
        classic_client.run(g)
    assert info.value.args[0]["type"] == "prompt_outputs_failed_validation" and info.value.args[1] == {}


def test_dynamic_cycle_error_blames_generator(client, builder):
    g = builder
    input1, input2 = _img(g, "BLACK", 512), _img(g, "WHITE", 512)
    generator = g.node("TestDynamicDependencyCycle", input1=input1.out(0), input2=input2.out(0))
    g.node("SaveImage", images=generator.out(0))
    with pytest.raises(ExecutionFailed) as info:
        client.run(g)
    error = info.value.args[0]
    assert error["node_id"] == generator.id
    assert error["exception_type"] == "graph.DependencyCycleError"
    assert error["exception_message"] == "Dependency cycle detected"


def test_missing_node_error_runs_valid_outputs(client, builder):
    g = builder
    input1 = _img(g, "BLACK")
    _img(g, "WHITE", id="removeme")
    input3 = _img(g, "WHITE")
    mask = _mask(g, 0.5)
    mix1 = g.node("TestLazyMixImages", image1=input1.out(0), image2=[f"{g.prefix}removeme", 0], mask=mask.out(0))
    mix2 = g.node("TestLazyMixImages", image1=input1.out(0), image2=input3.out(0), mask=mask.out(0))
    g.node("SaveImage", images=mix1.out(0))
    save2 = g.node("SaveImage", images=mix2.out(0))
    g.remove_node("removeme")
    valid, error, outputs, node_errors = client.validate(g.finalize())
    assert valid and outputs == [save2.id]
    assert node_errors[mix1.id]["errors"][0]["type"] == "exception_during_inner_validation"
    result = client.run(g)
    assert result.did_run(mix2) and not result.did_run(mix1)
    _img(g, "WHITE", id="removeme")
    result = client.run(g)
    assert result.was_executed(mix1)


def test_custom_is_changed(client, builder):
    g = builder
    save = g.node("SaveImage")
    is_changed = g.node("TestCustomIsChanged", should_change=False)
    input1 = _img(g, "BLACK")
    save.set_input("images", is_changed.out(0))
    is_changed.set_input("image", input1.out(0))
    r1, r2 = client.run(g), client.run(g)
    is_changed.set_input("should_change", True)
    r3, r4 = client.run(g), client.run(g)
    assert r1.did_run(is_changed)
    assert r2.did_run(is_changed) is (not client.should_cache)
    assert r3.did_run(is_changed) and r4.did_run(is_changed)
    assert r4.did_run(save) and (r4.did_run(input1) is (not client.should_cache))


def test_undeclared_linked_inputs_are_passed(client, builder):
    g = builder
    images = [_img(g, c) for c in ("BLACK", "WHITE", "BLACK", "BLACK")]
    avg = g.node("TestVariadicAverage", **{f"input{i + 1}": im.out(0) for i, im in enumerate(images)}, ignored=3)
    out = g.node("SaveImage", images=avg.out(0))
    assert _flat(client.run(g).get_images(out)[0], 255 // 4)


def test_for_loop(client, builder):
    g = builder
    input1, input2 = _img(g, "BLACK"), _img(g, "WHITE")
    is_changed = g.node("TestCustomIsChanged", should_change=True, image=input2.out(0))
    for_open = g.node("TestForLoopOpen", remaining=4, initial_value1=is_changed.out(0))
    average = g.node("TestVariadicAverage", input1=input1.out(0), input2=for_open.out(2))
    for_close = g.node("TestForLoopClose", flow_control=for_open.out(0), initial_value1=average.out(0))
    out = g.node("SaveImage", images=for_close.out(0))
    for iterations in range(1, 5):
        for_open.set_input("remaining", iterations)
        result = client.run(g)
        assert _flat(result.get_images(out)[0], 255 // (2**iterations)), iterations
        assert result.did_run(is_changed)


def test_mixed_expansion_returns(client, builder):
    g = builder
    values = g.node("TestMakeListNode", value1=0.1, value2=0.2, value3=0.3)
    mixed = g.node("TestMixedExpansionReturns", input1=values.out(0))
    out_dynamic = g.node("SaveImage", images=mixed.out(0))
    out_literal = g.node("SaveImage", images=mixed.out(1))
    result = client.run(g)
    dynamic = result.get_images(out_dynamic)
    assert [int(im.min()) for im in dynamic] == [25, 51, 76] and [int(im.max()) for im in dynamic] == [25, 51, 76]
    literal = result.get_images(out_literal)
    assert len(literal) == 3 and all(_flat(im, 255) for im in literal)
    # expansion ids follow "<parent>.<call index>.<graph index>.<local id>"
    fragment_meta = [m for m in result.meta.values() if m["node_id"].startswith(mixed.id + ".")]
    assert fragment_meta == [] and any(n.startswith(mixed.id + ".2.0.") for n in result.runs)


def test_mixed_lazy_results_with_list_input(client, builder):
    g = builder
    values = g.node("TestMakeListNode", value1=0.0, value2=0.5, value3=1.0)
    mask = g.node("StubMask", value=values.out(0), height=64, width=64, batch_size=1)
    input1, input2 = _img(g, "BLACK"), _img(g, "WHITE")
    mix = g.node("TestLazyMixImages", image1=input1.out(0), image2=input2.out(0), mask=mask.out(0))
    rebatch = g.node("RebatchImages", images=mix.out(0), batch_size=3)
    out = g.node("SaveImage", images=rebatch.out(0))
    images = client.run(g).get_images(out)
    assert [(int(i.min()), int(i.max())) for i in images] == [(0, 0), (127, 127), (255, 255)]


def test_output_reuse(client, builder):
    g = builder
    input1 = _img(g, "BLACK")
    out1 = g.node("SaveImage", images=input1.out(0))
    out2 = g.node("SaveImage", images=input1.out(0))
    result = client.run(g)
    assert len(result.get_images(out1)) == 1 and len(result.get_images(out2)) == 1


def test_is_changed_sees_constants_only(client, builder):
    g = builder
    input1 = g.node("StubConstantImage", value=0.5, height=64, width=64, batch_size=1)
    node = g.node("TestIsChangedWithConstants", image=input1.out(0), value=0.5)
    out = g.node("PreviewImage", images=node.out(0))
    for _ in range(2):
        result = client.run(g)
        images = result.get_images(out)
        assert len(images) == 1 and _flat(images[0], 63)
    assert result.did_run(node) is (not client.should_cache)


def test_parallel_sleep_nodes_overlap(client, builder):
    g = builder
    image = _img(g, "BLACK")
    sleeps = [g.node("TestSleep", value=image.out(0), seconds=s) for s in (0.4, 0.5, 0.45)]
    for s in sleeps:
        g.node("PreviewImage", images=s.out(0))
    start = time.time()
    result = client.run(g)
    elapsed = time.time() - start
    assert elapsed < 0.5 * 3 * 0.8, elapsed
    assert all(result.did_run(s) for s in sleeps)
    progress_nodes = {d["node"] for e, d, _ in result.events if e == "progress"}
    assert {s.id for s in sleeps} <= progress_nodes


def test_parallel_sleep_expansion(client, builder):
    g = builder
    i1, i2, i3 = _img(g, "BLACK"), _img(g, "WHITE"), _img(g, "WHITE")
    parallel = g.node("TestParallelSleep", image1=i1.out(0), image2=i2.out(0), image3=i3.out(0),
                      sleep1=0.4, sleep2=0.45, sleep3=0.5)
    out = g.node("SaveImage", images=parallel.out(0))
    start = time.time()
    result = client.run(g)
    assert time.time() - start < 1.2
    assert result.did_run(parallel)
    images = result.get_images(out)
    assert len(images) == 1 and images[0].mean() == 170
    # fragment nodes report the expanding node as their display node
    shown = {d["node"]: d["display_node"] for e, d, _ in result.events if e == "executing"}
    assert all(shown[n] == parallel.id for n in shown if n.startswith(parallel.id + "."))


def test_execution_block_list_output(client, builder):
    g = builder
    images = [_img(g, c) for c in ("BLACK", "WHITE", "BLACK")]
    image_list = g.node("TestMakeListNode", **{f"value{i + 1}": im.out(0) for i, im in enumerate(images)})
    ints = [g.node("StubInt", value=v) for v in (1, 2, 3)]
    int_list = g.node("TestMakeListNode", **{f"value{i + 1}": n.out(0) for i, n in enumerate(ints)})
    compare = g.node("TestIntConditions", a=int_list.out(0), b=2, operation="==")
    blocker = g.node("TestExecutionBlocker", input=image_list.out(0), block=compare.out(0), verbose=False)
    list_output = g.node("TestMakeListNode", value1=blocker.out(0))
    out = g.node("PreviewImage", images=list_output.out(0))
    result = client.run(g)
    assert result.did_run(out)
    images = result.get_images(out)
    assert len(images) == 2 and all(_flat(im, 0) for im in images)


def test_verbose_blocker_reports_without_failing(classic_client, builder):
    g = builder
    image = _img(g, "WHITE")
    blocker = g.node("TestExecutionBlocker", input=image.out(0), block=True, verbose=True)
    out = g.node("PreviewImage", images=blocker.out(0))
    result = classic_client.run(g, raise_errors=False)
    blocked = [d for e, d, _ in result.events if e == "execution_error"]
    assert len(blocked) == 1 and blocked[0]["exception_type"] == "ExecutionBlocked"
    assert blocked[0]["exception_message"] == "Execution Blocked: Blocked Execution"
    assert blocked[0]["node_id"] == out.id and blocked[0]["traceback"] == []
    assert result.success and result.status_messages[-1][0] == "execution_success"
    assert out.id not in result.outputs


def test_partial_execution_included_and_excluded_outputs(client, builder):
    g = builder
    input1, input2, input3 = _img(g, "BLACK"), _img(g, "WHITE"), _img(g, "NOISE")
    out1 = g.node("SaveImage", images=input1.out(0))
    out2 = g.node("SaveImage", images=input2.out(0))
    out3 = g.node("SaveImage", images=input3.out(0))
    result = client.run(g, partial_execution_targets=[out1.id, out3.id])
    assert result.was_executed(input1) and result.was_executed(out1) and result.was_executed(out3)
    assert not result.did_run(input2) and not result.did_run(out2)
    assert len(result.get_images(out1)) == 1 and result.get_images(out2) == []


def test_partial_execution_dependencies_and_multiple_output_nodes(client, builder):
    g = builder
    input1, input2 = _img(g, "BLACK"), _img(g, "WHITE")
    node1 = g.node("TestOutputNodeWithSocketOutput", image=input1.out(0), value=1.5)
    node2 = g.node("TestOutputNodeWithSocketOutput", image=node1.out(0), value=2.0)
    save1 = g.node("SaveImage", images=node1.out(0))
    save2 = g.node("SaveImage", images=node2.out(0))
    save3 = g.node("SaveImage", images=input2.out(0))
    result = client.run(g, partial_execution_targets=[save2.id])
    assert all(result.was_executed(n) for n in (input1, node1, node2, save2))
    assert not any(result.did_run(n) for n in (input2, save1, save3))


def test_partial_execution_with_lazy_nodes(client, builder):
    g = builder
    input1, input2, input3 = _img(g, "BLACK"), _img(g, "WHITE"), _img(g, "NOISE")
    mask1, mask2 = _mask(g, 0.0), _mask(g, 0.5)
    mix1 = g.node("TestLazyMixImages", image1=input1.out(0), image2=input2.out(0), mask=mask1.out(0))
    mix2 = g.node("TestLazyMixImages", image1=input2.out(0), image2=input3.out(0), mask=mask2.out(0))
    out1 = g.node("SaveImage", images=mix1.out(0))
    out2 = g.node("SaveImage", images=mix2.out(0))
    result = client.run(g, partial_execution_targets=[out1.id])
    assert result.did_run(input1) and result.did_run(mask1) and result.did_run(mix1) and result.did_run(out1)
    assert not any(result.did_run(n) for n in (input2, input3, mask2, mix2, out2))


def test_partial_execution_empty_list_is_invalid(classic_client, builder):
    g = builder
    g.node("SaveImage", images=_img(g, "BLACK").out(0))
    with pytest.raises(ValidationFailed) as info:
        classic_client.run(g, partial_execution_targets=[])
    assert info.value.args[0]["type"] == "prompt_no_outputs"


def test_cached_outputs_reach_history_without_client(client, builder):
    g = builder
    image = _img(g, "BLACK", 32)
    out = g.node("SaveImage", images=image.out(0))
    client.run(g)
    result = client.run(g, client_id=None)
    assert out.id in result.outputs and result.outputs[out.id]["images"]
    assert not [e for e, _, _ in result.events if e in ("executing", "executed", "execution_start")]
    assert np.array_equal(result.get_images(out)[0], np.zeros((32, 32, 3), np.uint8))
