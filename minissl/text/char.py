"""Character tokenizer: one token per Unicode character.

The simplest tokenizer, and the right one for Chinese, where (as in the
lecture's Chinese BERT) every character is a token. The vocabulary is the
special tokens followed by the characters seen in a corpus, most frequent
first; anything unseen becomes ``[UNK]``.

    encode("你好")  -> [id("你"), id("好")]          # len(ids) == len(text)
    decode(encode(s)) == s   whenever every character of s is in the vocabulary
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .base import BERT_SPECIALS, UNK, VocabTokenizer


class CharTokenizer(VocabTokenizer):
    """Per-character tokenizer. Ids: ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4`` then characters."""

    def __init__(self, chars, special_tokens=BERT_SPECIALS):
        chars = [c for c in chars if c not in special_tokens]
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"CharTokenizer vocabulary entries must be single characters, got {c!r}")
        super().__init__(list(special_tokens) + chars, special_tokens=special_tokens)

    @classmethod
    def from_corpus(cls, texts, min_freq: int = 1, max_size: int | None = None):
        """Build the vocabulary from an iterable of strings.

        Order: most frequent first, ties by code point, so the same corpus
        always gives the same ids.
        """
        if isinstance(texts, str):
            texts = [texts]
        counts = Counter()
        for t in texts:
            counts.update(t)
        chars = sorted((c for c, n in counts.items() if n >= min_freq),
                       key=lambda c: (-counts[c], ord(c)))
        if max_size is not None:
            chars = chars[:max(0, max_size - len(BERT_SPECIALS))]
        if not chars:
            raise ValueError("the corpus has no characters (after min_freq); pass non-empty text")
        return cls(chars)

    def tokenize(self, text: str) -> list[str]:
        # Special tokens are not recognised inside raw text: a learner's text
        # containing "[MASK]" means the six characters, not the mask.
        return [c if c in self.vocab else UNK for c in text]

    def convert_tokens_to_string(self, tokens) -> str:
        return "".join(tokens)

    def save(self, path) -> None:
        """JSON: {"type": "char", "chars": [...]} (JSON escapes newlines and tabs safely)."""
        chars = [self.ids_to_tokens[i] for i in range(len(self.special_tokens), self.vocab_size)]
        Path(path).write_text(json.dumps({"type": "char", "special_tokens": self.special_tokens,
                                          "chars": chars}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("type") != "char":
            raise ValueError(f"{path} is not a CharTokenizer file (type={data.get('type')!r})")
        return cls(data["chars"], special_tokens=tuple(data["special_tokens"]))
