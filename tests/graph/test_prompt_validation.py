"""validate_prompt: error types, messages, shapes (contract 3.3) on small torch-free node classes."""

from __future__ import annotations

import asyncio

import pytest

from comfy_core.graph import validate_prompt
from comfy_core.registry import NodeRegistry


class Source:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -10, "max": 10})}}

    RETURN_TYPES = ("INT", "STRING")
    FUNCTION = "run"


class Sink:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"number": ("INT",)},
            "optional": {
                "ratio": ("FLOAT", {"min": 0.0, "max": 1.0}),
                "mode": (["a", "b"],),
                "flag": ("BOOLEAN",),
                "text": ("STRING",),
                "many": ("COMBO", {"options": [f"o{i}" for i in range(30)]}),
                "multi": ("COMBO", {"options": ["x", "y"], "multiselect": True}),
            },
        }

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"


class Typed:
    """VALIDATE_INPUTS taking input_types: link type checks are skipped, received types passed."""

    seen: list = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"number": ("FLOAT",), "limit": ("INT", {"max": 1})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    @classmethod
    def VALIDATE_INPUTS(cls, input_types, limit):
        cls.seen.append((dict(input_types), limit))
        return True if input_types.get("number") == "INT" else "bad"


class Async:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    @classmethod
    async def VALIDATE_INPUTS(cls, value):
        await asyncio.sleep(0)
        return value < 1 or f"{value} too big"


@pytest.fixture
def registry():
    reg = NodeRegistry()
    for cls in (Source, Sink, Typed, Async):
        reg.register(cls.__name__, cls)
    return reg


def run(registry, prompt, targets=None):
    return asyncio.run(validate_prompt(registry, "p", prompt, targets))


def sink(**inputs):
    return {"class_type": "Sink", "inputs": inputs}


def test_valid_prompt_casts_constants_in_place(registry):
    prompt = {
        "1": {"class_type": "Source", "inputs": {"value": "3"}},
        "2": sink(number=["1", 0], ratio="0.5", flag="false", text=12, mode={"__value__": "a"}),
    }
    valid, error, outputs, node_errors = run(registry, prompt)
    assert (valid, error, outputs, node_errors) == (True, None, ["2"], {})
    assert prompt["1"]["inputs"]["value"] == 3
    assert prompt["2"]["inputs"] == {"number": ["1", 0], "ratio": 0.5, "flag": True, "text": "12", "mode": "a"}


def test_missing_class_type_and_unknown_class(registry):
    assert run(registry, {"5": {"inputs": {}}})[1] == {
        "type": "invalid_prompt",
        "message": "Cannot execute because a node is missing the class_type property.",
        "details": "Node ID '#5'",
        "extra_info": {},
    }
    valid, error, outputs, node_errors = run(registry, {"7": {"class_type": "Nope", "inputs": {}}})
    assert not valid and error["message"] == "Cannot execute because node Nope does not exist."
    assert (outputs, node_errors) == ([], {})


def test_no_outputs_and_partial_targets(registry):
    prompt = {"1": {"class_type": "Source", "inputs": {"value": 1}}}
    assert run(registry, prompt)[1]["type"] == "prompt_no_outputs"
    prompt["2"] = sink(number=["1", 0])
    prompt["3"] = sink(number=["1", 0])
    assert run(registry, prompt, ["3"])[2] == ["3"]
    assert run(registry, prompt, [])[1]["type"] == "prompt_no_outputs"


def _errors(registry, prompt, node="2"):
    valid, error, _, node_errors = run(registry, prompt)
    assert not valid and error["type"] == "prompt_outputs_failed_validation"
    assert error["message"] == "Prompt outputs failed validation"
    return node_errors[node]["errors"], error


def test_required_input_missing(registry):
    errors, error = _errors(registry, {"2": sink()})
    assert errors == [{"type": "required_input_missing", "message": "Required input is missing",
                       "details": "number", "extra_info": {"input_name": "number"}}]
    assert error["details"] == "Required input is missing: number"


def test_bad_link_and_type_mismatch(registry):
    errors, _ = _errors(registry, {"1": {"class_type": "Source", "inputs": {"value": 1}}, "2": sink(number=["1", 0, 5])})
    assert errors[0]["type"] == "bad_linked_input"
    assert errors[0]["message"] == "Bad linked input, must be a length-2 list of [node_id, slot_index]"
    assert errors[0]["extra_info"]["received_value"] == ["1", 0, 5]
    errors, _ = _errors(registry, {"1": {"class_type": "Source", "inputs": {"value": 1}}, "2": sink(number=["1", 1])})
    assert errors[0]["type"] == "return_type_mismatch"
    assert errors[0]["details"] == "number, received_type(STRING) mismatch input_type(INT)"
    assert errors[0]["extra_info"]["linked_node"] == ["1", 1]


def test_constant_checks(registry):
    errors, _ = _errors(registry, {"2": sink(number="x")})
    assert errors[0]["type"] == "invalid_input_type"
    assert errors[0]["message"] == "Failed to convert an input value to a INT value"
    errors, _ = _errors(registry, {"2": sink(number=1, ratio=2)})
    assert (errors[0]["type"], errors[0]["message"]) == ("value_bigger_than_max", "Value 2.0 bigger than max of 1.0")
    errors, _ = _errors(registry, {"2": sink(number=1, ratio=-1)})
    assert errors[0]["message"] == "Value -1.0 smaller than min of 0.0"
    errors, _ = _errors(registry, {"2": sink(number=1, mode="c")})
    assert errors[0]["type"] == "value_not_in_list" and errors[0]["details"] == "mode: 'c' not in ['a', 'b']"
    assert errors[0]["extra_info"]["input_config"] == (["a", "b"], {})
    errors, _ = _errors(registry, {"2": sink(number=1, many="zz")})
    assert errors[0]["details"] == "many: 'zz' not in (list of length 30)"
    assert errors[0]["extra_info"]["input_config"] is None
    assert run(registry, {"2": sink(number=1, multi={"__value__": ["x", "y"]})})[0]
    errors, _ = _errors(registry, {"2": sink(number=1, multi={"__value__": ["x", "q"]})})
    assert errors[0]["type"] == "value_not_in_list"


def test_upstream_error_reported_once_on_its_node(registry):
    prompt = {"1": {"class_type": "Source", "inputs": {"value": 99}}, "2": sink(number=["1", 0]), "3": sink(number=["1", 0])}
    valid, error, _, node_errors = run(registry, prompt)
    assert not valid and set(node_errors) == {"1"}
    assert node_errors["1"]["dependent_outputs"] == ["2", "3"] and node_errors["1"]["class_type"] == "Source"
    assert error["details"] == ""  # the outputs themselves carry no reasons


def test_link_to_missing_node(registry):
    errors, error = _errors(registry, {"2": sink(number=["77", 0])})
    assert errors[0]["type"] == "exception_during_validation"
    assert errors[0]["details"] == "'77'" and errors[0]["extra_info"]["exception_type"] == "KeyError"
    prompt = {"1": {"class_type": "Source", "inputs": {"value": 1}}, "2": {"class_type": "Typed", "inputs": {"number": ["1", 0], "limit": 0}}}
    prompt["1"]["inputs"]["value"] = ["88", 0]
    valid, _, _, node_errors = run(registry, prompt)
    inner = node_errors["1"]["errors"][0]
    assert inner["type"] == "exception_during_inner_validation" and inner["extra_info"]["linked_node"] == ["1", 0]


def test_input_types_parameter_skips_link_type_check(registry):
    Typed.seen.clear()
    prompt = {"1": {"class_type": "Source", "inputs": {"value": 1}}, "2": {"class_type": "Typed", "inputs": {"number": ["1", 0], "limit": 5}}}
    assert run(registry, prompt)[0]
    assert Typed.seen == [({"number": "INT"}, 5)]  # limit 5 > max 1 not checked: VALIDATE_INPUTS takes it
    prompt["2"]["inputs"]["number"] = ["1", 1]
    errors, _ = _errors(registry, prompt)
    assert errors == [
        {"type": "custom_validation_failed", "message": "Custom validation failed for node",
         "details": "limit - bad", "extra_info": {"input_name": "limit"}},
        {"type": "custom_validation_failed", "message": "Custom validation failed for node",
         "details": "input_types - bad", "extra_info": {"input_name": "input_types"}},
    ]


def test_async_validate_inputs(registry):
    assert run(registry, {"2": {"class_type": "Async", "inputs": {"value": 0.5}}})[0]
    errors, _ = _errors(registry, {"2": {"class_type": "Async", "inputs": {"value": 3}}})
    assert errors[0]["details"] == "value - 3.0 too big"


def test_static_cycle_fails_without_node_errors(registry):
    class Pass:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": ("INT",)}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

    registry.register("Pass", Pass)
    prompt = {
        "1": {"class_type": "Pass", "inputs": {"x": ["3", 0]}},
        "3": {"class_type": "Pass", "inputs": {"x": ["1", 0]}},
        "2": sink(number=["1", 0]),
    }
    valid, error, outputs, node_errors = run(registry, prompt)
    assert (valid, outputs, node_errors) == (False, [], {})
    assert error["type"] == "prompt_outputs_failed_validation"


def test_validation_is_torch_free():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import comfy_core.graph, comfy_core.cache, execution\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert out.stdout.strip() == "ok", out.stderr
