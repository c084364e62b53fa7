"""Behaviour of the compat modules over a running instance: folder_paths, server, comfy.utils,
comfy.model_management, comfy.cli_args, comfy.comfy_types, comfy_execution."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from comfy_core.compat import install_aliases
from comfy_core.events import BinaryEvent
from comfy_core.progress import (
    ExecutingContext,
    InterruptFlag,
    InterruptProcessingException,
    reset_executing_context,
    set_executing_context,
)

install_aliases()

import comfy.cli_args  # noqa: E402
import comfy.model_management as mm  # noqa: E402
import comfy.utils  # noqa: E402
import folder_paths  # noqa: E402
from comfy.comfy_types import IO  # noqa: E402
from comfy_execution.graph_utils import GraphBuilder, is_link  # noqa: E402
from server import BinaryEventTypes, PromptServer  # noqa: E402


def test_folder_paths_delegates_to_the_instance(services) -> None:
    paths = services.paths
    assert folder_paths.models_dir == paths.models_dir
    assert folder_paths.base_path == paths.base_path
    assert folder_paths.get_folder_paths("checkpoints") == paths.get_folder_paths("checkpoints")
    assert folder_paths.get_output_directory() == paths.get_output_directory()
    assert ".safetensors" in folder_paths.supported_pt_extensions
    ckpt_dir = Path(folder_paths.get_folder_paths("checkpoints")[0])
    ckpt_dir.mkdir(parents=True)
    (ckpt_dir / "a.safetensors").write_bytes(b"")
    (ckpt_dir / "notes.txt").write_text("x")
    assert folder_paths.get_filename_list("checkpoints") == ["a.safetensors"]
    assert folder_paths.get_full_path("checkpoints", "a.safetensors") == str(ckpt_dir / "a.safetensors")
    extra = Path(paths.base_path) / "extra_models"
    folder_paths.folder_names_and_paths["my_models"] = ([str(extra)], {".bin"})
    assert paths.get_folder_paths("my_models") == [str(extra)]
    assert folder_paths.get_annotated_filepath("x.png [output]") == str(
        Path(paths.get_output_directory()) / "x.png"
    )


def test_prompt_server_routes_exist_before_the_app(services) -> None:
    assert services.server is None
    routes = PromptServer.instance.routes
    assert isinstance(routes, web.RouteTableDef)
    assert services.server is not None and services.server.routes is routes

    @PromptServer.instance.routes.get("/pack/ping")
    async def ping(request):
        return web.json_response({})

    assert ("GET", "/pack/ping") in {(r.method, r.path) for r in services.server.routes}
    assert "custom_nodes_from_web" in PromptServer.instance.supports
    assert PromptServer.instance.client_id is None
    PromptServer.instance.add_on_prompt_handler(lambda p: p)
    assert len(services.server.on_prompt_handlers) == 1


def test_prompt_server_sends_through_the_sink(services) -> None:
    PromptServer.instance.send_sync("my.event", {"a": 1}, "sid1")
    PromptServer.instance.send_progress_text("hello", "7")
    assert services.sink.events == [("my.event", {"a": 1}, "sid1"), (BinaryEvent.TEXT, ("7", "hello"), None)]
    assert BinaryEventTypes.PREVIEW_IMAGE == 1


class _Hook:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, value, total, preview, node_id, prompt_id) -> None:
        self.calls.append((value, total, node_id, prompt_id))


def test_progress_bar_reports_and_interrupts() -> None:
    hook, flag = _Hook(), InterruptFlag()
    token = set_executing_context(ExecutingContext("p", "5", None, hook=hook, interrupt=flag))
    try:
        bar = comfy.utils.ProgressBar(4)
        bar.update(1)
        bar.update_absolute(9)
        bar.update_absolute(2, total=3)
        assert not mm.processing_interrupted()
        mm.interrupt_current_processing()
        assert mm.processing_interrupted()
        with pytest.raises(InterruptProcessingException):
            mm.throw_exception_if_processing_interrupted()
        mm.interrupt_current_processing()
        with pytest.raises(InterruptProcessingException):
            bar.update(1)
    finally:
        reset_executing_context(token)
    assert hook.calls == [(1, 4, "5", "p"), (4, 4, "5", "p"), (2, 3, "5", "p")]


def test_load_torch_file_reads_safetensors_and_pickles(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    sd = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    save_file(sd, str(tmp_path / "m.safetensors"), metadata={"k": "v"})
    loaded, meta = comfy.utils.load_torch_file(str(tmp_path / "m.safetensors"), return_metadata=True)
    assert torch.equal(loaded["w"], sd["w"]) and meta == {"k": "v"}
    torch.save({"state_dict": sd, "global_step": 3}, tmp_path / "m.ckpt")
    assert torch.equal(comfy.utils.load_torch_file(str(tmp_path / "m.ckpt"), safe_load=True)["w"], sd["w"])


def test_common_upscale_methods_and_center_crop() -> None:
    torch = pytest.importorskip("torch")
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    up = comfy.utils.common_upscale(x[:, :, :2, :2], 4, 4, "nearest-exact", "disabled")
    assert up[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [4, 4, 5, 5], [4, 4, 5, 5]]
    cropped = comfy.utils.common_upscale(x, 2, 4, "nearest-exact", "center")  # keeps the middle 2 columns
    assert cropped[0, 0].tolist() == [[1, 2], [5, 6], [9, 10], [13, 14]]
    for method in ("bilinear", "area", "bicubic", "bislerp", "lanczos"):
        assert comfy.utils.common_upscale(x.repeat(1, 3, 1, 1), 6, 5, method, "disabled").shape == (
            1,
            3,
            5,
            6,
        )


def test_model_management_devices_follow_config(services) -> None:
    torch = pytest.importorskip("torch")
    services.config.cpu = True
    assert mm.get_torch_device() == torch.device("cpu")
    assert mm.intermediate_device() == torch.device("cpu")
    assert mm.get_free_memory(torch.device("cpu")) > 0
    assert mm.total_ram > 0


def test_cli_args_is_the_running_config(services) -> None:
    services.config.preview_size = 256
    assert comfy.cli_args.args is services.config
    assert comfy.cli_args.args.preview_size == 256
    assert comfy.cli_args.LatentPreviewMethod.from_string("taesd").value == "taesd"
    assert comfy.cli_args.LatentPreviewMethod.from_string("TAESD") is None


def test_io_type_matching_with_ne() -> None:
    assert not (IO.ANY != "IMAGE") and not ("IMAGE" != IO.ANY)  # noqa: SIM202
    assert not (IO.NUMBER != "INT") and not (IO.NUMBER != "FLOAT,INT")  # noqa: SIM202
    assert IO.IMAGE != "MASK" and IO.IMAGE != 3
    assert str(IO.IMAGE) == "IMAGE" and IO.IMAGE == "IMAGE"


def test_graph_builder_from_comfy_execution() -> None:
    graph = GraphBuilder(prefix="t.")
    a = graph.node("ExampleNumber", value=1)
    b = graph.node("ExampleShow", number=a.out(0))
    assert is_link(a.out(0)) and not is_link(["x", "y"])
    assert graph.finalize() == {
        "t.1": {"class_type": "ExampleNumber", "inputs": {"value": 1}},
        "t.2": {"class_type": "ExampleShow", "inputs": {"number": ["t.1", 0]}},
    }
    assert b.id == "t.2"


def test_node_helpers() -> None:
    import node_helpers

    cond = [["t", {"strength": 1.0}]]
    out = node_helpers.conditioning_set_values(cond, {"strength": 0.5, "area": (1, 2)}, append=True)
    assert out == [["t", {"strength": 1.5, "area": (1, 2)}]] and cond == [["t", {"strength": 1.0}]]
    assert node_helpers.hasher()().name == "sha256"
    calls = []

    def flaky(arg):
        calls.append(arg)
        if len(calls) == 1:
            raise OSError("truncated")
        return arg * 2

    assert node_helpers.pillow(flaky, 21) == 42 and calls == [21, 21]
