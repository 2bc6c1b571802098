"""word2vec's CBOW trainer with negative sampling, faithful to Mikolov's word2vec.c (and gensim).

The model is :class:`minissl.models.cbow.CBOW`'s; only the training differs. A softmax
over V words costs V·d per word; *negative sampling* replaces it by k+1 binary questions, "is word o the centre word?" for the true word and for k
noise words drawn from count^0.75. With scores f_j = v_j·h and labels y_j
(1 for the true word, 0 for noise) the loss and its gradients are

    L = -Σ_j [y_j log σ(f_j) + (1-y_j) log σ(-f_j)]
    dL/df_j = σ(f_j) - y_j,   dL/dv_j = (dL/df_j) h,   dL/dh = Σ_j (dL/df_j) v_j.

Since h is the mean of `count` context vectors, dL/du_c = dL/dh / count; but
word2vec.c (cbow_mean=1), and gensim after it, add the whole -α·dL/dh to every
context vector, so we do too. Other details that matter for quality: frequent
words are dropped at random (``keep_probability``), the window size is drawn
uniformly from 1..W for every word, input vectors start uniform in
±init_range/d (word2vec.c: 0.5; gensim 4: 1.0, measurably better on small
corpora, because the output vectors start at zero and grow in proportion to the
inputs: a smaller start is a slower start), output vectors at zero, and the
learning rate falls linearly to ``min_alpha``.

Speed: B consecutive centre words of the (subsampled) stream share one step.
Their windows overlap, so the B+2W words they cover are fetched once and h is
a *convolution* of that stretch with a masked box filter (``window_sum``); the
input update is its transpose (``window_sum_transposed``). Updates land with
``backend.scatter_add``: a frequent word appears many times in a batch and must
receive all of them, which ``syn0[ids] += ...`` would not do. All B words see
the parameters as they were at the start of the batch (word2vec updates after
every word), so B is kept small enough that no word is touched more than ~100
times per batch (``auto_batch_size``); larger sums of stale updates make
frequent words overshoot.

Shapes: sentences are lists of str; vectors are (V, d). Demo:
demos/cbow_embeddings.py; speed and quality against gensim:
benchmarks/cbow_vs_gensim.py.
"""
from __future__ import annotations

import time
from collections import Counter

from tqdm.auto import tqdm

from .. import backend
from ..backend import xp
from ..nn import functional as F
from ..tensor import Tensor
from .word_vectors import KeyedVectors


def negative_sampling_loss(h, out_vectors, valid):
    """The negative-sampling loss with autograd: h (B, d), out_vectors (B, k+1, d) Tensors.

    Column 0 of ``out_vectors`` is the true word, the others noise; ``valid``
    (B, k+1) is 0 where a noise draw hit the true word (word2vec skips those).
    """
    scores = (out_vectors * h.unsqueeze(1)).sum(-1)
    labels = xp.zeros(scores.shape, dtype=scores.dtype)
    labels[:, 0] = 1
    per = F.binary_cross_entropy_with_logits(scores, Tensor(labels, _internal=True), reduction="none")
    return (per * Tensor(xp.asarray(valid, dtype=scores.dtype), _internal=True)).sum()


def negative_sampling_grads(h, out_vectors, valid):
    """Hand-derived: dL/df (B, k+1) and dL/dh (B, d) of ``negative_sampling_loss``.

    dL/dv_j = dL/df_j · h is not formed here: the trainer scatters it directly.
    """
    f = xp.einsum("bkd,bd->bk", out_vectors, h)  # einsum beats a batched matmul for k+1 rows
    dldf = 1 / (1 + xp.exp(-f))                  # σ(f) - y, with y = 1 in column 0
    dldf[:, 0] -= 1
    dldf *= valid
    dldh = xp.matmul(dldf[:, None, :], out_vectors)[:, 0]
    return dldf, dldh


# ---------------------------------------------------------------- sampling (word2vec.c's rules)
def noise_distribution(counts, power: float = 0.75):
    """P(w) ∝ count(w)^0.75: rare words drawn more often than their frequency."""
    p = xp.asarray(counts, dtype=xp.float64) ** power
    return p / p.sum()


def keep_probability(counts, sample: float):
    """word2vec.c's subsampling: keep a word of count f with (√(f/(t·T)) + 1)·(t·T)/f, capped at 1."""
    counts = xp.asarray(counts, dtype=xp.float64)
    if sample <= 0:
        return xp.ones_like(counts)
    tT = sample * counts.sum()
    return xp.minimum((xp.sqrt(counts / tT) + 1) * tT / counts, 1.0)


def draw_reach(n: int, window: int, rng):
    """Dynamic window: each word looks `reach` words to each side, reach uniform in 1..window."""
    return window - rng.integers(0, window, n)


def alias_table(p):
    """Walker's alias method (Vose's construction): draw from p in O(1) per sample.

    Column i holds word i with probability prob[i] and word alias[i] otherwise;
    every column carries mass 1/V, so a uniform column plus one coin flip is an
    exact draw. (word2vec.c uses a 10^8-entry lookup table to the same end.)
    """
    p = (backend.to_numpy(p) * len(p)).tolist()   # a one-off Python loop on the host: lists are fastest
    prob, alias = [1.0] * len(p), list(range(len(p)))
    small, large = [i for i, x in enumerate(p) if x < 1], [i for i, x in enumerate(p) if x >= 1]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = p[s], g
        p[g] -= 1 - p[s]
        (small if p[g] < 1 else large).append(g)
    return xp.asarray(prob, dtype=xp.float32), xp.asarray(alias, dtype=xp.int32)


def draw_noise(table, shape, rng):
    """Words drawn from the distribution of ``alias_table`` (prob, alias)."""
    prob, alias = table
    col = rng.integers(0, len(prob), shape, dtype=xp.int32)
    return xp.where(rng.random(shape, dtype=xp.float32) < prob[col], col, alias[col])


def window_sum(u, weights):
    """out[b] = Σ_c weights[b, c] · u[b + c]: u (B+C-1, d), weights (B, C) -> (B, d).

    A 1-D convolution whose kernel changes with the position b: one batched
    matrix-vector product over the windows of u, taken as a view (no copy).
    """
    (B, C), d, (s0, s1) = weights.shape, u.shape[1], u.strides
    win = xp.lib.stride_tricks.as_strided(u, (B, d, C), (s0, s1, s0))      # win[b, :, c] = u[b + c]
    return xp.matmul(win, weights[:, :, None])[:, :, 0]


def window_sum_transposed(g, weights):
    """The adjoint of ``window_sum``: out[q] = Σ_c weights[q-c, c] · g[q-c], (B, d) -> (B+C-1, d).

    Row q collects from every b whose window covers it. With j = C-1-c it is a
    window_sum again, over g padded by C-1 zero rows on each side, with the
    kernel w[q, j] = r[q+j, j] read along the diagonals of r, the padded,
    column-reversed weights.
    """
    B, C = weights.shape                                     # (xp.pad would cost more than the product)
    gp = xp.zeros((B + 2 * (C - 1), g.shape[1]), dtype=g.dtype)
    gp[C - 1:C - 1 + B] = g
    r = xp.zeros((B + 2 * (C - 1), C), dtype=weights.dtype)
    r[C - 1:C - 1 + B] = weights[:, ::-1]
    w = xp.lib.stride_tricks.as_strided(r, (B + C - 1, C), (r.strides[0], r.strides[0] + r.strides[1]))
    return window_sum(gp, w)


def cbow_step(syn0, syn1neg, span, mask, targets, alpha):
    """One batched SGD step on B consecutive centre words, in place. Returns the summed loss (a backend scalar).

    span (B+2W,): the ids of the B centre words with W more words on each
    side, so centre b's window is span[b : b+2W+1]; mask (B, 2W+1): True
    where a word of that window is a real context word (never the centre,
    column W); targets (B, k+1): the centre word, then k noise words.
    """
    B, k1 = targets.shape
    m = mask.astype(syn0.dtype)
    count = m.sum(1, keepdims=True)                           # (B, 1) context words per centre
    # The mean over the window is a convolution of the stretch with a masked box filter:
    # fetch each word once (B+2W rows) instead of gathering B·2W rows.
    u = xp.take(syn0, span, axis=0)
    h = window_sum(u, m) / xp.maximum(count, 1)               # (B, d)
    out = xp.take(syn1neg, targets.reshape(-1), axis=0).reshape(B, k1, -1)     # (B, k+1, d)
    valid = (targets != targets[:, :1]).astype(syn0.dtype)
    valid[:, 0] = 1
    valid *= count > 0                                        # a word without context teaches nothing
    dldf, dldh = negative_sampling_grads(h, out, valid)
    # σ(f_0) = 1 + dL/df_0 and σ(f_j) = dL/df_j for noise words: the loss comes almost for free.
    loss = -((xp.log(1 + dldf[:, :1] + 1e-7) * valid[:, :1]).sum() + (xp.log(1 - dldf[:, 1:] + 1e-7) * valid[:, 1:]).sum())
    # Scatter-adds, not `+=`: a frequent word appears many times in a batch and must get every update.
    backend.scatter_add(syn1neg, targets.reshape(-1), ((-alpha) * dldf[:, :, None] * h[:, None, :]).reshape(B * k1, -1))
    # word2vec adds all of -α dL/dh to each context word (not dL/dh / count)
    backend.scatter_add(syn0, span, window_sum_transposed((-alpha) * dldh, m))
    return loss  # reading it would force a GPU sync, so the trainer sums on the device


# ---------------------------------------------------------------- the trainer
def build_vocab(sentences, min_count: int = 5, max_sentence_length: int = 10000):
    """Words seen at least ``min_count`` times, most frequent first; the corpus as id arrays.

    Returns (words, counts, ids, sentence_of_each_id). Rare words are removed
    before windows are formed (word2vec.c and gensim do the same); sentences
    longer than ``max_sentence_length`` are cut, as gensim cuts them.
    """
    if isinstance(sentences, str) or (sentences and isinstance(sentences[0], str)):
        raise TypeError("sentences must be a list of token lists, e.g. [['the', 'cat'], ['a', 'dog']]; "
                        "split your text with minissl.text.word_tokenize")
    counter = Counter(w for s in sentences for w in s)
    words = [w for w, c in sorted(counter.items(), key=lambda kv: -kv[1]) if c >= min_count]
    if not words:
        raise ValueError(f"no word occurs at least min_count={min_count} times; lower min_count or use more text")
    index = {w: i for i, w in enumerate(words)}
    ids, sent, s_no = [], [], 0
    for s in sentences:
        kept = [index[w] for w in s if w in index]
        for start in range(0, len(kept), max_sentence_length):
            chunk = kept[start:start + max_sentence_length]
            ids.extend(chunk)
            sent.extend([s_no] * len(chunk))
            s_no += 1
    counts = [counter[w] for w in words]
    return words, xp.asarray(counts, dtype=xp.int64), xp.asarray(ids, dtype=xp.int32), xp.asarray(sent, dtype=xp.int32)


def auto_batch_size(counts, keep, noise_p, window, negative, max_touches=100, lo=64, hi=None):
    """The largest batch in which no word is expected to be touched more than ``max_touches`` times.

    A word's expected touches per centre word: as the centre (its output
    vector), as a context word (about window+1 of them), as a noise word
    (k·P_noise). Inside a batch those updates are summed, not chained as
    word2vec chains them, so a very frequent word with a large learning rate
    overshoots; bounding the touches keeps batched SGD close to word2vec's.
    ``hi``: 512 on a CPU (larger batches fall out of the cache and cost more
    per word), 8192 on a GPU (which wants big batches).
    """
    hi = hi or (8192 if backend.on_gpu else 512)
    p = counts * keep
    p = p / p.sum()
    touches = p * (1 + (window + 1)) + negative * noise_p
    return int(min(max(max_touches / float(touches.max()), lo), hi))


def epoch_examples(ids, sent, keep, noise, window, negative, rng):
    """One epoch's random draws, all at once (they do not depend on the parameters).

    Subsampling drops words before windows are formed (as word2vec does); the
    n kept words are the epoch's stream. Returns their raw corpus positions
    (for the learning-rate schedule); the stream's ids padded by W ids on each
    side (n+2W,), so that word t's window is stream[t : t+2W+1]; the (n, 2W+1)
    mask of real context words in it (dynamic window, same sentence; never the
    word itself, column W); and [centre, noise...] (n, k+1) drawn from ``noise``.
    """
    pos = xp.flatnonzero(rng.random(len(ids)) < keep[ids])
    w, s = ids[pos], sent[pos]
    n = len(w)
    reach = draw_reach(n, window, rng)
    at = xp.arange(n)
    mask = xp.zeros((n, 2 * window + 1), dtype=bool)
    for o in range(-window, window + 1):
        if o != 0:
            j = xp.clip(at + o, 0, max(n - 1, 0))
            mask[:, window + o] = (abs(o) <= reach) & (at + o >= 0) & (at + o < n) & (s[j] == s)
    pad = xp.zeros(window, dtype=w.dtype)                     # never inside a window: the mask is False there
    targets = xp.concatenate([w[:, None], draw_noise(noise, (n, negative), rng)], axis=1)
    return pos, xp.concatenate([pad, w, pad]), mask, targets.astype(xp.int32)


def train_cbow(sentences, vector_size=100, window=5, min_count=5, negative=5, sample=1e-3, alpha=0.025,
               min_alpha=None, epochs=5, batch_size=None, seed=0, progress=True, init_range=0.5):
    """Train CBOW with negative sampling like word2vec.c (-cbow 1 -hs 0); returns (KeyedVectors, stats).

    Defaults are gensim's; ``min_alpha=None`` means word2vec.c's floor alpha·1e-4
    (gensim uses 1e-4); ``init_range=0.5`` is word2vec.c's U(±0.5/d) start (gensim 4 uses 1.0).
    ``batch_size`` centre words share one SGD step; None picks
    it with ``auto_batch_size`` (512 on a CPU for subsampled corpora, ~100 without).
    stats: words_per_sec (raw corpus words × epochs / training time), seconds, loss per epoch.
    """
    for name, v in (("vector_size", vector_size), ("window", window), ("negative", negative),
                    ("epochs", epochs), ("batch_size", batch_size or 1)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    min_alpha = alpha * 1e-4 if min_alpha is None else min_alpha
    words, counts, ids, sent = build_vocab(sentences, min_count)
    rng = xp.random.default_rng(seed)
    V, d, N = len(words), vector_size, len(ids)
    syn0 = (2 * rng.random((V, d), dtype=xp.float32) - 1) * (init_range / d)  # input vectors: U(±init_range/d)
    syn1neg = xp.zeros((V, d), dtype=xp.float32)                     # output vectors: zero
    keep = keep_probability(counts, sample)
    noise_p = noise_distribution(counts)
    noise = alias_table(noise_p)
    batch_size = batch_size or auto_batch_size(counts, keep, noise_p, window, negative)
    losses, examples, start = [], 0, time.perf_counter()
    bar = tqdm(total=epochs * N, unit="word", unit_scale=True, desc="cbow", disable=not progress)
    for epoch in range(epochs):
        pos, stream, mask, targets = epoch_examples(ids, sent, keep, noise, window, negative, rng)
        raw, n_examples = backend.to_numpy(pos), int(mask.any(1).sum())
        total = xp.zeros((), dtype=xp.float32)
        for b0 in range(0, len(raw), batch_size):
            b1 = min(b0 + batch_size, len(raw))
            lr = float(max(min_alpha, alpha - (alpha - min_alpha) * (epoch + raw[b0] / N) / epochs))
            total += cbow_step(syn0, syn1neg, stream[b0:b1 + 2 * window], mask[b0:b1], targets[b0:b1], lr)
            bar.update(int(raw[b1 - 1]) + 1 - bar.n + epoch * N)
        losses.append(float(total) / max(n_examples, 1))
        examples += n_examples
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.update((epoch + 1) * N - bar.n)
    bar.close()
    seconds = time.perf_counter() - start
    stats = {"seconds": seconds, "words_per_sec": N * epochs / max(seconds, 1e-9), "loss": losses,
             "vocab_size": V, "corpus_words": N, "batch_size": batch_size, "trained_examples": examples}
    return KeyedVectors(words, syn0, counts), stats
