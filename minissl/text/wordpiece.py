"""WordPiece, BERT's tokenizer: basic clean-up, then greedy longest-match-first.

Each word from the basic tokenizer is cut into the longest prefix found in the
vocabulary, then the longest continuation found with a ``##`` marker, and so on:

    "unwanted" -> "un" + "##want" + "##ed"      (vocab has un, ##want, ##ed)

A word that cannot be cut this way, or is longer than 100 characters, becomes a
single ``[UNK]``. BERT inputs then look like

    single:  [CLS] A [SEP]              token_type_ids 0 ... 0
    pair:    [CLS] A [SEP] B [SEP]      token_type_ids 0 ... 0 1 ... 1

and each token carries the character span (start, end) of the text it came
from, which is what extractive QA uses to turn predicted tokens into an answer.
The output equals Hugging Face's ``BertTokenizer`` on the same ``vocab.txt``.
"""
from __future__ import annotations

import re

import numpy as np

from .base import (BERT_SPECIALS, CLS, SEP, UNK, TokenizerFileError, VocabTokenizer, check_text,
                   pad_batch, read_tokenizer_file, write_tokenizer_file)
from .basic import BasicTokenizer


class WordPieceTokenizer(VocabTokenizer):
    """BERT tokenizer over a list of vocabulary tokens (id = position)."""

    def __init__(self, vocab, do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                 strip_accents=None, max_input_chars_per_word: int = 100,
                 special_tokens=BERT_SPECIALS):
        super().__init__(vocab, special_tokens=special_tokens)
        for i, t in self.ids_to_tokens.items():
            # vocab.txt is one token per line (and text mode reads \r as a line end too):
            # a token with a line break would become two lines and shift every later id.
            if "\n" in t or "\r" in t:
                raise ValueError(f"WordPieceTokenizer: vocabulary token {i} {t!r} contains a line break; "
                                 "vocab.txt holds one token per line, so it would shift every later id "
                                 "on save/load")
        for t in (CLS, SEP):
            if t not in self.vocab:
                raise ValueError(f"the vocabulary has no {t} token; BERT inputs need it")
        self.do_lower_case = do_lower_case
        self.basic = BasicTokenizer(do_lower_case, never_split=self.special_tokens,
                                    tokenize_chinese_chars=tokenize_chinese_chars,
                                    strip_accents=strip_accents)
        self.max_input_chars_per_word = max_input_chars_per_word
        # Special tokens written in the text ("a [MASK] b") are kept whole, as in HF.
        specials = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = re.compile("|".join(map(re.escape, specials))) if specials else None

    # -- construction --------------------------------------------------------
    @classmethod
    def from_file(cls, path, **kwargs):
        """Load a standard BERT ``vocab.txt`` (one token per line; id = line number)."""
        text = read_tokenizer_file(path, "vocabulary file", "pass the path of a BERT vocab.txt")
        # Line ends as Python's text mode (and so Hugging Face) reads them: \n, \r\n or \r.
        tokens = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if tokens[-1] == "":
            tokens.pop()  # the final newline ends the last line; it does not start a new token
        if not tokens:
            raise TokenizerFileError(f"{path} is empty; a vocab.txt lists one token per line")
        try:
            return cls(tokens, **kwargs)
        except ValueError as e:  # e.g. no [CLS]: say which file
            raise TokenizerFileError(f"{path}: {e}") from None

    load = from_file

    def save(self, path) -> None:
        """Write ``vocab.txt``: one token per line, line number = id (atomically)."""
        tokens = [self.ids_to_tokens[i] for i in range(self.vocab_size)]
        write_tokenizer_file(path, "\n".join(tokens) + "\n")

    @classmethod
    def from_words(cls, words, add_alphabet: bool = True, **kwargs):
        """Vocabulary = specials + the given words (each one token) (+ letters and ##letters).

        With ``add_alphabet`` every lower-case ASCII letter, digit and its ``##``
        form is added too, so unseen words split into letters instead of [UNK].
        """
        vocab, seen = list(BERT_SPECIALS), set(BERT_SPECIALS)
        extra = []
        if add_alphabet:
            alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
            extra = list(alphabet) + ["##" + c for c in alphabet] + list(".,;:!?'\"()-")
        for w in list(words) + extra:
            if w not in seen:
                seen.add(w)
                vocab.append(w)
        return cls(vocab, **kwargs)

    @classmethod
    def train(cls, texts, vocab_size: int, min_frequency: int = 2, **kwargs):
        """Learn a WordPiece vocabulary from texts (see ``wordpiece_train``)."""
        from .wordpiece_train import train_wordpiece_vocab
        basic = BasicTokenizer(kwargs.get("do_lower_case", True))
        return cls(train_wordpiece_vocab(texts, vocab_size, basic, min_frequency), **kwargs)

    # -- tokenizing ------------------------------------------------------------
    def wordpiece(self, word: str) -> list[tuple[str, int, int]]:
        """Greedy longest-match-first split of one word: [(piece, start, end)] in the word."""
        if len(word) > self.max_input_chars_per_word:
            return [(UNK, 0, len(word))]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:  # no prefix matched: the whole word is unknown
                return [(UNK, 0, len(word))]
            out.append((piece, start, end))
            start = end
        return out

    def tokenize_with_offsets(self, text: str) -> list[tuple[str, int, int]]:
        """[(token, start, end)] with text[start:end] the characters behind each token."""
        check_text(text, "WordPieceTokenizer.tokenize")
        chunks, pos = [], 0
        if self._special_re is not None:
            for m in self._special_re.finditer(text):
                chunks.append((pos, m.start(), None))
                chunks.append((m.start(), m.end(), m.group()))
                pos = m.end()
        chunks.append((pos, len(text), None))
        out = []
        for a, b, special in chunks:
            if special is not None:
                out.append((special, a, b))
                continue
            for word, s, e in self.basic.tokenize_with_offsets(text[a:b]):
                if word in self.special_tokens:
                    out.append((word, a + s, a + e))
                    continue
                exact = (e - s) == len(word)  # piece offsets are exact only if lengths agree
                for piece, ps, pe in self.wordpiece(word):
                    out.append((piece, a + s + ps, a + s + pe) if exact else (piece, a + s, a + e))
        return out

    def tokenize(self, text: str) -> list[str]:
        return [t for t, _, _ in self.tokenize_with_offsets(text)]

    def convert_tokens_to_string(self, tokens) -> str:
        return " ".join(tokens).replace(" ##", "").strip()

    # -- model inputs ----------------------------------------------------------
    def encode_plus(self, text, text_pair=None, add_special_tokens: bool = True,
                    max_length: int | None = None, truncation="longest_first",
                    padding=False):
        """One example -> dict of Python lists:

        input_ids, token_type_ids, attention_mask, offsets [(start, end)] ((0, 0)
        for special and padding tokens), sequence_ids (0 for A, 1 for B, None
        for specials and padding), tokens.
        """
        check_text(text, "WordPieceTokenizer.encode_plus")
        if text_pair is not None:
            check_text(text_pair, "WordPieceTokenizer.encode_plus", "text_pair")
        a = self.tokenize_with_offsets(text)
        b = self.tokenize_with_offsets(text_pair) if text_pair is not None else None
        n_special = (3 if b is not None else 2) if add_special_tokens else 0
        if max_length is not None and truncation:
            a, b = _truncate(a, b, max_length - n_special, truncation)
        toks, offs, seq, type_ids = [], [], [], []

        def add(items, sid):
            for t, s, e in items:
                toks.append(t), offs.append((s, e)), seq.append(sid), type_ids.append(sid)

        def special(t, type_id):
            toks.append(t), offs.append((0, 0)), seq.append(None), type_ids.append(type_id)

        if add_special_tokens:
            special(CLS, 0)
        add(a, 0)
        if add_special_tokens:
            special(SEP, 0)
        if b is not None:
            add(b, 1)
            if add_special_tokens:
                special(SEP, 1)  # the closing [SEP] belongs to segment B
        enc = {"input_ids": self.convert_tokens_to_ids(toks), "token_type_ids": type_ids,
               "attention_mask": [1] * len(toks), "offsets": offs, "sequence_ids": seq,
               "tokens": toks}
        if padding == "max_length" and max_length is not None:
            n = max_length - len(toks)
            if n > 0:
                enc["input_ids"] += [self.pad_token_id] * n
                enc["token_type_ids"] += [0] * n
                enc["attention_mask"] += [0] * n
                enc["offsets"] += [(0, 0)] * n
                enc["sequence_ids"] += [None] * n
                enc["tokens"] += [self.pad_token] * n
        return enc

    __call__ = encode_plus

    def encode(self, text, text_pair=None, add_special_tokens: bool = True,
               max_length: int | None = None, truncation="longest_first") -> list[int]:
        check_text(text, "WordPieceTokenizer.encode")
        return self.encode_plus(text, text_pair, add_special_tokens, max_length,
                                truncation)["input_ids"]

    def encode_batch(self, texts, text_pairs=None, max_length: int | None = None,
                     padding: str = "longest", truncation="longest_first",
                     add_special_tokens: bool = True):
        """Many examples -> input_ids, token_type_ids, attention_mask: int64 (B, T);

        plus offsets and sequence_ids as lists of lists (ragged, unpadded).
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; for one string use encode_plus()")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs; they pair up one to one")
        encs = [self.encode_plus(t, None if text_pairs is None else text_pairs[i],
                                 add_special_tokens, max_length, truncation)
                for i, t in enumerate(texts)]
        ids, mask = pad_batch([e["input_ids"] for e in encs], self.pad_token_id, max_length, padding)
        types, _ = pad_batch([e["token_type_ids"] for e in encs], 0, max_length, padding)
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
                "offsets": [e["offsets"] for e in encs],
                "sequence_ids": [e["sequence_ids"] for e in encs]}


def _truncate(a, b, budget, strategy):
    """Cut token lists to fit ``budget``. longest_first removes one token at a
    time from the longer list (from B on a tie), as Hugging Face does."""
    if budget < 0:
        raise ValueError("max_length is smaller than the number of special tokens; raise max_length")
    if strategy is True:
        strategy = "longest_first"
    if strategy not in ("longest_first", "only_first", "only_second"):
        raise ValueError(f"truncation must be longest_first, only_first or only_second, got {strategy!r}")
    a, b = list(a), (list(b) if b is not None else None)
    nb = len(b) if b is not None else 0
    excess = len(a) + nb - budget
    if excess <= 0:
        return a, b
    if strategy == "only_first" or b is None:
        if excess > len(a):
            raise ValueError("cannot truncate the first sequence enough; raise max_length")
        return a[:len(a) - excess], b
    if strategy == "only_second":
        if excess > len(b):
            raise ValueError("cannot truncate the second sequence enough; raise max_length")
        return a, b[:len(b) - excess]
    na = len(a)
    for _ in range(excess):
        if na > nb:
            na -= 1
        else:
            nb -= 1
    return a[:na], b[:nb]


def ids_to_array(ids) -> np.ndarray:
    """Helper: a list of ids as an int64 array (B=1 models take ``[None]``)."""
    return np.asarray(ids, dtype=np.int64)
