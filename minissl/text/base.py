"""What every minissl tokenizer shares: a vocabulary, special tokens, batching.

A tokenizer turns a string into a list of integer ids (``encode``) and back
(``decode``). Models never see strings: they see a padded batch

    input_ids       int64 (B, T)   token ids, padded on the right with pad_id
    attention_mask  int64 (B, T)   1 for a real token, 0 for padding

where B is the number of texts and T the longest one (or ``max_length``).
The mask is what lets attention and the loss ignore padding.

Everything here is host-side NumPy; models convert to their backend at the
boundary. So are the checks every tokenizer shares: text in must be ``str``,
ids in must be integers inside the vocabulary, and tokenizer files are read
whole, validated, and written atomically (a failed save never harms the old
file).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import write_atomic

# BERT's special tokens, in the order of a standard ``vocab.txt``-independent
# vocabulary we build ourselves (so [PAD] is id 0, as models expect).
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
BERT_SPECIALS = (PAD, UNK, CLS, SEP, MASK)


def pad_batch(sequences, pad_id: int, max_length: int | None = None,
              padding: str = "longest", truncate: bool = True):
    """Pad a list of id lists into ``(input_ids, attention_mask)``, both int64 (B, T).

    padding="longest": T = longest sequence (capped at max_length);
    padding="max_length": T = max_length exactly. Sequences longer than T are
    cut on the right when ``truncate`` (else a ValueError says which one).
    """
    sequences = [list(s) for s in sequences]
    if padding not in ("longest", "max_length"):
        raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}")
    if padding == "max_length" and max_length is None:
        raise ValueError("padding='max_length' needs max_length=...; pass it or use padding='longest'")
    longest = max((len(s) for s in sequences), default=0)
    T = max_length if padding == "max_length" else (
        longest if max_length is None else min(longest, max_length))
    ids = np.full((len(sequences), T), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), T), dtype=np.int64)
    for i, s in enumerate(sequences):
        if len(s) > T and not truncate:
            raise ValueError(f"sequence {i} has {len(s)} tokens > max_length={T}; "
                             "pass truncate=True or a larger max_length")
        s = s[:T]
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return ids, mask


class TokenizerFileError(ValueError):
    """A tokenizer file that is not exactly what a save wrote: the message names
    the file, the line (or field) and the problem."""


def check_text(text, where: str, name: str = "text") -> str:
    """Return ``text`` if it is a str; otherwise raise a TypeError saying what it is."""
    if isinstance(text, str):
        return text
    kind = type(text).__name__
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(f"{where}: {name} must be a str, got {kind}; bytes are not text, "
                        f"decode them first, e.g. {name}.decode('utf-8')")
    hint = "; for several texts use encode_batch()" if isinstance(text, (list, tuple)) else ""
    raise TypeError(f"{where}: {name} must be a str, got {kind}{hint}")


def is_integer(v) -> bool:
    """A Python or NumPy integer, but not a bool (True is an int to Python, not an id)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def as_ids(ids, vocab_size: int, where: str) -> list[int]:
    """Any sequence of token ids -> a flat list of Python ints, each in [0, vocab_size).

    Accepts lists of ints, NumPy integer arrays and scalars, and integer tensors
    (minissl's or PyTorch's: anything with ``.numpy()``). A float id such as 5.9
    is refused rather than cut to 5: it means the caller passed the wrong array.
    """
    if isinstance(ids, (str, bytes, bytearray)):
        raise TypeError(f"{where}: ids must be integers, got a {type(ids).__name__}; "
                        "to turn text into ids use encode()")
    if hasattr(ids, "numpy") and not isinstance(ids, (np.ndarray, np.generic)):
        ids = ids.numpy()  # a Tensor: its values, on the host
    try:
        arr = np.asarray(ids)
    except ValueError:  # NumPy refuses ragged nested lists
        raise TypeError(f"{where}: ids must be one flat list (or a rectangular array) of integers, "
                        "got a ragged nested list; decode each row separately") from None
    flat = arr.reshape(-1)
    if flat.size == 0:
        return []
    if flat.dtype.kind not in "iu":
        values = flat.tolist()
        # An object array may hold Python ints too big for int64: they are integers,
        # and the range check below reports them as out of range.
        bad = [v for v in values if not is_integer(v)] if flat.dtype == object else values
        if bad:
            bad = bad[0]
            raise TypeError(f"{where}: ids must be integers, got {bad!r} (dtype {arr.dtype}); "
                            "cast them with int() or .astype(np.int64) if they are whole numbers")
    outside = np.asarray((flat < 0) | (flat >= vocab_size), dtype=bool)
    if outside.any():
        bad = flat[int(outside.argmax())]
        raise IndexError(f"{where}: id {bad} is out of range for vocabulary size {vocab_size} "
                         f"(ids run from 0 to {vocab_size - 1})")
    return [int(v) for v in flat.tolist()]


def check_id(i, vocab_size: int, where: str) -> int:
    """One token id (int, NumPy integer, 0-d array or tensor) -> a Python int in range."""
    if is_integer(i) and 0 <= i < vocab_size:  # the common case, kept cheap
        return int(i)
    if not is_integer(i) and np.ndim(i.numpy() if hasattr(i, "numpy") else i) != 0:
        raise TypeError(f"{where}: takes one id, got {type(i).__name__}; "
                        "for a sequence use convert_ids_to_tokens() or decode()")
    return as_ids(i, vocab_size, where)[0]


def read_tokenizer_file(path, what: str, how_to_make: str) -> str:
    """The whole file as text, strictly UTF-8 (a bad byte is reported with its line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}; {how_to_make}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise TokenizerFileError(f"{path}, line {line}: byte {e.start} is not valid UTF-8 ({e.reason}); "
                                 f"a {what} is UTF-8 text") from None


def write_tokenizer_file(path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically: the bytes are made first, then written to a
    temporary file beside ``path``, flushed to disk and renamed over it. A failure at
    any point leaves the previous file as it was."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"cannot save to {path}: {text[e.start:e.end]!r} (a lone surrogate) "
                         "has no UTF-8 form; remove it from the vocabulary") from None
    write_atomic(os.fspath(path), [data])


def merge_pair(symbols, a, b, new):
    """Replace every non-overlapping adjacent (a, b) in ``symbols``, left to right, by ``new``:
    the one step that both BPE and WordPiece training (and BPE encoding) repeat."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


class VocabTokenizer:
    """Base for tokenizers with an explicit token <-> id table.

    Subclasses implement ``tokenize(text) -> list[str]`` and
    ``convert_tokens_to_string(tokens) -> str``.
    """

    def __init__(self, vocab, unk_token: str | None = UNK, pad_token: str | None = PAD,
                 special_tokens=BERT_SPECIALS):
        tokens = list(vocab)
        for i, t in enumerate(tokens):
            if not isinstance(t, str):
                raise TypeError(f"{type(self).__name__}: vocabulary token {i} is {t!r} "
                                f"({type(t).__name__}), not a str")
        # Id = line number. A vocab.txt may repeat a line; as in Hugging Face's
        # load_vocab the last occurrence wins for token -> id, but every line
        # keeps its id, so the embedding table has len(tokens) rows.
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.ids_to_tokens = dict(enumerate(tokens))
        self.unk_token, self.pad_token = unk_token, pad_token
        if "" in special_tokens:  # it would match between every two characters of a text
            raise ValueError(f"{type(self).__name__}: a special token is empty; remove it")
        self.special_tokens = [t for t in special_tokens if t in self.vocab]
        if unk_token is not None and unk_token not in self.vocab:
            raise ValueError(f"the vocabulary has no {unk_token!r} token; add it "
                             "(BERT vocabularies list it near the top)")

    # --- the table -------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.ids_to_tokens) if self.ids_to_tokens else 0

    def __len__(self) -> int:
        return self.vocab_size

    def token_to_id(self, token: str) -> int:
        if token in self.vocab:
            return self.vocab[token]
        if self.unk_token is None:
            raise KeyError(f"token {token!r} is not in the vocabulary")
        return self.vocab[self.unk_token]

    def id_to_token(self, i: int) -> str:
        return self.ids_to_tokens[check_id(i, self.vocab_size, f"{type(self).__name__}.id_to_token")]

    def convert_tokens_to_ids(self, tokens):
        return [self.token_to_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        ids = as_ids(ids, self.vocab_size, f"{type(self).__name__}.convert_ids_to_tokens")
        return [self.ids_to_tokens[i] for i in ids]

    def _special_id(self, token):
        return self.vocab.get(token) if token is not None else None

    @property
    def pad_token_id(self):
        return self._special_id(self.pad_token)

    @property
    def unk_token_id(self):
        return self._special_id(self.unk_token)

    @property
    def cls_token_id(self):
        return self._special_id(CLS)

    @property
    def sep_token_id(self):
        return self._special_id(SEP)

    @property
    def mask_token_id(self):
        return self._special_id(MASK)

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in self.special_tokens]

    # --- encode / decode -------------------------------------------------
    def encode(self, text: str) -> list[int]:
        check_text(text, f"{type(self).__name__}.encode")
        return self.convert_tokens_to_ids(self.tokenize(text))

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        ids = as_ids(ids, self.vocab_size, f"{type(self).__name__}.decode")
        if skip_special_tokens:
            special = set(self.all_special_ids)
            ids = [i for i in ids if i not in special]
        return self.convert_tokens_to_string([self.ids_to_tokens[i] for i in ids])

    def encode_batch(self, texts, max_length: int | None = None, padding: str = "longest"):
        """Encode many texts into a dict of int64 arrays (B, T): input_ids, attention_mask."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; for one string use encode()")
        pad = self.pad_token_id
        if pad is None:
            raise ValueError("this tokenizer has no pad token; give it one to batch")
        ids, mask = pad_batch([self.encode(t) for t in texts], pad, max_length, padding)
        return {"input_ids": ids, "attention_mask": mask}
