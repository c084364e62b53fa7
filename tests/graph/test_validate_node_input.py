"""Link type matching (ComfyUI tests-unit/execution_test/validate_node_input_test.py semantics)."""

from __future__ import annotations

import pytest

from comfy_core.graph.validation import validate_node_input


def test_exact_match():
    assert validate_node_input("STRING", "STRING")
    assert validate_node_input("STRING,INT", "STRING,INT")
    assert validate_node_input("INT,STRING", "STRING,INT")


def test_strict_mode():
    assert validate_node_input("STRING", "STRING,INT", strict=True)
    assert validate_node_input("INT", "STRING,INT", strict=True)
    assert validate_node_input("STRING,INT", "STRING,INT,BOOLEAN", strict=True)
    assert not validate_node_input("STRING,INT", "STRING", strict=True)
    assert not validate_node_input("STRING,BOOLEAN", "STRING", strict=True)
    assert not validate_node_input("INT,BOOLEAN", "STRING,INT", strict=True)


def test_non_strict_mode():
    assert validate_node_input("STRING,BOOLEAN", "STRING,INT")
    assert validate_node_input("STRING,INT", "INT,BOOLEAN")
    assert validate_node_input("STRING", "STRING,INT")
    assert not validate_node_input("BOOLEAN", "STRING,INT")
    assert not validate_node_input("FLOAT", "STRING,INT")
    assert not validate_node_input("FLOAT,BOOLEAN", "STRING,INT")


def test_whitespace_handling():
    assert validate_node_input("STRING, INT", "STRING,INT")
    assert validate_node_input("STRING,INT", "STRING, INT")
    assert validate_node_input(" STRING , INT ", "STRING,INT")
    assert validate_node_input("STRING,INT", " STRING , INT ")


def test_empty_strings():
    assert validate_node_input("", "")
    assert not validate_node_input("STRING", "")
    assert not validate_node_input("", "STRING")


def test_single_vs_multiple():
    assert validate_node_input("STRING", "STRING,INT,BOOLEAN")
    assert validate_node_input("STRING,INT,BOOLEAN", "STRING", strict=False)
    assert not validate_node_input("STRING,INT,BOOLEAN", "STRING", strict=True)


def test_non_string():
    obj1, obj2 = object(), object()
    assert validate_node_input(obj1, obj1)
    assert not validate_node_input(obj1, obj2)


def test_any_matchtype_and_combo_lists():
    assert validate_node_input("*", "IMAGE") and validate_node_input("LATENT", "*")
    assert validate_node_input("COMFY_MATCHTYPE_V3", "IMAGE")
    assert validate_node_input(["a", "b"], "COMBO")
    assert not validate_node_input(["a", "b"], "STRING")


def test_ne_override_is_honoured():
    class Loose(str):
        def __ne__(self, other):
            return False

    class Strict(str):
        def __ne__(self, other):
            return True

    assert validate_node_input(Loose("X"), "Y")
    assert validate_node_input("A", Strict("A,B"))  # unequal by __ne__, then the unions overlap
    assert not validate_node_input("C", Strict("A,B"))


@pytest.mark.parametrize(
    "received,input_type,strict,expected",
    [
        ("STRING", "STRING", False, True),
        ("STRING,INT", "STRING,INT", False, True),
        ("STRING", "STRING,INT", True, True),
        ("STRING,INT", "STRING", True, False),
        ("BOOLEAN", "STRING,INT", False, False),
        ("STRING,BOOLEAN", "STRING,INT", False, True),
    ],
)
def test_parametrized_cases(received, input_type, strict, expected):
    assert validate_node_input(received, input_type, strict) == expected
