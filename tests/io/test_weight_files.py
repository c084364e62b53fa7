from __future__ import annotations

import collections
import json
import struct

import pytest
import torch

from comfy_core.io.checkpoint import (
    CheckpointLoadError,
    load_state_dict_file,
    read_safetensors_header,
    read_safetensors_metadata,
    save_safetensors,
)


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "a.weight": torch.randn(3, 4, generator=g),
        "b.half": torch.randn(5, generator=g).half(),
        "c.bf16": torch.randn(2, 2, generator=g).bfloat16(),
        "d.ids": torch.arange(7, dtype=torch.int64).unsqueeze(0),
        "e.scalar": torch.tensor(2.5),
    }


def test_safetensors_round_trip_keeps_values_dtypes_and_metadata(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    src = _tensors()
    save_safetensors(src, path, metadata={"modelspec.title": "x", "prompt": {"1": {"a": 1}}})
    sd, meta = load_state_dict_file(path)
    assert list(sd) == list(src) or set(sd) == set(src)
    for k, v in src.items():
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape
        assert torch.equal(sd[k], v)
    assert meta["modelspec.title"] == "x"
    assert json.loads(meta["prompt"]) == {"1": {"a": 1}}
    assert read_safetensors_metadata(path) == meta
    header, _ = read_safetensors_header(path)
    assert header["b.half"]["dtype"] == "F16" and header["c.bf16"]["dtype"] == "BF16"
    assert header["a.weight"]["shape"] == [3, 4]


def test_save_handles_shared_storage_and_noncontiguous(tmp_path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    path = tmp_path / "s.safetensors"
    save_safetensors({"w": base, "tied": base, "t": base.t()}, path)
    sd, meta = load_state_dict_file(path)
    assert meta == {}
    assert torch.equal(sd["tied"], base) and torch.equal(sd["t"], base.t())


def test_unknown_suffix_is_sniffed_as_safetensors(tmp_path) -> None:
    path = tmp_path / "weights.model"
    save_safetensors({"x": torch.ones(2)}, path)
    sd, _ = load_state_dict_file(path)
    assert torch.equal(sd["x"], torch.ones(2))


def test_pickle_weights_only_and_lightning_wrapper(tmp_path) -> None:
    src = _tensors()
    plain = tmp_path / "plain.pt"
    torch.save(src, plain)
    sd, meta = load_state_dict_file(plain)
    assert meta == {} and all(torch.equal(sd[k], v) for k, v in src.items())
    wrapped = tmp_path / "wrapped.ckpt"
    torch.save({"state_dict": src, "global_step": 470000, "epoch": 3}, wrapped)
    sd, _ = load_state_dict_file(wrapped)
    assert set(sd) == set(src)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_needing_code_is_refused_with_the_file_name(tmp_path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1)}, "payload": Evil()}, path)
    with pytest.raises(CheckpointLoadError) as e:
        load_state_dict_file(path)
    assert "evil.ckpt" in str(e.value) and "weights_only" in str(e.value)


def test_ordered_dict_pickle_and_missing_file(tmp_path) -> None:
    path = tmp_path / "od.pth"
    torch.save(collections.OrderedDict(w=torch.zeros(2, 2)), path)
    assert set(load_state_dict_file(path)[0]) == {"w"}
    with pytest.raises(FileNotFoundError):
        load_state_dict_file(tmp_path / "nope.safetensors")


def test_corrupt_safetensors_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    header = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)  # data truncated
    with pytest.raises(CheckpointLoadError, match="bad.safetensors"):
        load_state_dict_file(path)
