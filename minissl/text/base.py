"""What every minissl tokenizer shares: a vocabulary, special tokens, batching.

A tokenizer turns a string into a list of integer ids (``encode``) and back
(``decode``). Models never see strings: they see a padded batch

    input_ids       int64 (B, T)   token ids, padded on the right with pad_id
    attention_mask  int64 (B, T)   1 for a real token, 0 for padding

where B is the number of texts and T the longest one (or ``max_length``).
The mask is what lets attention and the loss ignore padding.

Everything here is host-side NumPy; models convert to their backend at the
boundary.
"""
from __future__ import annotations

import numpy as np

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
        # Id = line number. A vocab.txt may repeat a line; as in Hugging Face's
        # load_vocab the last occurrence wins for token -> id, but every line
        # keeps its id, so the embedding table has len(tokens) rows.
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.ids_to_tokens = dict(enumerate(tokens))
        self.unk_token, self.pad_token = unk_token, pad_token
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
        try:
            return self.ids_to_tokens[int(i)]
        except KeyError:
            raise IndexError(f"id {i} is outside the vocabulary (size {self.vocab_size})") from None

    def convert_tokens_to_ids(self, tokens):
        return [self.token_to_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        return [self.id_to_token(i) for i in ids]

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
        return self.convert_tokens_to_ids(self.tokenize(text))

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        if skip_special_tokens:
            special = set(self.all_special_ids)
            ids = [i for i in ids if i not in special]
        return self.convert_tokens_to_string(self.convert_ids_to_tokens(ids))

    def encode_batch(self, texts, max_length: int | None = None, padding: str = "longest"):
        """Encode many texts into a dict of int64 arrays (B, T): input_ids, attention_mask."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; for one string use encode()")
        pad = self.pad_token_id
        if pad is None:
            raise ValueError("this tokenizer has no pad token; give it one to batch")
        ids, mask = pad_batch([self.encode(t) for t in texts], pad, max_length, padding)
        return {"input_ids": ids, "attention_mask": mask}
