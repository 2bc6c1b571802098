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

from .. import backend
from ..backend import xp
from ..tensor import no_grad
from ..text import pad_batch

POOLINGS = ("pieces", "first", "all")


@no_grad()
def word_vectors(model, tokenizer, words, batch_size: int = 128) -> dict:
    """``{pooling: (L+1, W, H) float32 NumPy array}`` for each word fed alone; batches group
    words of equal length so that little padding is computed."""
    seqs = [tokenizer.encode(w) for w in words]
    order = sorted(range(len(words)), key=lambda i: len(seqs[i]))
    was = model.training
    model.eval()
    out = None
    for s in range(0, len(order), batch_size):
        idx = xp.asarray(order[s:s + batch_size])
        ids, mask = (xp.asarray(a) for a in pad_batch([seqs[int(i)] for i in idx], tokenizer.pad_id))
        hidden = xp.stack([h.array for h in model(ids, mask).hidden_states])     # (L+1, B, T, H)
        inner = mask.copy()
        inner[:, 0] = 0
        inner[xp.arange(len(idx)), mask.sum(1) - 1] = 0                            # the word's pieces only
        if out is None:
            out = {p: xp.zeros((hidden.shape[0], len(words), hidden.shape[-1]), xp.float32) for p in POOLINGS}
        for pooling, m in (("pieces", inner), ("all", mask)):
            w = m[None, :, :, None].astype(xp.float32)
            out[pooling][:, idx] = (hidden * w).sum(2) / xp.maximum(w.sum(2), 1)
        out["first"][:, idx] = hidden[:, :, 1]
    model.train(was)
    return {p: backend.to_numpy(v) for p, v in out.items()}


def unit(m):
    m = xp.asarray(m, xp.float64)
    return m / xp.maximum(xp.linalg.norm(m, axis=-1, keepdims=True), 1e-12)


def ranks(src, tgt, gold):
    """1-based rank of the best-scoring correct candidate for each query (a NumPy array);
    ``gold`` (Q, N) boolean marks the correct ones. Ties count against the query."""
    sim = unit(src) @ unit(tgt).T
    gold = xp.asarray(gold, bool)
    if sim.shape != gold.shape or not bool(gold.any(1).all()):
        raise ValueError(f"gold must be (queries, candidates) = {sim.shape} with a correct candidate in every row")
    best = xp.where(gold, sim, -xp.inf).max(1)
    return backend.to_numpy(1 + (xp.where(gold, -xp.inf, sim) >= best[:, None]).sum(1))


def scores(r) -> dict:
    r = xp.asarray(r, xp.float64)
    return {"mrr": float((1 / r).mean()), "p1": float((r <= 1).mean()), "p5": float((r <= 5).mean())}


def shift(a, b, a_ref=None):
    """The lecture's mean shift; language A's mean is taken over ``a_ref`` (default ``a``).
    Like the other maps here: NumPy arrays in, NumPy arrays out."""
    a, b = xp.asarray(a, xp.float64), xp.asarray(b, xp.float64)
    a_ref = a if a_ref is None else xp.asarray(a_ref, xp.float64)
    return backend.to_numpy(a - a_ref.mean(0) + b.mean(0)), backend.to_numpy(b)


def centre(a, b, a_ref=None):
    a, b = xp.asarray(a, xp.float64), xp.asarray(b, xp.float64)
    a_ref = a if a_ref is None else xp.asarray(a_ref, xp.float64)
    return backend.to_numpy(a - a_ref.mean(0)), backend.to_numpy(b - b.mean(0))


def _unit_centre(x, ref):
    return unit(x) - unit(ref).mean(0)


def centre_norm(a, b, a_ref=None):
    """Unit length then centre, twice, each language by its own mean."""
    a_ref = a if a_ref is None else a_ref
    a, a_ref = _unit_centre(a, a_ref), _unit_centre(a_ref, a_ref)
    b = _unit_centre(b, b)
    return backend.to_numpy(_unit_centre(a, a_ref)), backend.to_numpy(_unit_centre(b, b))


def pair_offset(a_train, b_train):
    """The mean translation vector over known pairs, ``mean(v_B(t) - v_A(w))``: the shift
    estimated *with* a dictionary (rows of ``a_train`` and ``b_train`` are pairs)."""
    return backend.to_numpy((xp.asarray(b_train, xp.float64) - xp.asarray(a_train, xp.float64)).mean(0))
