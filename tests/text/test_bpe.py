from __future__ import annotations

import unicodedata

import pytest
from transformers import CLIPTokenizer

from comfy_core.text.bpe import ClipBPE, build_vocab, byte_symbols, default_vocab_path, read_merges

PROMPTS = [
    "a photo of a cat",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer",
    "Hello, World!!! it's don't we'll they've I'm you'd",
    "café naïve Ünïcödé façade — “quotes” ‘single’ … ellipsis",
    "emoji 😀🎉 family 👨‍👩‍👧 flag 🇫🇷 ✨",
    "Привет мир, Ελληνικά, العربية, עברית, हिन्दी",
    "numbers 1234567890 3.14159 1e-5 #hashtag @mention $100 50%",
    "  leading and   multiple\tspaces\nnew lines\r\n  ",
    "ALL CAPS And MiXeD CaSe",
    "punctuation!!??...,,;;::--__==++**&&^^%%$$##@@",
    "<|startoftext|>special<|endoftext|> tokens",
    "a very long prompt " * 40,
    "ǅungla ß ŉ ﬁ ligature Å (decomposed A\u030a)",
    "",
]


@pytest.fixture(scope="module")
def hf_tokenizer() -> CLIPTokenizer:
    merges = read_merges(default_vocab_path())
    return CLIPTokenizer(vocab=build_vocab(merges), merges=merges)


@pytest.fixture(scope="module")
def fast_style() -> ClipBPE:
    return ClipBPE(cleanup="normalize")


@pytest.fixture(scope="module")
def basic() -> ClipBPE:
    return ClipBPE()


def test_vocab_layout():
    vocab = build_vocab(read_merges(default_vocab_path()))
    assert len(vocab) == 49408
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert vocab["!"] == 0 and vocab["!</w>"] == 256
    symbols = byte_symbols()
    assert len(set(symbols.values())) == 256 and symbols[ord("a")] == "a" and symbols[32] == "Ġ"


@pytest.mark.parametrize("prompt", PROMPTS)
def test_equals_transformers_tokenizer(prompt, hf_tokenizer, fast_style, basic):
    expected = hf_tokenizer(prompt)["input_ids"]
    assert expected[0] == 49406 and expected[-1] == 49407
    assert fast_style.encode(prompt) == expected[1:-1]
    # The ComfyUI (basic) clean-up drops format characters (the zero-width joiner in emoji
    # sequences) and otherwise, without CJK ideographs, gives the same ids.
    without_format = "".join(ch for ch in prompt if unicodedata.category(ch) != "Cf")
    assert basic.encode(prompt) == hf_tokenizer(without_format)["input_ids"][1:-1]


def test_known_ids(basic):
    assert basic.encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert basic.encode("A PHOTO") == [320, 1125]


def test_basic_cleanup_spaces_cjk_and_drops_control(basic, hf_tokenizer):
    # Python CLIPTokenizer (transformers 4, ComfyUI default): CJK ideographs become separate words.
    assert basic.encode("東京タワー") == hf_tokenizer("東 京 タワー")["input_ids"][1:-1]
    assert basic.encode("東京") != hf_tokenizer("東京")["input_ids"][1:-1]
    # Control / format characters are dropped (zero-width space, BOM, NUL, U+FFFD).
    assert basic.encode("a\u200bb\ufeff\x00c\ufffd") == hf_tokenizer("abc")["input_ids"][1:-1]
    assert basic.encode("tab\tsep") == basic.encode("tab sep")


def test_missing_vocab_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch_vocab"):
        ClipBPE(tmp_path / "nope.txt.gz")


def test_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COMFY_CORE_CLIP_BPE", str(tmp_path / "x.gz"))
    assert default_vocab_path() == tmp_path / "x.gz"
