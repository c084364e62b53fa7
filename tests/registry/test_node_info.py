"""`/object_info` records: V1 shape (contract section 6 example) and V3 shape, keys in ComfyUI's order."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from comfy_core.registry import NodeRegistry
from comfy_core.registry.v3 import io


class ExampleBlur:
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("blurred image", "blur mask")
    FUNCTION = "blur"
    CATEGORY = "image/filters"
    DESCRIPTION = "Blurs an image."

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "radius": ("INT", {"default": 3, "min": 1, "max": 64, "step": 1}),
                "mode": (["gaussian", "box"], {"default": "gaussian"}),
            },
            "optional": {"mask": ("MASK",)},
            "hidden": {"node_id": "UNIQUE_ID"},
        }


CONTRACT_EXAMPLE = (
    '{"input": {"required": {"image": ["IMAGE"], "radius": ["INT", {"default": 3, "min": 1, "max": 64, "step": 1}], '
    '"mode": [["gaussian", "box"], {"default": "gaussian"}]}, "optional": {"mask": ["MASK"]}, '
    '"hidden": {"node_id": "UNIQUE_ID"}}, "input_order": {"required": ["image", "radius", "mode"], '
    '"optional": ["mask"], "hidden": ["node_id"]}, "output": ["IMAGE", "MASK"], "output_is_list": [false, false], '
    '"output_name": ["image", "mask"], "name": "ExampleBlur", "display_name": "Example Blur", '
    '"description": "Blurs an image.", "python_module": "custom_nodes.example_pack", "category": "image/filters", '
    '"output_node": false, "output_tooltips": ["blurred image", "blur mask"]}'
)


def test_v1_record_matches_contract_example() -> None:
    reg = NodeRegistry()
    reg.register(
        "ExampleBlur", ExampleBlur, display_name="Example Blur", python_module="custom_nodes.example_pack"
    )
    assert json.dumps(reg.node_info("ExampleBlur")) == CONTRACT_EXAMPLE


class Minimal:
    RETURN_TYPES = ("INT", "STRING")
    FUNCTION = "run"
    OUTPUT_NODE = True
    DEPRECATED = True
    EXPERIMENTAL = False
    API_NODE = False

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}


def test_v1_defaults_and_optional_keys() -> None:
    reg = NodeRegistry()
    reg.register("Minimal", Minimal)
    info = reg.node_info("Minimal")
    assert list(info) == [
        "input",
        "input_order",
        "output",
        "output_is_list",
        "output_name",
        "name",
        "display_name",
        "description",
        "python_module",
        "category",
        "output_node",
        "deprecated",
        "api_node",
    ]
    assert info["output_is_list"] == [False, False]
    assert info["output_name"] == ("INT", "STRING")
    assert (info["display_name"], info["description"], info["category"]) == ("Minimal", "", "sd")
    assert (info["python_module"], info["output_node"], info["deprecated"], info["api_node"]) == (
        "nodes",
        True,
        True,
        False,
    )


class V3Example(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        template = io.MatchType.Template("t", allowed_types=[io.Image, io.Mask])
        return io.Schema(
            node_id="V3Example",
            category="example",
            description="prose",
            inputs=[
                io.Image.Input("image", tooltip="the image"),
                io.Float.Input("amount", default=0.5, min=0.0, max=1.0, step=0.01, round=0.001),
                io.String.Input("label", default="x"),
                io.Combo.Input("mode", options=["a", "b"], default="b"),
                io.Boolean.Input("flag", optional=True, label_on="on"),
                io.MatchType.Input("any", template=template, lazy=True),
                io.MultiType.Input("either", types=[io.Image, io.Mask], optional=True),
            ],
            outputs=[io.Image.Output(tooltip="out"), io.MatchType.Output(template, display_name="same")],
            is_output_node=True,
            is_experimental=True,
        )

    @classmethod
    def execute(cls, **kwargs):
        return io.NodeOutput()


V3_EXPECTED = {
    "input": {
        "required": {
            "image": ["IMAGE", {"tooltip": "the image"}],
            "amount": ["FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "round": 0.001}],
            "label": ["STRING", {"default": "x", "multiline": False}],
            "mode": ["COMBO", {"default": "b", "multiselect": False, "options": ["a", "b"]}],
            "any": [
                "COMFY_MATCHTYPE_V3",
                {"lazy": True, "template": {"template_id": "t", "allowed_types": "IMAGE,MASK"}},
            ],
        },
        "optional": {"flag": ["BOOLEAN", {"label_on": "on"}], "either": ["IMAGE,MASK", {}]},
        "hidden": {"prompt": ["PROMPT"], "extra_pnginfo": ["EXTRA_PNGINFO"]},
    },
    "input_order": {
        "required": ["image", "amount", "label", "mode", "any"],
        "optional": ["flag", "either"],
        "hidden": ["prompt", "extra_pnginfo"],
    },
    "output": ["IMAGE", "COMFY_MATCHTYPE_V3"],
    "output_is_list": [False, False],
    "output_name": ["IMAGE", "same"],
    "output_tooltips": ["out", None],
    "output_matchtypes": [None, "t"],
    "name": "V3Example",
    "display_name": None,
    "description": "prose",
    "python_module": "custom_nodes.pack",
    "category": "example",
    "output_node": True,
    "deprecated": False,
    "experimental": True,
    "api_node": False,
}


def test_v3_record_has_every_key_in_order() -> None:
    reg = NodeRegistry()
    reg.register("V3Example", V3Example, python_module="custom_nodes.pack")
    info = json.loads(json.dumps(reg.node_info("V3Example")))
    assert json.dumps(info) == json.dumps(V3_EXPECTED)


def test_v3_outputs_get_default_ids_and_schema_validation() -> None:
    class Dup(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="Dup", inputs=[io.Int.Input("a"), io.Int.Input("a")])

        @classmethod
        def execute(cls, a):
            return io.NodeOutput(a)

    with pytest.raises(ValueError, match="Input ids must be unique"):
        Dup.GET_SCHEMA()
    schema = V3Example.GET_SCHEMA()
    assert [o.id for o in schema.outputs] == ["_0_IMAGE_", "_1_COMFY_MATCHTYPE_V3_"]
    v3_info = V3Example.GET_NODE_INFO_V3()
    assert list(v3_info["input"]) == ["image", "amount", "label", "mode", "flag", "any", "either"]
    assert v3_info["hidden"] == ["PROMPT", "EXTRA_PNGINFO"]


def test_api_node_gets_auth_hidden_inputs() -> None:
    class Api(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="Api", is_api_node=True)

        @classmethod
        def execute(cls):
            return io.NodeOutput()

    hidden = Api.INPUT_TYPES()["hidden"]
    assert hidden == {
        "auth_token_comfy_org": ("AUTH_TOKEN_COMFY_ORG",),
        "api_key_comfy_org": ("API_KEY_COMFY_ORG",),
    }


class Broken:
    RETURN_TYPES = ()
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        raise RuntimeError("boom")


def test_object_info_skips_and_logs_failing_nodes(caplog: pytest.LogCaptureFixture) -> None:
    reg = NodeRegistry()
    reg.register("Broken", Broken)
    reg.register("Minimal", Minimal)
    with caplog.at_level(logging.ERROR):
        info = reg.object_info()
    assert list(info) == ["Minimal"]
    assert "Broken" in caplog.text and "boom" in caplog.text


def test_registry_modules_do_not_need_torch() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import comfy_core.registry, comfy_core.registry.discovery, comfy_core.registry.node_info\n"
        "from comfy_core.registry.v3 import io, ui, ComfyAPI, ComfyAPISync, ComfyExtension\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
