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
import re
from collections import Counter

from .base import (BERT_SPECIALS, UNK, TokenizerFileError, VocabTokenizer, check_text,
                   read_tokenizer_file, write_tokenizer_file)

FORMAT_VERSION = 1  # of the JSON file save() writes; load() refuses versions it does not know


class CharTokenizer(VocabTokenizer):
    """Per-character tokenizer. Ids: ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4`` then characters."""

    def __init__(self, chars, special_tokens=BERT_SPECIALS):
        chars = [c for c in chars if c not in special_tokens]
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
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
        elif isinstance(texts, (bytes, bytearray)):
            check_text(texts, "CharTokenizer.from_corpus", "texts")
        counts = Counter()
        for k, t in enumerate(texts):
            counts.update(check_text(t, "CharTokenizer.from_corpus", f"texts[{k}]"))
        chars = sorted((c for c, n in counts.items() if n >= min_freq),
                       key=lambda c: (-counts[c], ord(c)))
        if max_size is not None:
            chars = chars[:max(0, max_size - len(BERT_SPECIALS))]
        if not chars:
            raise ValueError("the corpus has no characters (after min_freq); pass non-empty text")
        return cls(chars)

    def tokenize(self, text: str) -> list[str]:
        check_text(text, "CharTokenizer.tokenize")
        # Special tokens are not recognised inside raw text: a learner's text
        # containing "[MASK]" means the six characters, not the mask.
        return [c if c in self.vocab else UNK for c in text]

    def convert_tokens_to_string(self, tokens) -> str:
        return "".join(tokens)

    def save(self, path) -> None:
        """JSON: {"type": "char", "version": 1, "special_tokens": [...], "chars": [...]}.

        JSON escapes newlines and tabs, so any character is safe. Written atomically:
        a failed save leaves the previous file untouched.
        """
        chars = [self.ids_to_tokens[i] for i in range(len(self.special_tokens), self.vocab_size)]
        obj = {"type": "char", "version": FORMAT_VERSION, "special_tokens": self.special_tokens,
               "chars": chars}
        text = json.dumps(obj, ensure_ascii=False)  # readable: 你 stays 你
        if re.search("[\ud800-\udfff]", text):
            # A lone surrogate has no UTF-8 form; JSON's \uXXXX escapes carry it instead.
            text = json.dumps(obj)
        write_tokenizer_file(path, text)

    @classmethod
    def load(cls, path):
        """Read a file written by ``save``, checking all of it (one sentence per problem)."""
        text = read_tokenizer_file(path, "CharTokenizer file", "create one with CharTokenizer.save()")

        def bad(problem):
            return TokenizerFileError(f"{path}: {problem}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TokenizerFileError(f"{path}, line {e.lineno}: not valid JSON ({e.msg} at column "
                                     f"{e.colno}); the file is damaged, save the tokenizer again") from None
        if not isinstance(data, dict):
            raise bad(f"a CharTokenizer file holds a JSON object, found a {type(data).__name__}")
        if data.get("type") != "char":
            raise bad(f"not a CharTokenizer file (type={data.get('type')!r})")
        version = data.get("version", 1)  # files from before the field existed are version 1
        if version != FORMAT_VERSION:
            raise bad(f"format version {version!r} is not supported (this minissl reads version "
                      f"{FORMAT_VERSION}); use the minissl that wrote it")
        for key in ("special_tokens", "chars"):
            if key not in data:
                raise bad(f"field {key!r} is missing; the file is incomplete, save the tokenizer again")
            if not isinstance(data[key], list) or not all(isinstance(t, str) for t in data[key]):
                raise bad(f"field {key!r} must be a list of strings")
        seen = {}
        for key in ("special_tokens", "chars"):
            for k, t in enumerate(data[key]):
                if key == "chars" and len(t) != 1:
                    raise bad(f"field 'chars' entry {k} is {t!r}, not a single character")
                if t in seen:  # two ids for one token: one of them could never be produced
                    raise bad(f"{t!r} appears twice (field {seen[t][0]!r} entry {seen[t][1]} "
                              f"and field {key!r} entry {k})")
                seen[t] = (key, k)
        try:
            return cls(data["chars"], special_tokens=tuple(data["special_tokens"]))
        except ValueError as e:
            raise bad(str(e)) from None
