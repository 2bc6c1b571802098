"""Byte-level BPE, GPT's tokenizer.

Text is UTF-8 bytes, so the 256 byte values are the starting vocabulary and
*any* string can be encoded: no [UNK] ever. Training repeatedly merges the
most frequent adjacent pair of symbols into a new symbol:

    vocab_size = 256 + number of merges + number of special tokens

Before merging, a regex cuts text into chunks (words, numbers, punctuation
runs, whitespace) and merges never cross a chunk boundary, so " dog" and
"dog." do not grow into one token. Two split patterns are built in: GPT-2's
and GPT-4's (cl100k: case-insensitive contractions, digits in groups of <= 3).

Encoding a chunk applies the learned merges in the order they were learned;
``_merge_chunk`` does it with a heap, so a long chunk without spaces (Chinese
text, or a minified file) costs O(n log n), not one pass per merge.

Lossless: ``decode(encode(s)) == s`` for every Python string, including lone
surrogates (e.g. "\\ud800", which strict UTF-8 refuses): we encode with
``surrogatepass`` so they become 3 bytes and come back on decode. Decoding an
arbitrary id sequence (say, sampled from a model) may give invalid UTF-8; those
bytes become U+FFFD (``errors="replace"``) instead of raising.
"""
from __future__ import annotations

import heapq
import json
from collections import Counter
from pathlib import Path

import numpy as np
import regex

from .base import merge_pair, pad_batch

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}|"""
                r""" ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""")
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}
ENDOFTEXT = "<|endoftext|>"
_CACHE_MAX_CHARS = 100  # longer chunks are rare repeats and would make the cache heavy


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _from_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


class ByteBPETokenizer:
    """Byte-level BPE. ``merges[k] = (a, b)`` creates token id ``256 + k``."""

    def __init__(self, merges=(), pattern: str = "gpt2", special_tokens=(ENDOFTEXT,)):
        self.pattern_name = pattern if pattern in PATTERNS else None
        self.pattern = PATTERNS.get(pattern, pattern)
        self._split = regex.compile(self.pattern)
        self.merges = [tuple(map(int, m)) for m in merges]
        self.ranks = {m: 256 + k for k, m in enumerate(self.merges)}
        self.token_bytes = [bytes([i]) for i in range(256)]
        for k, (a, b) in enumerate(self.merges):
            if a >= 256 + k or b >= 256 + k:
                raise ValueError(f"merge {k} ({a}, {b}) uses a token that does not exist yet")
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.special_tokens = {}
        for s in special_tokens:
            self.special_tokens[s] = len(self.token_bytes) + len(self.special_tokens)
        self._special_inv = {i: s for s, i in self.special_tokens.items()}
        specials = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = regex.compile("(" + "|".join(map(regex.escape, specials)) + ")") \
            if specials else None
        self._cache = {}

    @property
    def vocab_size(self) -> int:
        return len(self.token_bytes) + len(self.special_tokens)

    def __len__(self):
        return self.vocab_size

    @property
    def pad_token_id(self) -> int:
        """Padding reuses <|endoftext|> (as GPT-2 does); the attention mask tells them apart."""
        return self.special_tokens.get(ENDOFTEXT, 0)

    @property
    def all_special_ids(self) -> list[int]:
        return list(self.special_tokens.values())

    # -- training --------------------------------------------------------------
    @classmethod
    def train(cls, texts, vocab_size: int, pattern: str = "gpt2",
              special_tokens=(ENDOFTEXT,), verbose: bool = False):
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from texts.

        Each step merges the most frequent pair (ties: the smallest pair of
        ids, so training is deterministic). Only words containing the merged
        pair are updated, and a heap with lazy deletion finds the best pair,
        which keeps training to seconds on the built-in corpus.
        """
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(f"vocab_size={vocab_size} is below 256 bytes + {len(special_tokens)} "
                             "special tokens; raise it")
        tmp = cls((), pattern, ())
        if isinstance(texts, str):
            texts = [texts]
        chunks = Counter()
        for t in texts:
            chunks.update(tmp._split.findall(t))
        words = [list(_to_bytes(c)) for c in chunks]
        freqs = list(chunks.values())
        pair_count, pair_words = Counter(), {}
        for w, (word, f) in enumerate(zip(words, freqs)):
            for p in zip(word, word[1:]):
                pair_count[p] += f
                pair_words.setdefault(p, set()).add(w)
        heap = [(-c, p) for p, c in pair_count.items()]
        heapq.heapify(heap)
        merges = []
        while len(merges) < n_merges and heap:
            negc, pair = heapq.heappop(heap)
            if pair_count.get(pair, 0) != -negc or negc == 0:
                continue  # stale heap entry
            new_id = 256 + len(merges)
            merges.append(pair)
            changed = set()
            for w in pair_words.pop(pair, ()):
                word, f = words[w], freqs[w]
                for p in zip(word, word[1:]):
                    pair_count[p] -= f
                    changed.add(p)
                merged = merge_pair(word, pair[0], pair[1], new_id)
                words[w] = merged
                for p in zip(merged, merged[1:]):
                    pair_count[p] += f
                    pair_words.setdefault(p, set()).add(w)
                    changed.add(p)
            pair_count.pop(pair, None)
            for p in changed:
                if pair_count.get(p, 0) > 0:
                    heapq.heappush(heap, (-pair_count[p], p))
            if verbose and len(merges) % 200 == 0:
                print(f"merge {len(merges)}/{n_merges}: count {-negc}")
        return cls(merges, pattern, special_tokens)

    # -- encoding ----------------------------------------------------------------
    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is None:
            ids = _merge_chunk(list(_to_bytes(chunk)), self.ranks)
            if len(chunk) <= _CACHE_MAX_CHARS and len(self._cache) < 200_000:
                self._cache[chunk] = ids
        return ids

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """String -> ids. Special tokens in the text become their id when allowed
        (``"all"``, a set of strings, or ``()`` to treat them as plain text)."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        parts = self._special_re.split(text) if (self._special_re and allowed) else [text]
        out = []
        for part in parts:
            if part in allowed and part in self.special_tokens:
                out.append(self.special_tokens[part])
            elif part:
                for chunk in self._split.findall(part):
                    out.extend(self._encode_chunk(chunk))
        return out

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        pieces, buf = [], bytearray()
        for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if i in self._special_inv:
                if not skip_special_tokens:
                    pieces.append(_from_bytes(bytes(buf)))
                    buf = bytearray()
                    pieces.append(self._special_inv[i])
            elif 0 <= i < len(self.token_bytes):
                buf += self.token_bytes[i]
            else:
                raise IndexError(f"id {i} is outside the vocabulary (size {self.vocab_size})")
        pieces.append(_from_bytes(bytes(buf)))
        return "".join(pieces)

    def id_to_token(self, i: int) -> str:
        """A readable name for one id (its bytes decoded with replacement)."""
        i = int(i)
        return self._special_inv[i] if i in self._special_inv else \
            self.token_bytes[i].decode("utf-8", "replace")

    def encode_batch(self, texts, max_length: int | None = None, padding: str = "longest"):
        """Texts -> input_ids, attention_mask: int64 (B, T), padded with pad_token_id."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; for one string use encode()")
        ids, mask = pad_batch([self.encode(t) for t in texts], self.pad_token_id, max_length, padding)
        return {"input_ids": ids, "attention_mask": mask}

    # -- save / load ----------------------------------------------------------------
    def save(self, path) -> None:
        """Text format: a header, the pattern and specials as JSON lines, one merge "a b" per line."""
        lines = ["minissl-bpe 1", json.dumps(self.pattern_name or self.pattern),
                 json.dumps(list(self.special_tokens)), str(len(self.merges))]
        lines += [f"{a} {b}" for a, b in self.merges]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no BPE file at {path}; create one with ByteBPETokenizer.save()")
        lines = path.read_text(encoding="utf-8").split("\n")
        if not lines or lines[0] != "minissl-bpe 1":
            raise ValueError(f"{path} is not a minissl BPE file (first line {lines[0][:40]!r})")
        pattern, specials, n = json.loads(lines[1]), json.loads(lines[2]), int(lines[3])
        merges = [tuple(int(x) for x in ln.split()) for ln in lines[4:4 + n]]
        return cls(merges, pattern, specials)


def _merge_chunk(ids: list[int], ranks: dict) -> list[int]:
    """Apply the learned merges to one chunk's bytes, earliest-learned first.

    The rule (what training did): find the adjacent pair with the lowest rank,
    merge every occurrence of it left to right, repeat until no pair has a rank.
    Rescanning the chunk for every merge costs O(n) per merge, which is slow on
    a long chunk. The same result, in O(n log n):

    - the symbols form a linked list (``nxt``/``prv`` indices), so merging two
      neighbours is O(1);
    - a heap holds (rank, position) for every adjacent pair that has a rank.
      Popping gives the lowest rank first and, among equal ranks, the leftmost:
      exactly "every occurrence, left to right".
    - A merge creates id ``r`` from a pair of rank ``r``; any pair containing the
      new symbol was learned later, so it has a higher rank and is never popped
      before the current rank is finished. Heap entries whose pair has since
      changed are stale and skipped when popped.
    """
    n = len(ids)
    if n < 2:
        return ids
    nxt = list(range(1, n + 1))   # nxt[i] == n: i is the last symbol
    prv = list(range(-1, n - 1))  # prv[i] == -1: i is the first symbol
    heap = [(ranks[p], i) for i, p in enumerate(zip(ids, ids[1:])) if p in ranks]
    heapq.heapify(heap)
    while heap:
        r, i = heapq.heappop(heap)
        j = nxt[i]
        if ids[i] is None or j == n or ranks.get((ids[i], ids[j])) != r:
            continue  # stale: i was merged away, or its pair changed since it was pushed
        ids[i], ids[j] = r, None  # the pair becomes one symbol (id r) at position i
        k = nxt[j]
        nxt[i] = k
        if k < n:
            prv[k] = i
        p = prv[i]
        if p >= 0 and (ids[p], r) in ranks:
            heapq.heappush(heap, (ranks[ids[p], r], p))
        if k < n and (r, ids[k]) in ranks:
            heapq.heappush(heap, (ranks[r, ids[k]], i))
    return [t for t in ids if t is not None]
