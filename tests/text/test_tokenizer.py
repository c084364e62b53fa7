from __future__ import annotations

import logging

import pytest
import safetensors.torch
import torch

from comfy_core.text.bpe import ClipBPE
from comfy_core.text.tokenizer import ClipTokenizer

START, END = 49406, 49407


@pytest.fixture(scope="module")
def bpe() -> ClipBPE:
    return ClipBPE()


def ids(chunk):
    return [t for t, *_ in chunk]


def test_single_chunk_padding(bpe):
    l_tok = ClipTokenizer(bpe, pad_with_end=True)
    g_tok = ClipTokenizer(bpe, pad_with_end=False, embedding_size=1280, embedding_key="clip_g")
    (chunk_l,) = l_tok.tokenize_with_weights("a photo of a cat")
    (chunk_g,) = g_tok.tokenize_with_weights("a photo of a cat")
    assert len(chunk_l) == len(chunk_g) == 77
    assert ids(chunk_l)[:7] == [START, 320, 1125, 539, 320, 2368, END]
    assert ids(chunk_l)[7:] == [END] * 70  # CLIP-L pads with the end token
    assert ids(chunk_g)[7:] == [0] * 70  # OpenCLIP pads with 0
    assert all(w == 1.0 for _, w in chunk_l)


def test_empty_prompt(bpe):
    (chunk,) = ClipTokenizer(bpe).tokenize_with_weights("")
    assert ids(chunk) == [START] + [END] * 76


def test_weights_and_word_ids(bpe):
    tok = ClipTokenizer(bpe)
    (chunk,) = tok.tokenize_with_weights("a (photo:1.3) of ((cat))", return_word_ids=True)
    assert chunk[:6] == [
        (START, 1.0, 0),
        (320, 1.0, 1),
        (1125, 1.3, 2),
        (539, 1.0, 3),
        (2368, pytest.approx(1.21), 4),
        (END, 1.0, 0),
    ]
    assert chunk[5][1] == 1.0 and chunk[4][1] == 1.1 * 1.1


def test_long_group_splits_at_75(bpe):
    tok = ClipTokenizer(bpe)
    chunks = tok.tokenize_with_weights("cat " * 100)
    assert len(chunks) == 2 and all(len(c) == 77 for c in chunks)
    assert ids(chunks[0]) == [START] + [2368] * 75 + [END]
    assert ids(chunks[1])[:27] == [START] + [2368] * 25 + [END]
    assert ids(chunks[1])[27:] == [END] * 50


def test_short_group_moves_to_next_chunk(bpe):
    g_tok = ClipTokenizer(bpe, pad_with_end=False)
    chunks = g_tok.tokenize_with_weights("cat " * 73 + "(red dog cat:1.1)")
    assert len(chunks) == 2
    first, second = ids(chunks[0]), ids(chunks[1])
    assert first[:74] == [START] + [2368] * 73
    assert first[74:] == [END, 0, 0]  # closed early and padded, the group did not fit
    red_dog_cat = bpe.encode("red dog cat")
    assert second[: 2 + len(red_dog_cat)] == [START, *red_dog_cat, END]
    assert [w for _, w in chunks[1][1:4]] == [1.1, 1.1, 1.1]


def test_untokenize(bpe):
    tok = ClipTokenizer(bpe)
    (chunk,) = tok.tokenize_with_weights("cat")
    assert tok.untokenize(chunk[:2]) == [((START, 1.0), "<|startoftext|>"), ((2368, 1.0), "cat</w>")]


# --- textual inversion ------------------------------------------------------------------------------


def test_embedding_vectors_take_token_slots(bpe, tmp_path):
    vectors = torch.randn(2, 768)
    safetensors.torch.save_file({"emb_params": vectors}, tmp_path / "myemb.safetensors")
    tok = ClipTokenizer(bpe, embedding_dirs=[tmp_path])
    (chunk,) = tok.tokenize_with_weights("a embedding:myemb cat", return_word_ids=True)
    assert chunk[0][0] == START and chunk[1][0] == 320
    assert torch.equal(chunk[2][0], vectors[0]) and torch.equal(chunk[3][0], vectors[1])
    assert chunk[2][2] == chunk[3][2] == 2  # one word id for the whole embedding
    assert chunk[4][0] == 2368 and chunk[5][0] == END and len(chunk) == 77


def test_embedding_weight_comma_and_subdir(bpe, tmp_path):
    (tmp_path / "sub").mkdir()
    vector = torch.randn(768)
    torch.save({"string_to_param": {"*": vector[None]}}, tmp_path / "sub" / "style.pt")
    tok = ClipTokenizer(bpe, embedding_dirs=[tmp_path])
    (chunk,) = tok.tokenize_with_weights("(embedding:style, cat:1.2)")
    assert torch.equal(chunk[1][0], vector) and chunk[1][1] == 1.2
    assert [t for t, _ in chunk[2:5]] == [267, 2368, END]  # ", cat" left over after the name
    assert chunk[2][1] == 1.2


def test_sdxl_embedding_keys(bpe, tmp_path):
    l_vec, g_vec = torch.randn(1, 768), torch.randn(1, 1280)
    safetensors.torch.save_file({"clip_g": g_vec, "clip_l": l_vec}, tmp_path / "xl.safetensors")
    l_tok = ClipTokenizer(bpe, embedding_dirs=[tmp_path])
    g_tok = ClipTokenizer(
        bpe, pad_with_end=False, embedding_dirs=[tmp_path], embedding_size=1280, embedding_key="clip_g"
    )
    assert torch.equal(l_tok.tokenize_with_weights("embedding:xl")[0][1][0], l_vec[0])
    assert torch.equal(g_tok.tokenize_with_weights("embedding:xl")[0][1][0], g_vec[0])


def test_unknown_embedding_warns_and_is_skipped(bpe, tmp_path, caplog):
    tok = ClipTokenizer(bpe, embedding_dirs=[tmp_path])
    with caplog.at_level(logging.WARNING):
        (chunk,) = tok.tokenize_with_weights("a embedding:missing cat")
    assert ids(chunk)[:4] == [START, 320, 2368, END]
    assert "embedding:missing" in caplog.text and "does not exist" in caplog.text


def test_embedding_text_without_directories_is_plain_text(bpe):
    (chunk,) = ClipTokenizer(bpe).tokenize_with_weights("embedding:x")
    assert ids(chunk)[1:6] == bpe.encode("embedding:x") + [END]


def test_embedding_lookup_cannot_escape_directory(bpe, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    safetensors.torch.save_file({"e": torch.randn(768)}, tmp_path / "outside.safetensors")
    tok = ClipTokenizer(bpe, embedding_dirs=[inner])
    (chunk,) = tok.tokenize_with_weights("embedding:../outside")
    assert all(isinstance(t, int) for t, _ in chunk)
