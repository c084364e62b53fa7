"""/view, /upload/image, /upload/mask, /view_metadata, /internal/files."""

from __future__ import annotations

import io
import json
import os
import struct

from PIL import Image, PngImagePlugin


def _png(color=(10, 20, 30, 128), size=(4, 4), text=None) -> bytes:
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.new("RGBA", size, color).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _upload(server, data, name="a.png", path="/upload/image", **fields):
    return server.post(path, files={"image": (name, data, "image/png")}, data=fields)


def test_upload_collision_naming_and_overwrite(server):
    input_dir = server.services.paths.get_input_directory()
    r = _upload(server, _png())
    assert r.status_code == 200 and r.json() == {"name": "a.png", "subfolder": "", "type": "input"}
    assert _upload(server, _png()).json()["name"] == "a.png"  # same bytes: reused
    assert _upload(server, _png((1, 2, 3, 4))).json()["name"] == "a (1).png"
    assert _upload(server, _png((5, 6, 7, 8))).json()["name"] == "a (2).png"
    r = _upload(server, _png((9, 9, 9, 9)), overwrite="true")
    assert r.json()["name"] == "a.png"
    assert Image.open(os.path.join(input_dir, "a.png")).getpixel((0, 0)) == (9, 9, 9, 9)
    r = _upload(server, _png(), subfolder="sub/dir", type="temp")
    assert r.json() == {"name": "a.png", "subfolder": "sub/dir", "type": "temp"}
    assert os.path.isfile(os.path.join(server.services.paths.get_temp_directory(), "sub", "dir", "a.png"))


def test_upload_refusals(server):
    assert server.post("/upload/image", data={"type": "input"}).status_code == 400
    assert _upload(server, _png(), name="").status_code == 400
    assert _upload(server, _png(), subfolder="../../etc").status_code == 400
    assert _upload(server, _png(), name="../x.png").status_code == 400
    assert _upload(server, _png(), type="models").status_code == 400


def test_upload_refuses_decompression_bombs(server, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the server runs in this process
    big = io.BytesIO()
    Image.new("L", (40, 40)).save(
        big, format="PNG"
    )  # 1600 px: above the limit, below 2x (a warning in Pillow)
    r = _upload(server, big.getvalue(), name="bomb.png")
    assert r.status_code == 400 and "exceeds" in r.json()["error"]
    huge = io.BytesIO()
    Image.new("L", (100, 100)).save(huge, format="PNG")  # beyond 2x: Pillow raises DecompressionBombError
    assert _upload(server, huge.getvalue(), name="bomb2.png").status_code == 400
    assert _upload(server, b"not an image at all", name="clip.mp4").status_code == 200


def test_upload_too_large_is_413(tmp_path):
    from comfy_core import runtime
    from tests.server.harness import start_server

    srv = start_server(tmp_path, max_upload_size=0.01)
    try:
        r = srv.post("/upload/image", files={"image": ("a.bin", b"x" * 50_000, "application/octet-stream")})
        assert r.status_code == 413
        assert srv.get("/features").json()["max_upload_size"] == round(0.01 * 1024 * 1024)
    finally:
        srv.stop()
        runtime.uninstall()


def test_upload_mask_merges_alpha_and_keeps_text(server):
    _upload(server, _png((200, 100, 50, 255), text={"prompt": "{}"}), name="orig.png")
    mask = _png((0, 0, 0, 77))
    ref = json.dumps({"filename": "orig.png", "subfolder": "", "type": "input"})
    r = _upload(server, mask, name="clipspace-mask.png", path="/upload/mask", original_ref=ref)
    assert r.status_code == 200
    out = Image.open(os.path.join(server.services.paths.get_input_directory(), r.json()["name"]))
    assert out.getpixel((0, 0)) == (200, 100, 50, 77) and out.text.get("prompt") == "{}"
    assert _upload(server, mask, path="/upload/mask", original_ref="{bad").status_code == 400
    bad_ref = json.dumps({"filename": "../../x.png"})
    assert _upload(server, mask, name="m2.png", path="/upload/mask", original_ref=bad_ref).status_code == 400


def test_view_channels_preview_and_annotations(server):
    _upload(server, _png((10, 20, 30, 40), size=(6, 6)), name="v.png")
    base = {"filename": "v.png", "type": "input"}
    r = server.get("/view", params=base)
    assert r.status_code == 200 and r.headers["Content-Disposition"] == 'filename="v.png"'
    assert Image.open(io.BytesIO(r.content)).getpixel((0, 0)) == (10, 20, 30, 40)
    rgb = Image.open(io.BytesIO(server.get("/view", params={**base, "channel": "rgb"}).content))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (10, 20, 30)
    a = Image.open(io.BytesIO(server.get("/view", params={**base, "channel": "a"}).content))
    assert a.getpixel((0, 0))[3] == 40
    jpeg = server.get("/view", params={**base, "preview": "jpeg;50"})
    assert jpeg.headers["Content-Type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
    webp = server.get("/view", params={**base, "preview": "jpeg;50", "channel": "rgba"})
    assert webp.headers["Content-Type"] == "image/webp"
    annotated = server.get("/view", params={"filename": "v.png [input]", "type": "output"})
    assert annotated.status_code == 200
    assert server.get("/view", params={"filename": "missing.png", "type": "input"}).status_code == 404
    assert server.get("/view").status_code == 404
    assert server.get("/view", params={"filename": "v.png", "type": "models"}).status_code == 400


def test_view_refuses_escapes(server, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png())
    input_dir = server.services.paths.get_input_directory()
    os.symlink(str(secret), os.path.join(input_dir, "link.png"))
    os.symlink(str(tmp_path), os.path.join(input_dir, "linkdir"))
    cases = [
        ({"filename": "../secret.png", "type": "input"}, 400),
        ({"filename": "/etc/passwd", "type": "input"}, 400),
        ({"filename": "secret.png", "subfolder": "..", "type": "input"}, 403),
        ({"filename": "secret.png", "subfolder": "/tmp", "type": "input"}, 403),
        ({"filename": "link.png", "type": "input"}, 403),
        ({"filename": "secret.png", "subfolder": "linkdir", "type": "input"}, 403),
        ({"filename": "..\\secret.png", "type": "input"}, 400),
    ]
    for params, status in cases:
        assert server.get("/view", params=params).status_code == status, params


def test_view_forces_download_for_html(server):
    with open(os.path.join(server.services.paths.get_output_directory(), "x.html"), "w") as f:
        f.write("<script>alert(1)</script>")
    r = server.get("/view", params={"filename": "x.html"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"


def test_view_metadata(server):
    folder = server.services.paths.get_folder_paths("loras")[0]
    os.makedirs(folder, exist_ok=True)
    header = json.dumps(
        {"__metadata__": {"ss_name": "tiny"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    ).encode()
    with open(os.path.join(folder, "tiny.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    r = server.get("/view_metadata/loras", params={"filename": "tiny.safetensors"})
    assert r.status_code == 200 and r.json() == {"ss_name": "tiny"}
    assert server.get("/api/view_metadata/loras", params={"filename": "nope.safetensors"}).status_code == 404
    assert server.get("/view_metadata/loras", params={"filename": "tiny.ckpt"}).status_code == 404
    assert server.get("/view_metadata/nofolder", params={"filename": "tiny.safetensors"}).status_code == 404


def test_internal_files(server):
    out = server.services.paths.get_output_directory()
    for i, name in enumerate(["old.png", "new.png", ".hidden"]):
        path = os.path.join(out, name)
        open(path, "w").close()
        os.utime(path, (1000 + i, 1000 + i))
    assert server.get("/internal/files/output").json() == ["new.png", "old.png"]
    r = server.get("/internal/files/models")
    assert r.status_code == 400 and r.json() == {"error": "Invalid directory type"}
