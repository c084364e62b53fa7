"""CLIP byte-level BPE tokenizer (Radford et al. 2021, "Learning Transferable Visual Models From
Natural Language Supervision"), built offline from OpenAI's `bpe_simple_vocab_16e6.txt.gz`.

The vocabulary is derived from the merges file exactly as OpenAI's simple tokenizer does it: the 256
byte symbols, the same symbols with the end-of-word marker `</w>`, one entry per merge, then the two
special tokens (start 49406, end 49407).

Two text clean-ups are offered because the two transformers tokenizers differ on rare input:
- `"basic"` (default): what the pure-Python `transformers.CLIPTokenizer` of transformers 4.x does
  without ftfy, i.e. what stock ComfyUI runs: drop control/format characters, put spaces around CJK
  ideographs, NFC, lowercase per whitespace-separated word.
- `"normalize"`: the `tokenizers`-backed pipeline (transformers 5): NFC, collapse whitespace, lowercase.
Both give the same ids for text without control characters or CJK ideographs.
"""

from __future__ import annotations

import functools
import gzip
import os
import unicodedata
from pathlib import Path

import regex

START_TOKEN = 49406
END_TOKEN = 49407
VOCAB_ENV = "COMFY_CORE_CLIP_BPE"
VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz"
# Number of merges CLIP uses from the file: 49152 entries minus 256 bytes minus 2 specials.
NUM_MERGES = 49152 - 256 - 2
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
WORD_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
WHITESPACE_RUN = regex.compile(r"\s+")
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def default_vocab_path() -> Path:
    """Where the BPE file is looked for: $COMFY_CORE_CLIP_BPE, else `<repo>/.cache/clip/`."""
    env = os.environ.get(VOCAB_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "clip" / VOCAB_NAME


def byte_symbols() -> dict[int, str]:
    """Reversible map byte -> printable unicode symbol (GPT-2 / CLIP byte encoder).

    Printable Latin-1 bytes map to themselves; the others are shifted to code points 256+ so that no
    byte becomes whitespace or a control character inside the BPE.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table  # insertion order = vocabulary order


def read_merges(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """The merge rules used by CLIP, in rank order."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    return [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]  # type: ignore[misc]


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token string -> id, in OpenAI's order (bytes, bytes+</w>, merges, specials)."""
    symbols = list(byte_symbols().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + list(SPECIAL_TOKENS)
    return {t: i for i, t in enumerate(tokens)}


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def clean_basic(text: str) -> str:
    """BERT-style clean-up used by the Python CLIP tokenizer when ftfy is absent."""
    out = []
    for ch in text:
        cp = ord(ch)
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif cp == 0 or cp == 0xFFFD or unicodedata.category(ch).startswith("C"):
            continue
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out))
    return " ".join(word.lower() for word in text.split())


def clean_normalize(text: str) -> str:
    """Clean-up of the `tokenizers` CLIP pipeline: NFC, whitespace runs -> one space, lowercase."""
    return WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFC", text)).lower()


@functools.lru_cache(maxsize=4)
def _load_tables(path: str) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    # Cached per file: parsing 49k merges takes a noticeable fraction of a second.
    merges = read_merges(path)
    return build_vocab(merges), {m: i for i, m in enumerate(merges)}


class ClipBPE:
    """Text -> CLIP token ids (without start/end tokens)."""

    def __init__(self, vocab_path: str | os.PathLike[str] | None = None, cleanup: str = "basic") -> None:
        path = Path(vocab_path) if vocab_path is not None else default_vocab_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"CLIP BPE vocabulary not found at {path}; run tools/fetch_vocab.py or set ${VOCAB_ENV}"
            )
        if cleanup not in ("basic", "normalize"):
            raise ValueError(f"unknown cleanup {cleanup!r}")
        self.vocab, self.ranks = _load_tables(str(path))
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.byte_encoder = byte_symbols()
        self.cleanup = clean_basic if cleanup == "basic" else clean_normalize
        self._cache: dict[str, list[int]] = {s: [self.vocab[s]] for s in SPECIAL_TOKENS}

    @property
    def start_token(self) -> int:
        return self.vocab[SPECIAL_TOKENS[0]]

    @property
    def end_token(self) -> int:
        return self.vocab[SPECIAL_TOKENS[1]]

    def _bpe(self, word: str) -> list[str]:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            best = None
            best_rank = None
            for pair in zip(parts, parts[1:], strict=False):
                rank = self.ranks.get(pair)
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = pair, rank
            if best is None:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == best[0] and parts[i + 1] == best[1]:
                    merged.append(best[0] + best[1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def _word_ids(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is None:
            symbols = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
            cached = [self.vocab[p] for p in self._bpe(symbols)]
            self._cache[word] = cached
        return cached

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in WORD_PATTERN.findall(self.cleanup(text)):
            ids.extend(self._word_ids(word))
        return ids

    def decode_token(self, token: int) -> str:
        return self.inv_vocab[token]
