"""Cache keys: ancestry, IS_CHANGED / NaN, unhashable values, node-specific keys."""

from __future__ import annotations

import asyncio
import gc
import math

from comfy_core.cache import KeyInterner, SignatureBuilder, to_hashable
from comfy_core.cache.signature import Unhashable
from comfy_core.graph import DynamicPrompt


def keys(prompt, interner, is_changed=None, include_id=lambda c: False):
    async def changed(node_id):
        return (is_changed or {}).get(node_id, False)

    builder = SignatureBuilder(DynamicPrompt(prompt), interner, changed, include_id)
    return asyncio.run(builder.keys_for(list(prompt)))


def chain(value=1, tail="T"):
    return {
        "1": {"class_type": "Src", "inputs": {"value": value}},
        "2": {"class_type": "Mid", "inputs": {"x": ["1", 0], "k": "a"}},
        "3": {"class_type": tail, "inputs": {"y": ["2", 0]}},
        "9": {"class_type": "Side", "inputs": {"s": 5}},
    }


def test_same_structure_same_key_object_across_prompts():
    interner = KeyInterner()
    a, b = keys(chain(), interner), keys(chain(), interner)
    assert all(a[n] is b[n] for n in a)
    # ids do not matter, structure does
    renamed = {"x" + k: {**v, "inputs": {n: (["x" + i[0], i[1]] if isinstance(i, list) else i) for n, i in v["inputs"].items()}} for k, v in chain().items()}
    assert keys(renamed, interner)["x3"] is a["3"]


def test_upstream_change_invalidates_downstream_only():
    interner = KeyInterner()
    a, b = keys(chain(1), interner), keys(chain(2), interner)
    assert a["1"] is not b["1"] and a["2"] is not b["2"] and a["3"] is not b["3"]
    assert a["9"] is b["9"]
    c = keys(chain(1, tail="U"), interner)
    assert c["2"] is a["2"] and c["3"] is not a["3"]


def test_is_changed_values_and_nan():
    interner = KeyInterner()
    a = keys(chain(), interner, {"2": [1]})
    assert keys(chain(), interner, {"2": [1]})["3"] is a["3"]
    assert keys(chain(), interner, {"2": [2]})["3"] is not a["3"]
    nan1 = keys(chain(), interner, {"2": [math.nan]})  # even the very same NaN object
    nan2 = keys(chain(), interner, {"2": float("nan")})
    assert nan1["2"] is not nan2["2"] and nan1["3"] is not nan2["3"] and nan1["1"] is nan2["1"]


def test_unhashable_constants_never_match():
    interner = KeyInterner()
    prompt = {"1": {"class_type": "A", "inputs": {"t": object(), "d": {"k": [1, 2]}}}}
    assert keys(prompt, interner)["1"] is not keys(prompt, interner)["1"]
    assert to_hashable({"k": [1, (2, 3)]}) == to_hashable({"k": (1, [2, 3])})
    assert isinstance(to_hashable(object()), Unhashable) and to_hashable(b"x") == b"x"


def test_node_id_in_key_when_requested():
    interner = KeyInterner()
    p1 = {"1": {"class_type": "A", "inputs": {"v": 1}}, "2": {"class_type": "A", "inputs": {"v": 1}}}
    plain = keys(p1, interner)
    assert plain["1"] is plain["2"]
    specific = keys(p1, interner, include_id=lambda c: c == "A")
    assert specific["1"] is not specific["2"]


def test_missing_ancestor_and_dynamic_cycle_do_not_hang():
    interner = KeyInterner()
    prompt = {
        "a": {"class_type": "A", "inputs": {"x": ["b", 0]}},
        "b": {"class_type": "A", "inputs": {"x": ["a", 0]}},
        "c": {"class_type": "A", "inputs": {"x": ["gone", 0]}},
    }
    k1, k2 = keys(prompt, interner), keys(prompt, interner)
    assert all(k1[n] is not k2[n] for n in prompt)


def test_deep_chain_is_linear_and_interner_releases_keys():
    interner = KeyInterner()
    prompt = {"0": {"class_type": "S", "inputs": {"v": 0}}}
    for i in range(1, 3000):
        prompt[str(i)] = {"class_type": "P", "inputs": {"x": [str(i - 1), 0]}}
    k = keys(prompt, interner)
    assert len(set(map(id, k.values()))) == 3000
    assert len(interner) == 3000
    del k
    gc.collect()
    assert len(interner) == 0
