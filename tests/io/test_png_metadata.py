"""PNG/WEBP workflow metadata readers and writers (comfy_core.io.png / webp / metadata)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from comfy_core.io.metadata import read_image_text, read_workflow_metadata
from comfy_core.io.png import comf_pnginfo, iter_chunks, read_png_text, save_png, text_pnginfo
from comfy_core.io.webp import read_webp_text, webp_exif

WORKFLOW = {"nodes": [{"id": 1}], "links": [], "note": "naïve ✓"}


def png_bytes(info: PngInfo | None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (1, 2, 3)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def test_reads_text_ztxt_itxt_and_comf() -> None:
    info = PngInfo()
    info.add_text("prompt", json.dumps({"1": {"class_type": "X", "inputs": {}}}))
    info.add_text("zipped", "compressed value", zip=True)
    info.add_itxt("workflow", json.dumps(WORKFLOW, ensure_ascii=False), lang="en", tkey="wf")
    info.add_itxt("zitxt", "zipped itxt ✓", zip=True)
    info.add(b"comf", b"extra\0" + json.dumps([1, 2]).encode("latin-1"), after_idat=True)
    text = read_png_text(png_bytes(info))
    assert json.loads(text["prompt"]) == {"1": {"class_type": "X", "inputs": {}}}
    assert text["zipped"] == "compressed value"
    assert json.loads(text["workflow"]) == WORKFLOW
    assert text["zitxt"] == "zipped itxt ✓"
    assert json.loads(text["extra"]) == [1, 2]


def test_writers_chunk_layout() -> None:
    data = png_bytes(text_pnginfo({"a": 1}, {"workflow": WORKFLOW}))
    kinds = [c for c, _ in iter_chunks(data)]
    assert kinds.count(b"tEXt") == 2 and kinds.index(b"tEXt") < kinds.index(b"IDAT")
    assert json.loads(read_png_text(data)["workflow"]) == WORKFLOW  # JSON is ASCII-escaped -> tEXt
    data = png_bytes(comf_pnginfo({"a": 1}, {"workflow": WORKFLOW}))
    kinds = [c for c, _ in iter_chunks(data)]
    assert kinds.count(b"comf") == 2 and kinds.index(b"comf") > kinds.index(b"IDAT")
    assert kinds[-1] == b"IEND"
    assert read_png_text(png_bytes(None)) == {}


def test_save_png_and_read_workflow_metadata(tmp_path) -> None:
    path = tmp_path / "x.png"
    save_png(Image.new("RGB", (1, 1)), path, prompt={"p": 1}, extra_pnginfo={"workflow": WORKFLOW})
    assert read_workflow_metadata(path) == {"prompt": {"p": 1}, "workflow": WORKFLOW}
    save_png(Image.new("RGB", (1, 1)), path, prompt={"p": 1}, metadata=False)
    assert read_workflow_metadata(path) == {}
    # invalid JSON entries are left out rather than failing
    info = PngInfo()
    info.add_text("workflow", "{not json")
    (tmp_path / "bad.png").write_bytes(png_bytes(info))
    assert read_workflow_metadata(tmp_path / "bad.png") == {}
    assert read_image_text(tmp_path / "bad.png") == {"workflow": "{not json"}


def test_non_png_and_truncated() -> None:
    with pytest.raises(ValueError):
        read_png_text(b"GIF89a....")
    data = png_bytes(text_pnginfo({"a": 1}, None))
    assert read_png_text(data[: len(data) - 30]) == {
        "prompt": '{"a": 1}'
    }  # tail cut: earlier chunks still read


def test_webp_exif_round_trip(tmp_path) -> None:
    img = Image.new("RGB", (4, 4), (9, 9, 9))
    exif = webp_exif(img, {"p": 1}, {"workflow": WORKFLOW, "more": 3})
    assert exif[0x0110] == 'prompt:{"p": 1}'
    assert exif[0x010F].startswith("workflow:") and exif[0x010E] == "more:3"
    path = tmp_path / "x.webp"
    img.save(path, format="WEBP", exif=exif, lossless=True)
    assert read_webp_text(path) == {"prompt": '{"p": 1}', "workflow": json.dumps(WORKFLOW), "more": "3"}
    assert read_workflow_metadata(path) == {"prompt": {"p": 1}, "workflow": WORKFLOW}
    (tmp_path / "x.bmp").write_bytes(b"BM" + b"\0" * 40)
    assert read_image_text(tmp_path / "x.bmp") == {}
