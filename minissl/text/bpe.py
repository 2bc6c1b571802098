"""Byte-level BPE, GPT's tokenizer.

Text is UTF-8 bytes, so the 256 byte values are the starting vocabulary and
*any* string can be encoded: no [UNK] ever. Training repeatedly merges the
most frequent adjacent pair of symbols into a new symbol:

    vocab_size = 256 + number of merges + number of special tokens

Before merging, a regex cuts text into chunks (words, numbers, punctuation
runs, whitespace) and merges never cross a chunk boundary, so " dog" and
"dog." do not grow into one token. Two split patterns are built in: GPT-2's
and GPT-4's (cl100k: case-insensitive contractions, digits in groups of <= 3).
Both match every character; with a custom pattern that skips some, the skipped
text becomes chunks of its own (as Hugging Face's "isolated" splitting does),
so nothing is ever dropped.

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
import re
from collections import Counter

import regex

from .base import (TokenizerFileError, as_ids, check_id, check_text, is_integer, merge_pair,
                   pad_batch, read_tokenizer_file, write_tokenizer_file)

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}|"""
                r""" ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""")
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}
ENDOFTEXT = "<|endoftext|>"
HEADER = "minissl-bpe 1"  # first line of a saved file: format name and version
_CACHE_MAX_CHARS = 100     # longer chunks are rare repeats and would make the cache heavy


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _from_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def _compile_pattern(pattern, where: str):
    """'gpt2', 'gpt4' or a regex string -> the compiled split regex."""
    if not isinstance(pattern, str):
        raise TypeError(f"{where}: pattern must be 'gpt2', 'gpt4' or a regex string, "
                        f"got {type(pattern).__name__}")
    try:
        return regex.compile(PATTERNS.get(pattern, pattern))
    except regex.error as e:
        raise ValueError(f"{where}: pattern {pattern!r} is not a valid regular expression ({e}); "
                         "pass 'gpt2', 'gpt4' or a pattern the `regex` module accepts") from None


def _check_specials(special_tokens, where: str) -> list[str]:
    """Special tokens must be distinct non-empty strings (the empty string would
    match between every two characters and put its id there)."""
    if isinstance(special_tokens, (str, bytes)):
        raise TypeError(f"{where}: special_tokens must be a list of strings, got a "
                        f"{type(special_tokens).__name__}; for one token write [{special_tokens!r}]")
    out = []
    for s in special_tokens:
        if not isinstance(s, str):
            raise TypeError(f"{where}: special token {s!r} is a {type(s).__name__}, not a str")
        if s == "":
            raise ValueError(f"{where}: a special token is empty; it would match between every two "
                             "characters, so remove it")
        if s in out:
            raise ValueError(f"{where}: special token {s!r} appears twice")
        out.append(s)
    return out


def _check_merges(merges, at, ref) -> list[tuple[int, int]]:
    """Merges as (a, b) int pairs, each using only bytes and earlier merges, none repeated.

    ``at(k)`` names merge k at the start of a message; ``ref(k)`` refers back to it.
    """
    out, first = [], {}
    for k, m in enumerate(merges):
        try:
            a, b = m
        except (TypeError, ValueError):
            raise ValueError(f"{at(k)}: a merge is a pair (a, b) of token ids, got {m!r}") from None
        if not (is_integer(a) and is_integer(b)):
            raise TypeError(f"{at(k)}: merge ids must be integers, got {m!r}")
        a, b = int(a), int(b)
        for x in (a, b):
            if not 0 <= x < 256 + k:  # merge k creates id 256 + k from ids that exist before it
                raise ValueError(f"{at(k)}: ({a}, {b}) uses id {x}, but merge {k} may only use ids "
                                 f"0 to {255 + k} (the bytes and earlier merges)")
        if (a, b) in first:  # the later copy could never be applied
            raise ValueError(f"{at(k)}: ({a}, {b}) repeats {ref(first[a, b])}")
        first[a, b] = k
        out.append((a, b))
    return out


class ByteBPETokenizer:
    """Byte-level BPE. ``merges[k] = (a, b)`` creates token id ``256 + k``."""

    def __init__(self, merges=(), pattern: str = "gpt2", special_tokens=(ENDOFTEXT,)):
        self.pattern_name = pattern if pattern in PATTERNS else None
        self._split = _compile_pattern(pattern, "ByteBPETokenizer")
        self.pattern = PATTERNS.get(pattern, pattern)
        self.merges = _check_merges(merges, lambda k: f"ByteBPETokenizer: merge {k}", lambda k: f"merge {k}")
        self.ranks = {m: 256 + k for k, m in enumerate(self.merges)}
        self.token_bytes = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.special_tokens = {}
        for s in _check_specials(special_tokens, "ByteBPETokenizer"):
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
        special_tokens = _check_specials(special_tokens, "ByteBPETokenizer.train")
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(f"vocab_size={vocab_size} is below 256 bytes + {len(special_tokens)} "
                             "special tokens; raise it")
        tmp = cls((), pattern, ())
        if isinstance(texts, str):
            texts = [texts]
        elif isinstance(texts, (bytes, bytearray)):
            check_text(texts, "ByteBPETokenizer.train", "texts")
        chunks = Counter()
        for k, t in enumerate(texts):
            chunks.update(tmp._chunks(check_text(t, "ByteBPETokenizer.train", f"texts[{k}]")))
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
    def _chunks(self, text: str) -> list[str]:
        """Cut text into the pieces merges stay inside: the pattern's matches and, if
        a custom pattern skips some characters, each skipped stretch as a chunk of its
        own, so that ``"".join(chunks) == text`` always."""
        if not self._split.groups:  # (with groups, findall returns the groups, not the matches)
            chunks = self._split.findall(text)
            # Matches never overlap, so if their lengths add up to the text's, they cover it.
            if sum(map(len, chunks)) == len(text):
                return chunks
        out, pos = [], 0
        for m in self._split.finditer(text):
            if m.start() > pos:
                out.append(text[pos:m.start()])
            out.append(m.group())
            pos = m.end()
        if pos < len(text):
            out.append(text[pos:])
        return out

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
        check_text(text, "ByteBPETokenizer.encode")
        if isinstance(allowed_special, str) and allowed_special != "all":
            raise TypeError(f"ByteBPETokenizer.encode: allowed_special must be 'all' or a set of special "
                            f"tokens, got the string {allowed_special!r}; write {{{allowed_special!r}}}")
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        parts = self._special_re.split(text) if (self._special_re and allowed) else [text]
        out = []
        for part in parts:
            if part in allowed and part in self.special_tokens:
                out.append(self.special_tokens[part])
            elif part:
                for chunk in self._chunks(part):
                    out.extend(self._encode_chunk(chunk))
        return out

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        pieces, buf = [], bytearray()
        for i in as_ids(ids, self.vocab_size, "ByteBPETokenizer.decode"):
            if i in self._special_inv:
                if not skip_special_tokens:
                    pieces.append(_from_bytes(bytes(buf)))
                    buf = bytearray()
                    pieces.append(self._special_inv[i])
            else:
                buf += self.token_bytes[i]
        pieces.append(_from_bytes(bytes(buf)))
        return "".join(pieces)

    def id_to_token(self, i: int) -> str:
        """A readable name for one id (its bytes decoded with replacement)."""
        i = check_id(i, self.vocab_size, "ByteBPETokenizer.id_to_token")
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
        """Text format, written atomically (a failed save leaves the old file as it was)::

            minissl-bpe 1           format and version
            "gpt2"                  the split pattern (a name or the regex), as JSON
            ["<|endoftext|>"]       the special tokens, as JSON
            2                       the number of merges that follow
            104 105                 merge k: ids a b, which make id 256 + k
            256 33
        """
        lines = [HEADER, json.dumps(self.pattern_name or self.pattern),
                 json.dumps(list(self.special_tokens)), str(len(self.merges))]
        lines += [f"{a} {b}" for a, b in self.merges]
        write_tokenizer_file(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path):
        """Read a file written by ``save``, checking every line: a damaged or truncated
        file is refused with the file, the line and the problem, never half-loaded."""
        text = read_tokenizer_file(path, "BPE file", "create one with ByteBPETokenizer.save()")

        def bad(line, problem):
            return TokenizerFileError(f"{path}, line {line}: {problem}")
        if not text:
            raise TokenizerFileError(f"{path} is empty; save the tokenizer again")
        lines = text.split("\n")
        if lines[0] != HEADER:
            version = re.fullmatch(r"minissl-bpe (\S+)", lines[0])
            if version:
                raise bad(1, f"format version {version[1]} is not supported (this minissl reads "
                             "version 1); use the minissl that wrote it")
            raise bad(1, f"not a minissl BPE file (it starts with {lines[0][:40]!r}, "
                         f"expected {HEADER!r})")
        if lines[-1] != "":
            raise bad(len(lines), "the file does not end with a newline, so its last line may be cut "
                                  "short (a truncated file?); save the tokenizer again")
        lines.pop()  # the empty string after the final newline
        parts = ["the split pattern", "the special tokens", "the merge count"]
        if len(lines) < 4:
            raise bad(len(lines) + 1, f"{parts[len(lines) - 1]} is missing; the file is truncated")

        def json_line(n):
            try:
                return json.loads(lines[n - 1])
            except json.JSONDecodeError as e:
                raise bad(n, f"{parts[n - 2]} is not valid JSON ({e.msg})") from None
        pattern, specials = json_line(2), json_line(3)
        if not isinstance(pattern, str):
            raise bad(2, f"the split pattern must be a JSON string, found {type(pattern).__name__}")
        if not isinstance(specials, list):
            raise bad(3, f"the special tokens must be a JSON list, found {type(specials).__name__}")
        for n, check in ((2, lambda: _compile_pattern(pattern, "the split pattern")),
                         (3, lambda: _check_specials(specials, "the special tokens"))):
            try:
                check()
            except (TypeError, ValueError) as e:
                raise bad(n, str(e)) from None
        if not re.fullmatch(r"[0-9]+", lines[3]):
            raise bad(4, f"the merge count {lines[3][:40]!r} is not a non-negative integer")
        n, body = int(lines[3]), lines[4:]
        if len(body) < n:
            raise bad(4, f"the header announces {_plural(n, 'merge')} but only {len(body)} "
                         f"{'is' if len(body) == 1 else 'are'} present; the file is truncated, "
                         "save the tokenizer again")
        if len(body) > n:
            raise bad(5 + n, f"{_plural(len(body) - n, 'line')} follow the {_plural(n, 'merge')} that "
                             "line 4 announces; the file is damaged or the count is wrong")
        merges = []
        for k, line in enumerate(body):
            m = re.fullmatch(r"(-?[0-9]+) (-?[0-9]+)", line)
            if not m:
                raise bad(5 + k, f"expected a merge as two integers 'a b', got {line[:40]!r}")
            merges.append((int(m[1]), int(m[2])))
        try:
            _check_merges(merges, lambda k: f"{path}, line {5 + k}", lambda k: f"line {5 + k}")
        except ValueError as e:
            raise TokenizerFileError(str(e)) from None
        return cls(merges, pattern, specials)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
