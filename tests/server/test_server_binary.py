"""Binary frames (contract 2.3): previews as type 4 for clients announcing supports_preview_metadata,
type 1 for the others; progress text as type 3."""

from __future__ import annotations

import io
import json
import struct

from PIL import Image

from tests.server.harness import read_until_done


def _prompt():
    return {
        "1": {"class_type": "ServerTestPreview", "inputs": {"value": 4}},
        "2": {"class_type": "ServerTestSave", "inputs": {"value": ["1", 0], "filename_prefix": "bin"}},
    }


def _binary(frames):
    return [(struct.unpack(">I", f[:4])[0], f[4:]) for f in frames if isinstance(f, bytes)]


def test_preview_frames_follow_client_flags(server):
    modern, legacy = server.ws("modern"), server.ws("legacy")
    modern.recv(), legacy.recv()
    modern.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    assert json.loads(modern.recv())["type"] == "feature_flags"
    legacy.send(
        json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": "yes"}})
    )  # not `true`
    legacy.recv()

    rm = server.queue_prompt(_prompt(), client_id="modern")
    frames = _binary(read_until_done(modern, rm["prompt_id"]))
    previews = [payload for kind, payload in frames if kind == 4]
    assert len(previews) == 2 and not [k for k, _ in frames if k == 1]
    (meta_len,) = struct.unpack(">I", previews[0][:4])
    meta = json.loads(previews[0][4 : 4 + meta_len])
    assert (
        meta["node_id"] == "1" and meta["prompt_id"] == rm["prompt_id"] and meta["image_type"] == "image/jpeg"
    )
    img = Image.open(io.BytesIO(previews[0][4 + meta_len :]))
    assert img.format == "JPEG" and img.size == (16, 8)
    (meta_len2,) = struct.unpack(">I", previews[1][:4])
    assert json.loads(previews[1][4 : 4 + meta_len2])["image_type"] == "image/png"
    assert Image.open(io.BytesIO(previews[1][4 + meta_len2 :])).size == (5, 3)
    texts = [payload for kind, payload in frames if kind == 3]
    (n,) = struct.unpack(">I", texts[0][:4])
    assert texts[0][4 : 4 + n] == b"1" and texts[0][4 + n :] == b"text from 1"

    rl = server.queue_prompt(_prompt(), client_id="legacy")
    frames = _binary(read_until_done(legacy, rl["prompt_id"]))
    plain = [payload for kind, payload in frames if kind == 1]
    assert len(plain) == 2 and not [k for k, _ in frames if k == 4]
    assert struct.unpack(">I", plain[0][:4])[0] == 1 and Image.open(io.BytesIO(plain[0][4:])).size == (16, 8)
    assert struct.unpack(">I", plain[1][:4])[0] == 2 and Image.open(io.BytesIO(plain[1][4:])).format == "PNG"
