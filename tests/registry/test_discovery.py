"""Custom-node discovery: good, failing, disabled and whitelisted packs, built-in protection, overrides,
web directories, comfy_entrypoint extensions, prestartup scripts, and the example pack fixture."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from comfy_core.compat import install_aliases
from comfy_core.registry import NodeRegistry
from comfy_core.registry.discovery import candidate_packs, load_builtin_nodes, load_custom_nodes

FIXTURE_PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "custom_nodes"

V1_NODE = """
class {cls}:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test"
    TAG = {tag!r}

    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{}}}}

    def run(self):
        return (1,)
"""


def write_pack(root: Path, name: str, body: str, files: dict[str, str] | None = None) -> Path:
    pack = root / name
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text(textwrap.dedent(body))
    for rel, text in (files or {}).items():
        target = pack / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return pack


def v1_pack(root: Path, name: str, node: str, tag: str, display: str | None = None) -> Path:
    body = V1_NODE.format(cls="Node", tag=tag) + f"\nNODE_CLASS_MAPPINGS = {{{node!r}: Node}}\n"
    if display:
        body += f"NODE_DISPLAY_NAME_MAPPINGS = {{{node!r}: {display!r}}}\n"
    return write_pack(root, name, body)


class Builtin:
    RETURN_TYPES = ()
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "custom_nodes"


def test_good_failing_and_skipped_packs(root: Path, services) -> None:
    v1_pack(root, "good_pack", "GoodNode", "good", display="Good Node")
    write_pack(root, "bad_pack", "import does_not_exist_anywhere\n")
    write_pack(root, "empty_pack", "X = 1\n")
    v1_pack(root, "off_pack.disabled", "OffNode", "off")
    (root / "__pycache__").mkdir()
    (root / "notes.txt").write_text("not a pack")
    (root / "single.py").write_text(
        V1_NODE.format(cls="Single", tag="file") + "NODE_CLASS_MAPPINGS = {'Single': Single}\n"
    )

    reg = NodeRegistry()
    report = load_custom_nodes(reg, [str(root)])

    assert sorted(p.name for p in report.loaded) == ["good_pack", "single"]
    assert reg.get("GoodNode").TAG == "good" and reg.display_names["GoodNode"] == "Good Node"
    assert reg.node_info("GoodNode")["python_module"] == "custom_nodes.good_pack"
    assert reg.node_info("Single")["python_module"] == "custom_nodes.single"
    assert "OffNode" not in reg
    failed = {Path(p).name: tb for p, tb in reg.failed_imports.items()}
    assert sorted(failed) == ["bad_pack", "empty_pack"]
    assert "Traceback" in failed["bad_pack"] and "does_not_exist_anywhere" in failed["bad_pack"]
    assert "NODE_CLASS_MAPPINGS" in failed["empty_pack"]
    assert "custom_nodes.bad_pack" not in sys.modules
    assert sys.modules["custom_nodes.good_pack"].NODE_CLASS_MAPPINGS["GoodNode"] is reg.get("GoodNode")


def test_import_failure_is_logged(root: Path, services, caplog: pytest.LogCaptureFixture) -> None:
    write_pack(root, "bad_pack", "raise RuntimeError('pack exploded')\n")
    load_custom_nodes(NodeRegistry(), [str(root)])
    assert "IMPORT FAILED" in caplog.text and "pack exploded" in caplog.text


def test_disable_all_with_whitelist(root: Path, services) -> None:
    v1_pack(root, "a_pack", "ANode", "a")
    v1_pack(root, "b_pack", "BNode", "b")
    reg = NodeRegistry()
    report = load_custom_nodes(reg, [str(root)], disable_all=True, whitelist=["b_pack"])
    assert reg.names() == ["BNode"]
    assert [Path(p).name for p in report.skipped] == ["a_pack"]
    chosen, skipped = candidate_packs([str(root)], disable_all=True)
    assert chosen == [] and len(skipped) == 2


def test_builtins_cannot_be_overridden_and_later_packs_win(root: Path, services) -> None:
    v1_pack(root, "a_pack", "Shared", "first", display="First")
    v1_pack(root, "b_pack", "Shared", "second", display="Second")
    v1_pack(root, "c_pack", "SaveImage", "impostor", display="Impostor")
    reg = NodeRegistry()
    reg.register("SaveImage", Builtin, display_name="Save Image")
    report = load_custom_nodes(reg, [str(root)])
    assert reg.get("SaveImage") is Builtin and reg.display_names["SaveImage"] == "Save Image"
    assert reg.get("Shared").TAG == "second" and reg.display_names["Shared"] == "Second"
    assert {p.name: p.nodes for p in report.packs}["c_pack"] == []


def test_entrypoint_extension_registers_v3_nodes(root: Path, services) -> None:
    install_aliases()
    write_pack(
        root,
        "v3_pack",
        """
        from comfy_api.latest import ComfyExtension, io

        class Doubler(io.ComfyNode):
            @classmethod
            def define_schema(cls):
                return io.Schema(node_id="Doubler", display_name="Doubler!", inputs=[io.Int.Input("x")],
                                 outputs=[io.Int.Output()])

            @classmethod
            def execute(cls, x):
                return io.NodeOutput(2 * x)

        class Ext(ComfyExtension):
            loaded = False

            async def on_load(self):
                Ext.loaded = True

            async def get_node_list(self):
                return [Doubler]

        async def comfy_entrypoint():
            return Ext()
        """,
    )
    reg = NodeRegistry()
    load_custom_nodes(reg, [str(root)])
    cls = reg.get("Doubler")
    assert cls is not None and sys.modules["custom_nodes.v3_pack"].Ext.loaded
    assert reg.display_names["Doubler"] == "Doubler!"
    info = reg.node_info("Doubler")
    assert (info["python_module"], info["display_name"], info["api_node"]) == (
        "custom_nodes.v3_pack",
        "Doubler!",
        False,
    )
    assert cls.EXECUTE_NORMALIZED(x=4) == (8,)


def test_web_directories_and_pack_folders(root: Path, services) -> None:
    write_pack(
        root,
        "web_pack",
        V1_NODE.format(cls="Node", tag="w")
        + "NODE_CLASS_MAPPINGS = {'WebNode': Node}\nWEB_DIRECTORY = './js'\n",
        files={
            "js/a.js": "// js",
            "locales/en/main.json": "{}",
            "examples/one.json": "{}",
            "subgraphs/sg.json": "{}",
        },
    )
    write_pack(
        root,
        "project_pack",
        V1_NODE.format(cls="Node", tag="p") + "NODE_CLASS_MAPPINGS = {'ProjectNode': Node}\n",
        files={
            "pyproject.toml": '[project]\nname = "comfy-project"\n[tool.comfy]\nweb = "ui"\n',
            "ui/b.js": "//",
        },
    )
    write_pack(
        root,
        "no_web_pack",
        V1_NODE.format(cls="Node", tag="n")
        + "NODE_CLASS_MAPPINGS = {'N': Node}\nWEB_DIRECTORY = './missing'\n",
    )
    reg = NodeRegistry()
    load_custom_nodes(reg, [str(root)])
    assert reg.web_directories == {
        "web_pack": str((root / "web_pack" / "js").resolve()),
        "comfy-project": str((root / "project_pack" / "ui").resolve()),
    }
    assert reg.locales_directories == {"web_pack": str((root / "web_pack" / "locales").resolve())}
    assert reg.example_workflow_directories == {"web_pack": str((root / "web_pack" / "examples").resolve())}
    assert reg.subgraph_directories == {"web_pack": str((root / "web_pack" / "subgraphs").resolve())}
    assert set(reg.pack_directories) == {"web_pack", "project_pack", "no_web_pack"}


def test_prestartup_scripts_run_first(root: Path, services, tmp_path: Path) -> None:
    marker = tmp_path / "order.txt"
    write_pack(
        root,
        "early_pack",
        f"open({str(marker)!r}, 'a').write('import\\n')\nNODE_CLASS_MAPPINGS = {{}}\n",
        files={"prestartup_script.py": f"open({str(marker)!r}, 'a').write('prestartup\\n')\n"},
    )
    write_pack(
        root,
        "broken_start",
        "NODE_CLASS_MAPPINGS = {}\n",
        files={"prestartup_script.py": "raise SystemError('x')\n"},
    )
    report = load_custom_nodes(NodeRegistry(), [str(root)])
    assert marker.read_text().splitlines() == ["prestartup", "import"]
    assert {Path(p).parent.name: ok for p, ok in report.prestartup.items()} == {
        "broken_start": False,
        "early_pack": True,
    }
    marker.unlink()
    load_custom_nodes(NodeRegistry(), [str(root)], run_prestartup=False)
    assert marker.read_text().splitlines() == ["import"]


def test_example_pack_loads_through_compat_names(tmp_path: Path, services) -> None:
    install_aliases()
    root = tmp_path / "custom_nodes"
    shutil.copytree(FIXTURE_PACKS / "example_pack", root / "example_pack")
    reg = NodeRegistry()
    report = load_custom_nodes(reg, [str(root)])
    assert reg.failed_imports == {}, reg.failed_imports
    assert sorted(report.loaded[0].nodes) == sorted(
        [
            "ExampleNumber",
            "ExampleCheckpointList",
            "ExampleGate",
            "ExampleDoubleExpand",
            "ExampleShow",
            "ExampleScale",
            "ExampleSum",
            "ExampleLabel",
        ]
    )
    assert reg.web_directories["example_pack"] == str((root / "example_pack" / "js").resolve())
    assert (Path(reg.web_directories["example_pack"]) / "example.js").is_file()
    info = reg.object_info()
    assert info["ExampleNumber"]["display_name"] == "Example Number"
    assert (
        info["ExampleScale"]["display_name"] == "Example Scale" and info["ExampleSum"]["display_name"] is None
    )
    assert info["ExampleSum"]["input"]["required"]["numbers"][0] == "COMFY_AUTOGROW_V3"
    assert {i["python_module"] for i in info.values()} == {"custom_nodes.example_pack"}
    routes = {(r.method, r.path) for r in services.server.routes}
    assert ("GET", "/example_pack/hello") in routes


def test_load_builtin_nodes_registers_the_nodes_package(services) -> None:
    import nodes

    reg = NodeRegistry()
    names = load_builtin_nodes(reg)
    assert names == list(nodes.NODE_CLASS_MAPPINGS)
    for name in names:
        assert reg.get(name) is nodes.NODE_CLASS_MAPPINGS[name]
        assert getattr(nodes, name) is reg.get(name)
    assert nodes.MAX_RESOLUTION == 16384
