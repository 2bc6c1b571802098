"""BERT's basic tokenizer: the clean-up that runs before WordPiece.

Steps, exactly as in the original BERT code (and Hugging Face's ``BasicTokenizer``):

1. clean: drop NUL, U+FFFD and control characters; every whitespace becomes " ";
2. put spaces around CJK ideographs, so Chinese is split per character;
3. Unicode NFC, then split on whitespace;
4. optionally lower-case, and strip accents (NFD, drop combining marks "Mn");
5. split every punctuation character into its own token.

    " \\tHeLLo!how  \\n Are yoU?  "  ->  ["hello", "!", "how", "are", "you", "?"]

Extractive QA needs to map tokens back to the text, so ``tokenize_with_offsets``
also returns, for every token, the character span ``[start, end)`` in the
*original* string that produced it.
"""
from __future__ import annotations

import unicodedata

from .base import check_text


def is_whitespace(ch: str) -> bool:
    # \t \n \r are technically control characters, but BERT treats them as space.
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # ASCII symbols such as "^$`" are not Unicode punctuation, but BERT splits them too.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(ch: str) -> bool:
    """CJK Unified Ideographs blocks (Chinese characters, also used in Japanese/Korean).

    Hiragana, Katakana and Hangul are not in these blocks: they are written with
    spaces or handled by WordPiece, exactly as in BERT.
    """
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def strip_accents(text: str) -> str:
    """"HäLLo" -> "HaLLo": decompose (NFD), then drop the combining marks."""
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn")


class BasicTokenizer:
    """Whitespace/punctuation/CJK splitting with optional lower-casing.

    strip_accents=None follows do_lower_case (BERT's uncased models strip accents).
    """

    def __init__(self, do_lower_case: bool = True, never_split=None,
                 tokenize_chinese_chars: bool = True, strip_accents=None,
                 do_split_on_punc: bool = True):
        self.do_lower_case = do_lower_case
        self.never_split = set(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.do_split_on_punc = do_split_on_punc

    def tokenize(self, text: str, never_split=None) -> list[str]:
        return [t for t, _, _ in self.tokenize_with_offsets(text, never_split)]

    # -- the pipeline, one whitespace word at a time ------------------------
    def _words(self, text: str):
        """Steps 1-3 (minus NFC): yield (word, [original index of each char])."""
        word, idx = [], []
        for i, ch in enumerate(text):
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or is_control(ch):
                continue
            # str.split() (what BERT uses) also splits on U+2028/U+2029; isspace() matches it.
            if is_whitespace(ch) or ch.isspace():
                if word:
                    yield "".join(word), idx
                word, idx = [], []
            elif self.tokenize_chinese_chars and is_cjk(ch):
                if word:
                    yield "".join(word), idx
                yield ch, [i]
                word, idx = [], []
            else:
                word.append(ch)
                idx.append(i)
        if word:
            yield "".join(word), idx

    def _normalize(self, token: str) -> str:
        if self.do_lower_case:
            token = token.lower()
            if self.strip_accents is not False:
                token = strip_accents(token)
        elif self.strip_accents:
            token = strip_accents(token)
        return token

    def _split_punc(self, token: str, never_split) -> list[str]:
        if not self.do_split_on_punc or token in never_split:
            return [token]
        out, cur = [], []
        for ch in token:
            if is_punctuation(ch):
                if cur:
                    out.append("".join(cur))
                out.append(ch)
                cur = []
            else:
                cur.append(ch)
        if cur:
            out.append("".join(cur))
        return out

    def tokenize_with_offsets(self, text: str, never_split=None):
        """Return [(token, start, end)] with ``text[start:end]`` the source of the token."""
        check_text(text, "BasicTokenizer.tokenize")
        never = self.never_split | set(never_split or ())
        result = []
        for word, idx in self._words(text):
            token = unicodedata.normalize("NFC", word)
            if token not in never:
                token = self._normalize(token)
            pieces = [p for p in self._split_punc(token, never) if p]
            result.extend(self._align(word, idx, pieces, token in never))
        return result

    def _align(self, word, idx, pieces, keep):
        """Map the pieces of one word back to original character positions.

        Normalising char by char almost always reproduces the word's normal form
        (lower-casing and accent stripping act per character); then every
        normalised character knows its source index. In the rare cases where it
        does not (NFC compositions, context-dependent lower-casing such as a
        final sigma), each piece falls back to the whole word's span.
        """
        start, end = idx[0], idx[-1] + 1
        if keep:
            return [(pieces[0], start, end)]
        chars, src = [], []
        for ch, i in zip(word, idx):
            n = self._normalize(ch)
            chars.append(n)
            src.extend([i] * len(n))
        if "".join(chars) != "".join(pieces):
            return [(p, start, end) for p in pieces]
        out, pos = [], 0
        for p in pieces:
            out.append((p, src[pos], src[pos + len(p) - 1] + 1))
            pos += len(p)
        return out
