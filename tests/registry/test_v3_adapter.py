"""V3 nodes seen through their V1 face: attributes, hidden-value clones, output normalisation, dynamic inputs."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from comfy_core.graph.links import ExecutionBlocker
from comfy_core.progress import ExecutingContext, reset_executing_context, set_executing_context
from comfy_core.registry.inputs import hidden_kinds, input_types, is_v3
from comfy_core.registry.v3 import ComfyAPI, ComfyAPISync, io, ui


class Scale(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Scale",
            category="math",
            inputs=[io.Int.Input("value"), io.Int.Input("factor", default=2)],
            outputs=[io.Int.Output(display_name="scaled"), io.String.Output(is_output_list=True)],
            hidden=[io.Hidden.unique_id, io.Hidden.prompt],
            not_idempotent=True,
        )

    @classmethod
    def execute(cls, value, factor):
        return io.NodeOutput(value * factor, [f"{cls.hidden.unique_id}:{value}"])


class Checked(Scale):
    @classmethod
    def validate_inputs(cls, value, factor):
        return True if factor != 0 else "factor must not be 0"

    @classmethod
    def fingerprint_inputs(cls, value, factor):
        return value * 1000 + factor

    @classmethod
    async def check_lazy_status(cls, value, factor):
        return [] if value is not None else ["value"]


def test_v1_attributes_from_schema() -> None:
    assert is_v3(Scale)
    assert Scale.FUNCTION == "EXECUTE_NORMALIZED"
    assert Scale.RETURN_TYPES == ["INT", "STRING"]
    assert Scale.RETURN_NAMES == ["scaled", "STRING"]
    assert Scale.OUTPUT_IS_LIST == [False, True]
    assert (Scale.INPUT_IS_LIST, Scale.OUTPUT_NODE, Scale.NOT_IDEMPOTENT, Scale.CATEGORY) == (
        False,
        False,
        True,
        "math",
    )
    assert hidden_kinds(Scale) == {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"}
    for name in ("VALIDATE_INPUTS", "IS_CHANGED", "check_lazy_status"):
        assert not hasattr(Scale, name), name
        assert hasattr(Checked, name), name


def test_overrides_are_exposed_under_v1_names_with_their_signature() -> None:
    assert Checked.VALIDATE_INPUTS(value=1, factor=0) == "factor must not be 0"
    assert Checked.IS_CHANGED(value=3, factor=2) == 3002
    assert inspect.getfullargspec(Checked.VALIDATE_INPUTS).args == ["cls", "value", "factor"]
    assert inspect.iscoroutinefunction(Checked.check_lazy_status)
    assert asyncio.run(Checked.check_lazy_status(value=None, factor=2)) == ["value"]


def test_class_clone_carries_hidden_values() -> None:
    clone = Scale.PREPARE_CLASS_CLONE({"unique_id": "7", "prompt": {"7": {}}})
    assert issubclass(clone, Scale) and clone is not Scale
    assert clone.hidden.unique_id == "7" and clone.hidden.prompt == {"7": {}}
    assert clone.hidden.dynprompt is None and Scale.hidden.unique_id is None
    assert getattr(clone, clone.FUNCTION)(value=3, factor=2) == (6, ["7:3"])
    by_kind = Scale.PREPARE_CLASS_CLONE({"hidden_inputs": {"UNIQUE_ID": "9"}})
    assert by_kind.hidden.unique_id == "9"
    assert by_kind.RETURN_TYPES == ["INT", "STRING"]


def test_hidden_values_passed_as_keywords_reach_cls_hidden() -> None:
    assert Scale.EXECUTE_NORMALIZED(value=2, factor=5, unique_id="3", prompt={}) == (10, ["3:2"])


class Returns(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Returns", inputs=[io.String.Input("kind")], outputs=[io.Int.Output(), io.Int.Output()]
        )

    @classmethod
    def execute(cls, kind):
        return {
            "tuple": (1, 2),
            "none": None,
            "dict": {"result": (3, 4), "ui": {"text": ["x"]}},
            "blocker": ExecutionBlocker("stop"),
            "block": io.NodeOutput(block_execution="halt"),
            "ui": io.NodeOutput(5, 6, ui=ui.PreviewText("hi")),
            "expand": io.NodeOutput(1, 2, expand={"a": {"class_type": "X", "inputs": {}}}),
        }[kind]


def test_returns_normalised_to_v1_forms() -> None:
    run = Returns.EXECUTE_NORMALIZED
    assert run(kind="tuple") == (1, 2)
    assert run(kind="none") == ()
    assert run(kind="dict") == {"ui": {"text": ["x"]}, "result": (3, 4)}
    assert run(kind="ui") == {"ui": {"text": ("hi",)}, "result": (5, 6)}
    blocked = run(kind="blocker")
    assert len(blocked) == 2 and all(isinstance(b, ExecutionBlocker) and b.message == "stop" for b in blocked)
    assert [b.message for b in run(kind="block")] == ["halt", "halt"]
    with pytest.raises(RuntimeError, match="enable_expand"):
        run(kind="expand")


def test_expansion_allowed_with_enable_expand() -> None:
    class Expander(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="Expander", outputs=[io.Int.Output()], enable_expand=True)

        @classmethod
        def execute(cls):
            return io.NodeOutput(["n1", 0], expand={"n1": {"class_type": "X", "inputs": {}}})

    assert Expander.EXECUTE_NORMALIZED() == {
        "result": (["n1", 0],),
        "expand": {"n1": {"class_type": "X", "inputs": {}}},
    }


class Batch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        template = io.Autogrow.TemplatePrefix(io.Image.Input("image"), prefix="image", min=2, max=4)
        return io.Schema(
            node_id="Batch",
            inputs=[
                io.Autogrow.Input("images", template=template),
                io.DynamicCombo.Input(
                    "mode",
                    options=[
                        io.DynamicCombo.Option("plain", []),
                        io.DynamicCombo.Option("scaled", [io.Float.Input("by", default=1.0)]),
                    ],
                ),
            ],
            outputs=[io.Int.Output()],
        )

    @classmethod
    async def execute(cls, images, mode):
        return io.NodeOutput((sorted(images.items()), mode))


PROMPT_INPUTS = {
    "images.image0": ["1", 0],
    "images.image1": ["2", 0],
    "images.image3": ["3", 0],
    "mode": "scaled",
    "mode.by": 2.5,
}


def test_dynamic_inputs_expand_to_prompt_names() -> None:
    types = input_types(Batch, PROMPT_INPUTS)
    assert list(types["required"]) == ["images.image0", "images.image1", "mode.by", "mode"]
    assert list(types["optional"]) == ["images.image3"]
    assert types["required"]["mode.by"] == ("FLOAT", {"default": 1.0})
    template = Batch.INPUT_TYPES()["required"]["images"]
    assert template[0] == "COMFY_AUTOGROW_V3" and template[1]["template"]["min"] == 2
    plain = input_types(Batch, {"images.image0": ["1", 0], "mode": "plain"})
    assert list(plain["required"]) == ["images.image0", "mode"] and plain["optional"] == {}


def test_dynamic_inputs_arrive_nested() -> None:
    assert Batch.FUNCTION == "EXECUTE_NORMALIZED_ASYNC"
    values = {
        "images.image0": "a",
        "images.image1": "b",
        "images.image3": "d",
        "mode": "scaled",
        "mode.by": 2.5,
    }
    result = asyncio.run(Batch.PREPARE_CLASS_CLONE({}).EXECUTE_NORMALIZED_ASYNC(**values))
    assert result == ((([("image0", "a"), ("image1", "b"), ("image3", "d")], {"by": 2.5, "mode": "scaled"})),)


class _Hook:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, value, total, preview, node_id, prompt_id) -> None:
        self.calls.append((value, total, preview, node_id, prompt_id))


def test_api_set_progress_reports_to_the_executing_node() -> None:
    hook = _Hook()
    token = set_executing_context(ExecutingContext("p1", "12", None, hook=hook))
    try:
        ComfyAPISync().execution.set_progress(1, 4)
        asyncio.run(ComfyAPI().execution.set_progress(value=2, max_value=4, node_id="99"))
    finally:
        reset_executing_context(token)
    assert hook.calls == [(1, 4, None, "12", "p1"), (2, 4, None, "99", "p1")]
    with pytest.raises(ValueError):
        ComfyAPISync().execution.set_progress(1, 2)


def test_ui_preview_image_writes_a_temp_png(services) -> None:
    torch = pytest.importorskip("torch")
    from PIL import Image

    image = torch.zeros((2, 3, 4, 3))
    image[1, :, :, 0] = 1.0
    preview = ui.PreviewImage(image).as_dict()
    assert preview["animated"] == (False,)
    assert [r["type"] for r in preview["images"]] == ["temp", "temp"]
    second = Path(services.paths.get_temp_directory()) / preview["images"][1]["filename"]
    with Image.open(second) as img:
        assert img.size == (4, 3) and img.getpixel((0, 0)) == (255, 0, 0)


def test_saved_images_carry_workflow_metadata(services) -> None:
    torch = pytest.importorskip("torch")
    from PIL import Image

    clone = Scale.PREPARE_CLASS_CLONE(
        {"prompt": {"1": {"class_type": "Scale"}}, "extra_pnginfo": {"workflow": {"v": 1}}}
    )
    saved = ui.ImageSaveHelper.get_save_images_ui(torch.full((1, 2, 2, 3), 0.5), "run/img", clone).as_dict()
    assert saved == {"images": [{"filename": "img_00001_.png", "subfolder": "run", "type": "output"}]}
    with Image.open(Path(services.paths.get_output_directory()) / "run" / "img_00001_.png") as img:
        assert img.text["prompt"] == '{"1": {"class_type": "Scale"}}' and img.text["workflow"] == '{"v": 1}'
    services.config.disable_metadata = True
    ui.ImageSaveHelper.get_save_images_ui(torch.zeros((1, 2, 2, 3)), "run/img", clone)
    with Image.open(Path(services.paths.get_output_directory()) / "run" / "img_00002_.png") as img:
        assert "prompt" not in img.text
    mask_preview = ui.PreviewMask(torch.ones((2, 2))).as_dict()
    assert len(mask_preview["images"]) == 1 and mask_preview["images"][0]["type"] == "temp"


def test_audio_saves_as_wav_without_optional_codecs(services) -> None:
    torch = pytest.importorskip("torch")
    import wave

    audio = {"waveform": torch.tensor([[[0.0, 0.5, -0.5, 1.0]]]), "sample_rate": 8000}
    saved = ui.AudioSaveHelper.get_save_audio_ui(audio, "snd", None, format="wav").as_dict()
    assert saved == {"audio": [{"filename": "snd_00001_.wav", "subfolder": "", "type": "output"}]}
    with wave.open(str(Path(services.paths.get_output_directory()) / "snd_00001_.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 4)
        frames = w.readframes(4)
    assert list(memoryview(frames).cast("h")) == [0, 16383, -16383, 32767]
