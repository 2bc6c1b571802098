"""Collators: turn unlabelled text into (input, label) batches for self-supervision.

The model never gets labels from people; the collator makes them from the text.

MLM (BERT): choose each real, non-special token with probability p = 0.15;
of the chosen, 80% become [MASK], 10% a random non-special token, 10% stay.

    input_ids       int64 (B, T)   corrupted tokens
    attention_mask  int64 (B, T)
    labels          int64 (B, T)   original id where chosen, -100 elsewhere

(-100 is ``ignore_index`` of cross-entropy, so only chosen tokens give loss.)

NSP / SOP (sentence-level): pairs (A, B, label). NSP: B is the true next
sentence (label 0) or a random sentence from another document (label 1),
as in Hugging Face. SOP (ALBERT): two consecutive segments in order (0) or
swapped (1) -- the topic is the same either way, so only order can tell.

Next-token (GPT): inputs x = tokens[t : t+T], targets y = tokens[t+1 : t+T+1].
"""
from __future__ import annotations

import numpy as np

from .base import pad_batch

IGNORE_INDEX = -100


def mask_tokens(input_ids, rng, *, mask_id: int, vocab_size: int, special_ids=(),
                attention_mask=None, mlm_probability: float = 0.15, mask_ratio: float = 0.8,
                random_ratio: float = 0.1, word_starts=None):
    """BERT's 80/10/10 masking. Returns (corrupted input_ids, labels), both int64 (B, T).

    word_starts: optional bool (B, T), True where a word begins (whole-word
    masking: a word is chosen with probability p and all its pieces with it).
    """
    ids = np.array(input_ids, dtype=np.int64, copy=True)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (batch, time), got shape {ids.shape}")
    special = np.isin(ids, np.asarray(list(special_ids), dtype=np.int64))
    if attention_mask is not None:
        special |= np.asarray(attention_mask) == 0  # padding is never chosen
    candidates = ~special
    if word_starts is None:
        chosen = (rng.random(ids.shape) < mlm_probability) & candidates
    else:
        starts = np.asarray(word_starts, dtype=bool) & candidates
        # Each position looks up the draw made at the start of its word, so
        # all pieces of a word are chosen together.
        pos = np.where(starts, np.arange(ids.shape[1]), -1)
        start_pos = np.maximum.accumulate(pos, axis=1)
        draw = rng.random(ids.shape) < mlm_probability
        chosen = (np.take_along_axis(draw, np.maximum(start_pos, 0), axis=1)
                  & (start_pos >= 0) & candidates)
    labels = np.where(chosen, ids, IGNORE_INDEX)
    u = rng.random(ids.shape)
    to_mask = chosen & (u < mask_ratio)
    to_random = chosen & (u >= mask_ratio) & (u < mask_ratio + random_ratio)
    allowed = np.setdiff1d(np.arange(vocab_size, dtype=np.int64),
                           np.asarray(list(special_ids), dtype=np.int64))
    ids[to_mask] = mask_id
    ids[to_random] = rng.choice(allowed, size=int(to_random.sum()))
    return ids, labels


class MLMCollator:
    """Callable: list of texts, list of (A, B[, label]) pairs, or list of id lists -> MLM batch.

    For pairs, the sentence label (NSP or SOP) comes back as ``sentence_label`` (B,).
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15, max_length: int = 128,
                 whole_word_mask: bool = False, seed: int = 0):
        for name in ("mask_token_id", "pad_token_id", "all_special_ids"):
            if getattr(tokenizer, name, None) is None:
                raise ValueError(f"MLM needs a tokenizer with {name}; use a WordPieceTokenizer or CharTokenizer")
        self.tok = tokenizer
        self.p = mlm_probability
        self.max_length = max_length
        self.whole_word_mask = whole_word_mask
        self.rng = np.random.default_rng(seed)

    def __call__(self, examples):
        examples = list(examples)
        if not examples:
            raise ValueError("empty batch: pass at least one example")
        first, out = examples[0], {}
        if isinstance(first, str):
            out = dict(self.tok.encode_batch(examples, max_length=self.max_length))
        elif isinstance(first, tuple) and isinstance(first[0], str):
            a = [e[0] for e in examples]
            b = [e[1] for e in examples]
            out = dict(self.tok.encode_batch(a, b, max_length=self.max_length))
            if len(first) > 2:
                out["sentence_label"] = np.array([e[2] for e in examples], dtype=np.int64)
        else:
            ids, mask = pad_batch(examples, self.tok.pad_token_id, self.max_length)
            out = {"input_ids": ids, "attention_mask": mask}
        out.pop("offsets", None)
        out.pop("sequence_ids", None)
        starts = None
        if self.whole_word_mask:
            toks = np.vectorize(lambda i: self.tok.id_to_token(i), otypes=[object])(out["input_ids"])
            starts = ~np.vectorize(lambda t: t.startswith("##"), otypes=[bool])(toks)
        out["input_ids"], out["labels"] = mask_tokens(
            out["input_ids"], self.rng, mask_id=self.tok.mask_token_id,
            vocab_size=self.tok.vocab_size, special_ids=self.tok.all_special_ids,
            attention_mask=out["attention_mask"], mlm_probability=self.p, word_starts=starts)
        return out


def make_nsp_pairs(documents, seed: int = 0):
    """[(A, B, label)] from every consecutive sentence pair: label 0 = B is next, 1 = random.

    The random B comes from a different document, so it is genuinely not next.
    """
    docs = [d for d in documents if len(d) > 0]
    if len(docs) < 2:
        raise ValueError("NSP needs at least two documents (random B comes from another one)")
    rng = np.random.default_rng(seed)
    pairs = []
    for di, doc in enumerate(docs):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                dj = int(rng.integers(len(docs) - 1))
                dj += dj >= di  # any document but this one
                other = docs[dj]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def make_sop_pairs(documents, seed: int = 0, max_sentences: int = 4, short_seq_prob: float = 0.1):
    """[(A, B, label)] as ALBERT builds them: A, B consecutive segments of one document; 0 = in order, 1 = swapped.

    A document is cut into chunks of ``max_sentences`` consecutive sentences (with
    probability ``short_seq_prob`` a chunk is shorter, 2 to max_sentences, so short
    inputs are seen too; ALBERT does the same with its token budget). The last chunk
    takes what is left; a single leftover sentence is dropped. Each chunk is split at
    a random point into A (the sentences before it) and B (the rest), so a segment is
    a run of one or more whole sentences and the cut falls anywhere in the chunk;
    with probability 1/2 the two are swapped (label 1).
    """
    if max_sentences < 2:
        raise ValueError(f"an SOP chunk holds both segments, so max_sentences must be >= 2, got {max_sentences}")
    rng = np.random.default_rng(seed)
    pairs = []
    for doc in documents:
        i = 0
        while i + 1 < len(doc):
            size = int(rng.integers(2, max_sentences + 1)) if rng.random() < short_seq_prob else max_sentences
            chunk = doc[i:i + size]
            i += size
            if len(chunk) < 2:
                break
            cut = int(rng.integers(1, len(chunk)))
            a, b = " ".join(chunk[:cut]), " ".join(chunk[cut:])
            pairs.append((a, b, 0) if rng.random() < 0.5 else (b, a, 1))
    if not pairs:
        raise ValueError("SOP needs documents with at least two sentences")
    return pairs


def mlm_batch(examples, rng, *, mask_id: int, pad_id: int, vocab_size: int, special_ids=(),
              mlm_probability: float = 0.15) -> dict:
    """Encoded examples -> one BERT pre-training batch, masked afresh by :func:`mask_tokens`.

    ``examples``: ``(input_ids, token_type_ids, sentence_label)`` triples (lists of ints and an
    NSP/SOP label, or None for MLM alone), or plain id lists (one segment, type 0, MLM alone).
    Returns int64 arrays input_ids, attention_mask, token_type_ids, labels (B, T) and, when
    every example has one, sentence_label (B,)."""
    if not examples:
        raise ValueError("mlm_batch needs at least one (input_ids, token_type_ids, sentence_label) example")
    if any(len(e) == 0 for e in examples):
        raise ValueError("mlm_batch: an example is empty; give each its ids ([CLS] ... [SEP]) or a "
                         "(input_ids, token_type_ids, sentence_label) triple")
    examples = [(e, [0] * len(e), None) if _is_id_list(e) else e for e in examples]
    x, am = pad_batch([e[0] for e in examples], pad_id)
    tt, _ = pad_batch([e[1] for e in examples], 0)
    x, labels = mask_tokens(x, rng, mask_id=mask_id, vocab_size=vocab_size, special_ids=special_ids,
                            attention_mask=am, mlm_probability=mlm_probability)
    out = {"input_ids": x, "attention_mask": am, "token_type_ids": tt, "labels": labels}
    if all(e[2] is not None for e in examples):
        out["sentence_label"] = np.array([e[2] for e in examples], dtype=np.int64)
    return out


def _is_id_list(example) -> bool:
    """An example given as its ids alone (``[CLS] ... [SEP]``) rather than as a triple."""
    return len(example) > 0 and isinstance(example[0], (int, np.integer))


def mlm_batches(examples, batch_size: int, rng, **masking):
    """``batches(step) -> batch`` for ``minissl.train.fit``: ``batch_size`` examples drawn with
    replacement by ``rng`` (a NumPy Generator) each step, then :func:`mlm_batch` (``masking``:
    its keyword arguments). Each step sees a fresh sample and a fresh mask, as BERT's pre-training."""
    if not examples or batch_size < 1:
        raise ValueError(f"mlm_batches needs examples and batch_size >= 1, got {len(examples)} examples "
                         f"and batch_size={batch_size}")

    def batches(step):
        return mlm_batch([examples[i] for i in rng.integers(len(examples), size=batch_size)], rng, **masking)
    return batches


def lm_batch(stream, batch_size: int, block_size: int, rng):
    """Random windows of a 1-D token stream -> (x, y) int64 (batch_size, block_size), y = x shifted by one."""
    stream = np.asarray(stream, dtype=np.int64)
    if len(stream) < block_size + 1:
        raise ValueError(f"the token stream has {len(stream)} tokens; need more than block_size={block_size}")
    starts = rng.integers(0, len(stream) - block_size, size=batch_size)
    idx = starts[:, None] + np.arange(block_size)[None, :]
    return stream[idx], stream[idx + 1]


def causal_lm_collate(sequences, pad_id: int, max_length: int | None = None):
    """List of id lists -> input_ids (B, T-1), attention_mask (B, T-1), labels (B, T-1).

    labels[t] = ids[t+1], -100 where the next token is padding.
    """
    ids, mask = pad_batch(sequences, pad_id, max_length)
    labels = np.where(mask[:, 1:] == 1, ids[:, 1:], IGNORE_INDEX)
    return {"input_ids": ids[:, :-1], "attention_mask": mask[:, :-1], "labels": labels}


def seq2seq_batch(pairs, pad_id: int, bos_id: int, eos_id: int) -> dict:
    """[(source ids, target ids)] -> a teacher-forcing batch of int64 arrays.

    input_ids (B, S) and attention_mask (B, S): the source, padded. The decoder reads
    decoder_input_ids (B, T) = [BOS] y_1 .. y_n and must write labels (B, T) = y_1 .. y_n
    [EOS] (-100 on padding): at every position the label is the *next* token, so a causal
    decoder cannot copy it, and [EOS] teaches it where to stop.
    """
    if not pairs:
        raise ValueError("seq2seq_batch needs at least one (source, target) pair")
    src = [list(s) if len(s) else [pad_id] for s, _ in pairs]
    tgt = [list(t) for _, t in pairs]
    ids, mask = pad_batch(src, pad_id)
    return {"input_ids": ids, "attention_mask": mask,
            "decoder_input_ids": pad_batch([[bos_id] + t for t in tgt], pad_id)[0],
            "labels": pad_batch([t + [eos_id] for t in tgt], IGNORE_INDEX)[0]}
