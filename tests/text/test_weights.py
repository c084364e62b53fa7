from __future__ import annotations

import pytest

from comfy_core.text.weights import parse_weights, split_top_level, weighted_segments


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("a cat", [("a cat", 1.0)]),
        ("a (cat) here", [("a ", 1.0), ("cat", 1.1), (" here", 1.0)]),
        ("(cat:1.5)", [("cat", 1.5)]),
        ("((cat))", [("cat", 1.1 * 1.1)]),
        ("(a (b:0.5) c)", [("a ", 1.1), ("b", 0.5), (" c", 1.1)]),
        ("((cat:1.3))", [("cat", 1.3)]),
        ("(cat:-0.5)", [("cat", -0.5)]),
        ("(a:b:1.2)", [("a:b", 1.2)]),
        ("(cat:high)", [("cat:high", 1.1)]),
        ("(:1.2)", [(":1.2", 1.1)]),
        ("()", []),
        ("\\(cat\\)", [("(cat)", 1.0)]),
        ("(\\(cat\\):1.2)", [("(cat)", 1.2)]),
        ("(unclosed", [("(unclosed", 1.0)]),
        ("a) b (c", [("a) b (c", 1.0)]),
        ("x (y:1.2) (z:0.8)", [("x ", 1.0), ("y", 1.2), (" ", 1.0), ("z", 0.8)]),
        ("(cat: 1.25 )", [("cat", 1.25)]),
        ("", []),
    ],
)
def test_weighted_segments(prompt, expected):
    assert weighted_segments(prompt) == expected


def test_nesting_multiplies_exactly_like_python():
    # Weights must be bit-identical to ComfyUI's repeated `weight *= 1.1`.
    assert parse_weights("(((a)))") == [("a", 1.0 * 1.1 * 1.1 * 1.1)]
    assert parse_weights("(((a))):2") == [("a", 1.1 * 1.1 * 1.1), (":2", 1.0)]


def test_split_top_level_keeps_groups():
    assert split_top_level("a (b (c)) d") == ["a ", "(b (c))", " d"]
