"""Cross-lingual word alignment in a real encoder, measured on real dictionaries.

Does a multilingual encoder put a word and its translation close together, and at
which layer? Each word is fed alone (``<s> ▁word </s>``) and represented at every
layer by pooling its hidden states (``pieces``: mean over the word's own pieces;
``first``: its first piece; ``all``: mean including ``<s>``/``</s>``). For an
English word ``w`` with correct translations ``G(w)`` among candidates ``C``:

    rank(w) = 1 + #{c in C \\ G(w) : cos(v(w), v(c)) >= max_{g in G(w)} cos(v(w), v(g))}
    MRR = mean_w 1 / rank(w),     P@k = mean_w [rank(w) <= k]

Translation without a dictionary starts from the observation that each language's
vectors sit in their own region: a shared *language direction* separates them.
Removing it needs no pairs, only each language's word list:

    shift:   v_A <- v_A - mean(A) + mean(B)          (the lecture's mean shift)
    centre:  v_A <- v_A - mean(A),  v_B <- v_B - mean(B)
    centre+norm: unit length, centre, unit length, centre again (each language alone)

The means are over each language's word list (``a_ref``: all drawn words of A).

The supervised reference point is the same shift estimated from known pairs,
``v_A <- v_A + mean over pairs of (v_B(t) - v_A(w))``: it uses the dictionary. (An
orthogonal Procrustes map needs more pairs than dimensions, 384 here, to be
determined; a few hundred pairs leave most of it arbitrary.)

Shapes: word vectors (L+1, W, H), layer 0 = embeddings. Host-side NumPy.
Demo: ``demos/multilingual_real.py``.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import xp
from ..tensor import no_grad

POOLINGS = ("pieces", "first", "all")


@no_grad()
def word_vectors(model, tokenizer, words, batch_size: int = 128) -> dict:
    """``{pooling: (L+1, W, H) float32}`` for each word fed alone; batches group words of
    equal length so that little padding is computed."""
    seqs = [tokenizer.encode(w) for w in words]
    order = sorted(range(len(words)), key=lambda i: len(seqs[i]))
    was = model.training
    model.eval()
    out = None
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        T = max(len(seqs[i]) for i in idx)
        ids = np.full((len(idx), T), tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), T), dtype=np.int64)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])], mask[r, :len(seqs[i])] = seqs[i], 1
        hidden = np.stack([backend.to_numpy(h.array) for h in model(xp.asarray(ids), xp.asarray(mask)).hidden_states])
        lengths = mask.sum(1)
        inner = mask.copy()
        inner[:, 0] = 0
        inner[np.arange(len(idx)), lengths - 1] = 0                     # the word's pieces only
        if out is None:
            out = {p: np.zeros((hidden.shape[0], len(words), hidden.shape[-1]), np.float32) for p in POOLINGS}
        for pooling, m in (("pieces", inner), ("all", mask)):
            w = m[None, :, :, None].astype(np.float32)
            out[pooling][:, idx] = (hidden * w).sum(2) / np.maximum(w.sum(2), 1)
        out["first"][:, idx] = hidden[:, :, 1]
    model.train(was)
    return out


def unit(m):
    m = np.asarray(m, np.float64)
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-12)


def ranks(src, tgt, gold) -> np.ndarray:
    """1-based rank of the best-scoring correct candidate for each query; ``gold`` (Q, N)
    boolean marks the correct ones. Ties count against the query."""
    sim = unit(src) @ unit(tgt).T
    gold = np.asarray(gold, bool)
    if sim.shape != gold.shape or not gold.any(1).all():
        raise ValueError(f"gold must be (queries, candidates) = {sim.shape} with a correct candidate in every row")
    best = np.where(gold, sim, -np.inf).max(1)
    return 1 + (np.where(gold, -np.inf, sim) >= best[:, None]).sum(1)


def scores(r) -> dict:
    r = np.asarray(r)
    return {"mrr": float((1 / r).mean()), "p1": float((r <= 1).mean()), "p5": float((r <= 5).mean())}


def shift(a, b, a_ref=None):
    """The lecture's mean shift; language A's mean is taken over ``a_ref`` (default ``a``)."""
    a_ref = a if a_ref is None else a_ref
    return a - a_ref.mean(0) + b.mean(0), b


def centre(a, b, a_ref=None):
    a_ref = a if a_ref is None else a_ref
    return a - a_ref.mean(0), b - b.mean(0)


def _unit_centre(x, ref):
    return unit(x) - unit(ref).mean(0)


def centre_norm(a, b, a_ref=None):
    """Unit length then centre, twice, each language by its own mean."""
    a_ref = a if a_ref is None else a_ref
    a, a_ref = _unit_centre(a, a_ref), _unit_centre(a_ref, a_ref)
    b = _unit_centre(b, b)
    return _unit_centre(a, a_ref), _unit_centre(b, b)


def pair_offset(a_train, b_train):
    """The mean translation vector over known pairs, ``mean(v_B(t) - v_A(w))``: the shift
    estimated *with* a dictionary (rows of ``a_train`` and ``b_train`` are pairs)."""
    return (np.asarray(b_train, np.float64) - np.asarray(a_train, np.float64)).mean(0)


def char_ngrams(words, n_min: int, n_max: int, vocab=None):
    """Count vectors of the character n-grams of ``<word>`` (the spelling baseline), (W, G)."""
    grams = [[f"<{w.lower()}>"[i:i + n] for n in range(n_min, n_max + 1) for i in range(len(w) + 3 - n)]
             for w in words]
    vocab = vocab if vocab is not None else {g: k for k, g in enumerate(sorted({g for gs in grams for g in gs}))}
    m = np.zeros((len(words), len(vocab)), np.float32)
    for r, gs in enumerate(grams):
        for g in gs:
            if g in vocab:
                m[r, vocab[g]] += 1
    return m, vocab
