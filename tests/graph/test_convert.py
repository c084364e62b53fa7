"""UI workflow -> API prompt conversion (contract 10.3)."""

from __future__ import annotations

import pytest

from comfy_core.graph.convert import ConversionError, is_api_prompt, workflow_to_prompt

INFO = {
    "CheckpointLoaderSimple": {
        "input": {"required": {"ckpt_name": [["a.safetensors"], {}]}},
        "input_order": {"required": ["ckpt_name"]},
        "display_name": "Load Checkpoint",
    },
    "CLIPTextEncode": {
        "input": {"required": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP", {}]}},
        "input_order": {"required": ["text", "clip"]},
        "display_name": "CLIP Text Encode",
    },
    "EmptyLatentImage": {
        "input": {"required": {"width": ["INT", {}], "height": ["INT", {}], "batch_size": ["INT", {}]}},
        "input_order": {"required": ["width", "height", "batch_size"]},
    },
    "KSampler": {
        "input": {
            "required": {
                "model": ["MODEL", {}],
                "seed": ["INT", {"control_after_generate": True}],
                "steps": ["INT", {}],
                "cfg": ["FLOAT", {}],
                "sampler_name": [["euler"], {}],
                "scheduler": [["normal"], {}],
                "positive": ["CONDITIONING", {}],
                "negative": ["CONDITIONING", {}],
                "latent_image": ["LATENT", {}],
                "denoise": ["FLOAT", {}],
            }
        },
        "input_order": {
            "required": [
                "model",
                "seed",
                "steps",
                "cfg",
                "sampler_name",
                "scheduler",
                "positive",
                "negative",
                "latent_image",
                "denoise",
            ]
        },
    },
    "LoadImage": {
        "input": {"required": {"image": [["x.png"], {"image_upload": True}]}},
        "input_order": {"required": ["image"]},
    },
    "ImageInvert": {"input": {"required": {"image": ["IMAGE", {}]}}, "input_order": {"required": ["image"]}},
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {}]}},
        "input_order": {"required": ["images", "filename_prefix"]},
    },
}


def node(id, type, inputs=(), outputs=(), widgets=None, mode=0, title=None):
    n = {
        "id": id,
        "type": type,
        "mode": mode,
        "inputs": [dict(i) for i in inputs],
        "outputs": [dict(o) for o in outputs],
        "widgets_values": widgets if widgets is not None else [],
    }
    if title:
        n["title"] = title
    return n


def inp(name, type, link=None, widget=False):
    d = {"name": name, "type": type, "link": link}
    if widget:
        d["widget"] = {"name": name}
    return d


def test_default_graph_with_reroute_primitive_note_and_control_values():
    wf = {
        "version": 0.4,
        "nodes": [
            node(
                4,
                "CheckpointLoaderSimple",
                outputs=[{"name": "MODEL", "type": "MODEL"}, {"name": "CLIP", "type": "CLIP"}],
                widgets=["a.safetensors"],
            ),
            node(
                6,
                "CLIPTextEncode",
                [inp("clip", "CLIP", 3), inp("text", "STRING", 20, widget=True)],
                widgets=["stale text"],
                title="Positive",
            ),
            node(7, "CLIPTextEncode", [inp("clip", "CLIP", 5)], widgets=[["a", "list"]]),
            node(5, "EmptyLatentImage", widgets=[512, 768, 1]),
            node(
                3,
                "KSampler",
                [
                    inp("model", "MODEL", 1),
                    inp("positive", "CONDITIONING", 4),
                    inp("negative", "CONDITIONING", 6),
                    inp("latent_image", "LATENT", 2),
                ],
                widgets=[42, "randomize", 20, 8.0, "euler", "normal", 1.0],
            ),
            node(10, "Reroute", [inp("", "*", 7)], [{"name": "", "type": "CLIP"}]),
            node(
                11,
                "PrimitiveNode",
                outputs=[{"name": "STRING", "type": "STRING"}],
                widgets=["a cat", "fixed"],
            ),
            node(12, "Note", widgets=["just a note"]),
        ],
        "links": [
            [1, 4, 0, 3, 0, "MODEL"],
            [7, 4, 1, 10, 0, "CLIP"],
            [3, 10, 0, 6, 0, "CLIP"],
            [5, 4, 1, 7, 0, "CLIP"],
            [4, 6, 0, 3, 1, "CONDITIONING"],
            [6, 7, 0, 3, 2, "CONDITIONING"],
            [2, 5, 0, 3, 3, "LATENT"],
            [20, 11, 0, 6, 1, "STRING"],
        ],
    }
    p = workflow_to_prompt(wf, INFO)
    assert set(p) == {"4", "6", "7", "5", "3"}
    assert p["3"]["inputs"] == {
        "seed": 42,
        "steps": 20,
        "cfg": 8.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1.0,
        "model": ["4", 0],
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": ["5", 0],
    }
    assert p["6"]["inputs"] == {"text": "a cat", "clip": ["4", 1]}  # reroute followed; primitive wins
    assert p["6"]["_meta"] == {"title": "Positive"} and p["7"]["_meta"] == {"title": "CLIP Text Encode"}
    assert p["7"]["inputs"]["text"] == {"__value__": ["a", "list"]}
    assert p["5"]["inputs"] == {"width": 512, "height": 768, "batch_size": 1}
    assert is_api_prompt(p) and not is_api_prompt(wf)


def test_bypass_passes_through_and_muted_inputs_are_dropped():
    wf = {
        "nodes": [
            node(1, "LoadImage", outputs=[{"name": "IMAGE", "type": "IMAGE"}], widgets=["x.png", "image"]),
            node(2, "ImageInvert", [inp("image", "IMAGE", 1)], [{"name": "IMAGE", "type": "IMAGE"}], mode=4),
            node(3, "SaveImage", [inp("images", "IMAGE", 2)], widgets=["out"]),
            node(4, "ImageInvert", [inp("image", "IMAGE", 3)], [{"name": "IMAGE", "type": "IMAGE"}], mode=2),
            node(5, "SaveImage", [inp("images", "IMAGE", 4)], widgets=["muted_src"]),
        ],
        "links": [
            {"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
            {"id": 2, "origin_id": 2, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "IMAGE"},
            {"id": 3, "origin_id": 1, "origin_slot": 0, "target_id": 4, "target_slot": 0, "type": "IMAGE"},
            {"id": 4, "origin_id": 4, "origin_slot": 0, "target_id": 5, "target_slot": 0, "type": "IMAGE"},
        ],
        "version": 1,
    }
    p = workflow_to_prompt(wf, INFO)
    assert set(p) == {"1", "3", "5"}
    assert p["1"]["inputs"] == {"image": "x.png"}
    assert p["3"]["inputs"] == {"filename_prefix": "out", "images": ["1", 0]}
    assert p["5"]["inputs"] == {"filename_prefix": "muted_src"}  # link to a muted node removed


def test_subgraph_flattening():
    sub = {
        "id": "sub-uuid",
        "name": "invert twice",
        "inputs": [{"id": "i0", "name": "image", "type": "IMAGE", "linkIds": [10]}],
        "outputs": [{"id": "o0", "name": "IMAGE", "type": "IMAGE", "linkIds": [12]}],
        "nodes": [
            node(1, "ImageInvert", [inp("image", "IMAGE", 10)], [{"name": "IMAGE", "type": "IMAGE"}]),
            node(2, "ImageInvert", [inp("image", "IMAGE", 11)], [{"name": "IMAGE", "type": "IMAGE"}]),
        ],
        "links": [
            {"id": 10, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0},
            {"id": 11, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0},
            {"id": 12, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
    }
    wf = {
        "nodes": [
            node(1, "LoadImage", outputs=[{"name": "IMAGE", "type": "IMAGE"}], widgets=["x.png", "image"]),
            node(7, "sub-uuid", [inp("image", "IMAGE", 1)], [{"name": "IMAGE", "type": "IMAGE"}]),
            node(3, "SaveImage", [inp("images", "IMAGE", 2)], widgets=["s"]),
        ],
        "links": [[1, 1, 0, 7, 0, "IMAGE"], [2, 7, 0, 3, 0, "IMAGE"]],
        "definitions": {"subgraphs": [sub]},
    }
    p = workflow_to_prompt(wf, INFO)
    assert set(p) == {"1", "7:1", "7:2", "3"}
    assert p["7:1"]["inputs"] == {"image": ["1", 0]}
    assert p["7:2"]["inputs"] == {"image": ["7:1", 0]}
    assert p["3"]["inputs"]["images"] == ["7:2", 0]


def test_malformed_workflows_raise():
    with pytest.raises(ConversionError):
        workflow_to_prompt({"nodes": "x"}, INFO)
    with pytest.raises(ConversionError):
        workflow_to_prompt({"nodes": [{"id": 1}]}, INFO)
    with pytest.raises(ConversionError):
        workflow_to_prompt({"nodes": [], "links": [[1, 2]]}, INFO)
