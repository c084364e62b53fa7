"""Prompt -> weighted CLIP token chunks, following ComfyUI's SDTokenizer.

A prompt becomes a list of chunks of `max_length` (77) entries `(token, weight)` or, with
`return_word_ids`, `(token, weight, word_id)`. A token is an int id or a 1-D tensor (one vector of a
textual-inversion embedding). Each chunk is `start, <= 75 content entries, end, pad...`.

Splitting rule: the prompt is tokenized per weighted segment (and per embedding). A group shorter
than 8 tokens that does not fit into the current chunk moves whole to the next chunk (the current one
is closed and padded); a longer group fills the current chunk and continues in the next one.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence

import torch

from comfy_core.text.bpe import ClipBPE
from comfy_core.text.embeddings import load_embedding
from comfy_core.text.weights import weighted_segments

log = logging.getLogger(__name__)

Token = int | torch.Tensor
EMBEDDING_PREFIX = "embedding:"
_EMBEDDING_SPLIT = re.compile(f" {EMBEDDING_PREFIX}|\n{EMBEDDING_PREFIX}")


class ClipTokenizer:
    """Tokenizer for one CLIP text encoder (CLIP-L, OpenCLIP-H or OpenCLIP-G)."""

    max_word_length = 8

    def __init__(
        self,
        bpe: ClipBPE,
        *,
        pad_with_end: bool = True,
        embedding_dirs: Sequence[str | os.PathLike[str]] | None = None,
        embedding_size: int = 768,
        embedding_key: str = "clip_l",
        max_length: int = 77,
        min_length: int | None = None,
        pad_to_max_length: bool = True,
    ) -> None:
        self.bpe = bpe
        self.start_token = bpe.start_token
        self.end_token = bpe.end_token
        self.pad_token = self.end_token if pad_with_end else 0
        self.pad_with_end = pad_with_end
        self.embedding_dirs = list(embedding_dirs) if embedding_dirs is not None else None
        self.embedding_size = embedding_size
        self.embedding_key = embedding_key
        self.max_length = max_length
        self.min_length = min_length
        self.pad_to_max_length = pad_to_max_length

    def _lookup_embedding(self, text: str) -> tuple[torch.Tensor | None, str]:
        """Embedding named by the first word of `text`, and the text left over after it."""
        words = text.split()
        name = words[0] if words else ""
        leftover = " ".join(words[1:])
        assert self.embedding_dirs is not None
        embed = load_embedding(name, self.embedding_dirs, self.embedding_size, self.embedding_key)
        if embed is None:
            stripped = name.strip(",")
            if len(stripped) < len(name):
                embed = load_embedding(stripped, self.embedding_dirs, self.embedding_size, self.embedding_key)
                return embed, f"{name[len(stripped) :]} {leftover}"
        return embed, leftover

    def _groups(self, text: str) -> list[list[tuple[Token, float]]]:
        groups: list[list[tuple[Token, float]]] = []
        for segment, weight in weighted_segments(text):
            pieces = _EMBEDDING_SPLIT.split(segment)
            pieces = [pieces[0]] + [EMBEDDING_PREFIX + p for p in pieces[1:]]
            for word in (p for p in pieces if p != ""):
                if word.startswith(EMBEDDING_PREFIX) and self.embedding_dirs is not None:
                    name = word[len(EMBEDDING_PREFIX) :].strip("\n")
                    embed, leftover = self._lookup_embedding(name)
                    if embed is None:
                        log.warning("warning, embedding:%s does not exist, ignoring", name)
                    elif embed.ndim == 1:
                        groups.append([(embed, weight)])
                    else:
                        groups.append([(embed[i], weight) for i in range(embed.shape[0])])
                    if leftover == "":
                        continue
                    word = leftover
                groups.append([(t, weight) for t in self.bpe.encode(word)])
        return groups

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False) -> list[list[tuple]]:
        start = (self.start_token, 1.0, 0)
        end = (self.end_token, 1.0, 0)
        pad = (self.pad_token, 1.0, 0)
        limit = self.max_length - 1  # room for the end token
        chunk: list[tuple] = [start]
        chunks = [chunk]
        for index, group in enumerate(self._groups(text)):
            word_id = index + 1
            is_large = len(group) >= self.max_word_length
            while group:
                if len(group) + len(chunk) > limit:
                    room = limit - len(chunk)
                    if is_large:
                        chunk.extend((t, w, word_id) for t, w in group[:room])
                        chunk.append(end)
                        group = group[room:]
                    else:
                        chunk.append(end)
                        if self.pad_to_max_length:
                            chunk.extend([pad] * room)
                    chunk = [start]
                    chunks.append(chunk)
                else:
                    chunk.extend((t, w, word_id) for t, w in group)
                    group = []
        chunk.append(end)
        if self.pad_to_max_length and len(chunk) < self.max_length:
            chunk.extend([pad] * (self.max_length - len(chunk)))
        if self.min_length is not None and len(chunk) < self.min_length:
            chunk.extend([pad] * (self.min_length - len(chunk)))
        if not return_word_ids:
            return [[(t, w) for t, w, _ in c] for c in chunks]
        return chunks

    def untokenize(self, token_weight_pairs: list[tuple]) -> list[tuple[tuple, str]]:
        return [(pair, self.bpe.decode_token(pair[0])) for pair in token_weight_pairs]
