"""Our image/mask nodes declare exactly what stock ComfyUI v0.8.0 reports in /object_info."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import nodes.animation as animation
import nodes.image as image
import nodes.image_io as image_io
import nodes.mask as mask
from comfy_core import runtime
from comfy_core.paths import Paths

_NAME = "comfy-object-info-core.json"
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared" / "docs" / _NAME,
    Path(__file__).resolve().parents[2] / "tests" / "fixtures" / _NAME,
    Path("/work/shared/docs") / _NAME,
)
REFERENCE = next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[-1])
MODULES = (image_io, image, mask, animation)
# combos whose options are the files on disk, not fixed lists
FILE_COMBOS = {("LoadImage", "image"), ("LoadImageMask", "image")}

ALL = {name: (cls, mod) for mod in MODULES for name, cls in mod.NODE_CLASS_MAPPINGS.items()}


def test_image_domain_carries_file_and_animation_nodes() -> None:
    # nodes/__init__ aggregates the `image` and `mask` domains; the split-out modules ride along
    for mod in (image_io, animation):
        for name, cls in mod.NODE_CLASS_MAPPINGS.items():
            assert image.NODE_CLASS_MAPPINGS[name] is cls
        for name, title in mod.NODE_DISPLAY_NAME_MAPPINGS.items():
            assert image.NODE_DISPLAY_NAME_MAPPINGS[name] == title


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.exists():
        pytest.skip("reference object_info not available")
    return json.loads(REFERENCE.read_text())


@pytest.fixture(autouse=True)
def services(tmp_path):
    runtime.install(runtime.Services(paths=Paths(tmp_path), config=SimpleNamespace(disable_metadata=False)))
    yield
    runtime.uninstall()


def as_json(value):
    return json.loads(json.dumps(value))


def test_required_nodes_present() -> None:
    required = {
        "SaveImage", "PreviewImage", "LoadImage", "LoadImageMask", "LoadImageOutput", "ImageScale",
        "ImageScaleBy", "ImageInvert", "ImageBatch", "ImageCrop", "ImagePadForOutpaint", "RebatchImages",
        "EmptyImage", "ImageBlend", "ImageCompositeMasked", "SolidMask", "InvertMask", "MaskToImage",
        "ImageToMask", "CropMask", "ThresholdMask", "GrowMask", "FeatherMask", "MaskComposite",
        "SaveAnimatedWEBP", "SaveAnimatedPNG",
    }  # fmt: skip
    assert required <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_matches_reference(name: str, reference: dict) -> None:
    cls, mod = ALL[name]
    ref = reference[name]
    types = as_json(cls.INPUT_TYPES())
    for section, entries in ref["input"].items():
        assert list(types[section]) == list(entries), (name, section)
        for input_name, spec in entries.items():
            ours = types[section][input_name]
            if (name, input_name) in FILE_COMBOS:
                assert isinstance(ours[0], list) and ours[1:] == spec[1:], input_name
            else:
                assert ours == spec, (name, input_name)
    assert set(types) == set(ref["input"])
    assert {s: list(e) for s, e in types.items()} == ref["input_order"]
    assert list(cls.RETURN_TYPES) == ref["output"]
    assert list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(cls.RETURN_TYPES))) == ref["output_is_list"]
    assert list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == ref["output_name"]
    assert cls.CATEGORY == ref["category"]
    assert bool(getattr(cls, "OUTPUT_NODE", False)) == ref["output_node"]
    assert cls.RELATIVE_PYTHON_MODULE == ref["python_module"]
    assert bool(getattr(cls, "DEPRECATED", False)) == bool(ref.get("deprecated", False))
    assert bool(getattr(cls, "EXPERIMENTAL", False)) == bool(ref.get("experimental", False))
    # display name: the mapping gives it; V3 nodes without one (null) have no mapping entry
    expected_display = ref["display_name"]
    if expected_display is None or expected_display == name:
        assert name not in mod.NODE_DISPLAY_NAME_MAPPINGS or mod.NODE_DISPLAY_NAME_MAPPINGS[name] == name
    else:
        assert mod.NODE_DISPLAY_NAME_MAPPINGS[name] == expected_display
    assert callable(getattr(cls(), cls.FUNCTION))
    # ComfyUI's V3 schema nodes are the ones whose record carries every key (output_matchtypes included)
    assert bool(getattr(cls, "_COMFY_V3", False)) == ("output_matchtypes" in ref), name
