"""CBOW (word2vec): predict a word from the average of its neighbours' vectors.

Lecture idea: before BERT, word embeddings were learned by the same game, only
shallow. CBOW ("continuous bag of words") averages the vectors of the words
around position t and asks a linear layer to name the word at t. BERT is "a
deep-learning version of CBOW": the average becomes a stack of self-attention.

Two versions live here.

``CBOW`` is the readable one, a dozen lines on minissl's autograd::

    h = mean_c E[context_c]            (B, d)   E: (V, d) input vectors
    logits = h W^T                     (B, V)   W: (V, d) output vectors
    loss = cross_entropy(logits, target)

``train_cbow`` is the fast one, faithful to Mikolov's word2vec.c (and gensim).
A softmax over V words costs V·d per word; *negative sampling* replaces it by
k+1 binary questions, "is word o the centre word?" for the true word and for k
noise words drawn from count^0.75. With scores f_j = v_j·h and labels y_j
(1 for the true word, 0 for noise) the loss and its gradients are

    L = -Σ_j [y_j log σ(f_j) + (1-y_j) log σ(-f_j)]
    dL/df_j = σ(f_j) - y_j,   dL/dv_j = (dL/df_j) h,   dL/dh = Σ_j (dL/df_j) v_j.

Since h is the mean of `count` context vectors, dL/du_c = dL/dh / count; but
word2vec.c (cbow_mean=1), and gensim after it, add the whole -α·dL/dh to every
context vector, so we do too. Other details that matter for quality: frequent
words are dropped at random (keep probability (√(f/(t·T)) + 1)·(t·T)/f, f the
word's count, T the corpus size, t the ``sample`` threshold), the window size
is drawn uniformly from 1..W for every word, input vectors start uniform in
±0.5/d, output vectors at zero, and the learning rate falls linearly from
``alpha`` to ``min_alpha``.

Speed: a word-by-word Python loop is hopeless, so a batch of B centre words is
processed at once (B·(k+1) dot products as one batched matmul), and the three
gather/scatter steps are sparse-matrix products: with A the (B, V) averaging
matrix (A[b, w] = 1/count_b per context word), h = A U and the input update is
Aᵀ(count ⊙ Δh); with G the (B, V) matrix of the k+1 scaled errors per row, the
output update is Gᵀ h. Batching means all B words see the parameters as they
were at the start of the batch (word2vec updates after every word). B is
chosen so that no word is touched more than ~100 times per batch
(``auto_batch_size``): larger sums of stale updates make frequent words
overshoot and diverge. On head500 (benchmarks/cbow_vs_gensim.py) WordSim-353
Spearman matches gensim's; analogy accuracy is about 1.3 points lower (4.1%
vs 5.4%), a gap that smaller batches (512) did not close.

Shapes: sentences are lists of str; vectors are (V, d). Demo:
demos/cbow_embeddings.py; benchmark: benchmarks/cbow_vs_gensim.py.
"""
from __future__ import annotations

import time
from collections import Counter

from .. import backend
from .. import nn
from ..backend import xp
from ..nn import functional as F
from .word_vectors import KeyedVectors


class CBOW(nn.Module):
    """The readable CBOW: embedding -> mean over context -> linear -> softmax."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)           # input vectors  u_w
        self.out = nn.Linear(dim, vocab_size, bias=False)    # output vectors v_w (rows of the weight)

    def hidden(self, context, mask):
        """context (B, C) word ids, mask (B, C) 1.0 for real context words, 0.0 for padding -> h (B, d)."""
        e = self.embed(context) * mask.unsqueeze(-1)
        return e.sum(1) / mask.sum(1, keepdim=True)

    def forward(self, context, mask):
        return self.out(self.hidden(context, mask))          # logits (B, V)

    def loss(self, context, mask, target):
        return F.cross_entropy(self(context, mask), target)


def negative_sampling_loss(h, out_vectors, valid):
    """The negative-sampling loss with autograd: h (B, d), out_vectors (B, k+1, d) Tensors.

    Column 0 of ``out_vectors`` is the true word, the others noise; ``valid``
    (B, k+1) is 0 where a noise draw hit the true word (word2vec skips those).
    """
    scores = (out_vectors * h.unsqueeze(1)).sum(-1)
    labels = xp.zeros(scores.shape, dtype=scores.dtype)
    labels[:, 0] = 1
    from ..tensor import Tensor
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
    import numpy as np  # a one-off Python loop on the host
    p = backend.to_numpy(p).astype(np.float64) * len(p)
    prob, alias = np.ones(len(p)), np.arange(len(p))
    small, large = [i for i, x in enumerate(p) if x < 1], [i for i, x in enumerate(p) if x >= 1]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = p[s], g
        p[g] -= 1 - p[s]
        (small if p[g] < 1 else large).append(g)
    return xp.asarray(prob), xp.asarray(alias, dtype=xp.int32)


def draw_noise(table, shape, rng):
    """Words drawn from the distribution of ``alias_table`` (prob, alias)."""
    prob, alias = table
    col = rng.integers(0, len(prob), shape, dtype=xp.int32)
    return xp.where(rng.random(shape) < prob[col], col, alias[col])


def _sparse():
    if backend.on_gpu:
        import cupyx.scipy.sparse as sp
        return sp
    try:
        import scipy.sparse as sp
    except ImportError:
        raise ImportError("train_cbow needs SciPy on the CPU for its sparse gather/scatter products: "
                          "`pip install scipy` (it comes with scikit-learn, minissl[demos])") from None
    return sp


def _add_transposed_product(Y, M, X):
    """Y += Mᵀ X in place, for a CSR matrix M (B, V), X (B, d), Y (V, d): the scatter-add of a batch.

    ``Y += M.T @ X`` would allocate a fresh (V, d) array every step, and on the
    CPU the page faults of that allocation cost more than the product itself,
    so we call the C++ kernel SciPy runs for ``M.T @ X`` with Y as its output.
    """
    kernel = getattr(_sparse(), "_sparsetools", None) if not backend.on_gpu else None
    if kernel is None or not (Y.flags.c_contiguous and X.flags.c_contiguous):
        Y += M.T @ X
        return
    kernel.csc_matvecs(M.shape[1], M.shape[0], X.shape[1], M.indptr, M.indices, M.data, X.ravel(), Y.ravel())


def cbow_step(syn0, syn1neg, indptr, ctx, weight, targets, alpha, sp=None):
    """One batched SGD step, in place. Returns the batch's summed loss (a backend scalar).

    indptr (B+1,), ctx (P,), weight (P,): row b's context words are
    ctx[indptr[b]:indptr[b+1]], each with weight 1/count_b (CSR layout);
    targets (B, k+1): the centre word, then k noise words.
    """
    sp = sp or _sparse()
    B, V, k1 = len(indptr) - 1, syn0.shape[0], targets.shape[1]
    count = xp.diff(indptr).astype(syn0.dtype)
    A = sp.csr_matrix((weight, ctx, indptr), shape=(B, V))         # h = A U: mean of context vectors
    h = A @ syn0
    # take on the flat ids is ~10x faster in NumPy than syn1neg[targets] with a 2-D index
    out = xp.take(syn1neg, targets.reshape(-1), axis=0).reshape(B, k1, -1)
    valid = (targets != targets[:, :1]).astype(syn0.dtype)
    valid[:, 0] = 1
    dldf, dldh = negative_sampling_grads(h, out, valid)
    # σ(f_0) = 1 + dL/df_0 and σ(f_j) = dL/df_j for noise words: the loss comes almost for free.
    loss = -(xp.log(1 + dldf[:, 0] + 1e-7).sum() + (xp.log(1 - dldf[:, 1:] + 1e-7) * valid[:, 1:]).sum())
    G = sp.csr_matrix(((-alpha * dldf).ravel(), targets.ravel(), xp.arange(0, B * k1 + 1, k1, dtype=indptr.dtype)),
                      shape=(B, V))
    _add_transposed_product(syn1neg, G, h)                        # Σ over the batch of -α (dL/df_j) h
    _add_transposed_product(syn0, A, (-alpha) * count[:, None] * dldh)  # word2vec: all of -α dL/dh to each context
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


def auto_batch_size(counts, keep, noise_p, window, negative, max_touches=100, lo=64, hi=8192):
    """The largest batch in which no word is expected to be touched more than ``max_touches`` times.

    A word's expected touches per centre word: as the centre (its output
    vector), as a context word (about window+1 of them), as a noise word
    (k·P_noise). Inside a batch those updates are summed, not chained as
    word2vec chains them, so a very frequent word with a large learning rate
    overshoots; bounding the touches keeps batched SGD close to word2vec's.
    """
    p = counts * keep
    p = p / p.sum()
    touches = p * (1 + (window + 1)) + negative * noise_p
    return int(min(max(max_touches / float(touches.max()), lo), hi))


def epoch_examples(ids, sent, keep, noise, window, negative, rng):
    """One epoch's random draws, all at once (they do not depend on the parameters).

    Returns (position, indptr, ctx, weight, targets): for each kept centre
    word that has at least one context word, its raw corpus position (for the
    learning-rate schedule), its context words and their weights 1/count in
    CSR layout, and [centre, noise...]. ``noise`` is an ``alias_table``.
    """
    pos = xp.flatnonzero(rng.random(len(ids)) < keep[ids])    # subsampling: word2vec drops these
    w, s = ids[pos], sent[pos]                                # ... before windows are formed
    n = len(w)
    reach = draw_reach(n, window, rng)
    at = xp.arange(n)
    offsets = [o for o in range(-window, window + 1) if o != 0]
    mat = xp.empty((n, len(offsets)), dtype=xp.int32)
    ok = xp.empty((n, len(offsets)), dtype=bool)
    for c, o in enumerate(offsets):
        j = xp.clip(at + o, 0, max(n - 1, 0))
        mat[:, c] = w[j]
        ok[:, c] = (abs(o) <= reach) & (at + o >= 0) & (at + o < n) & (s[j] == s)
    count = ok.sum(1)
    has = count > 0                                           # a word alone in its sentence teaches nothing
    ctx = mat[has][ok[has]]                                   # row-major: grouped by centre word
    indptr = xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.cumsum(count[has])])
    count = count[has]
    weight = xp.repeat((1 / count).astype(xp.float32), backend.to_numpy(count).tolist() if backend.on_gpu else count)
    targets = xp.concatenate([w[has][:, None], draw_noise(noise, (len(count), negative), rng)], axis=1)
    return pos[has], indptr, ctx, weight, targets.astype(xp.int32)


def train_cbow(sentences, vector_size=100, window=5, min_count=5, negative=5, sample=1e-3, alpha=0.025,
               min_alpha=None, epochs=5, batch_size=None, seed=0, progress=True):
    """Train CBOW with negative sampling like word2vec.c (-cbow 1 -hs 0); returns (KeyedVectors, stats).

    Defaults are gensim's; ``min_alpha=None`` means word2vec.c's floor alpha·1e-4
    (gensim uses 1e-4). ``batch_size`` centre words share one SGD step; None picks
    it with ``auto_batch_size`` (thousands on subsampled corpora, ~100 without).
    stats: words_per_sec (raw corpus words × epochs / training time), seconds, loss per epoch.
    """
    for name, v in (("vector_size", vector_size), ("window", window), ("negative", negative),
                    ("epochs", epochs), ("batch_size", batch_size or 1)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    min_alpha = alpha * 1e-4 if min_alpha is None else min_alpha
    words, counts, ids, sent = build_vocab(sentences, min_count)
    sp, rng = _sparse(), xp.random.default_rng(seed)
    V, d, N = len(words), vector_size, len(ids)
    syn0 = ((rng.random((V, d), dtype=xp.float32) - 0.5) / d)       # input vectors: U(±0.5/d)
    syn1neg = xp.zeros((V, d), dtype=xp.float32)                     # output vectors: zero
    keep = keep_probability(counts, sample)
    noise_p = noise_distribution(counts)
    noise = alias_table(noise_p)
    batch_size = batch_size or auto_batch_size(counts, keep, noise_p, window, negative)
    losses, examples, start = [], 0, time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * N, unit="word", unit_scale=True, desc="cbow")
    for epoch in range(epochs):
        pos, indptr, ctx, weight, targets = epoch_examples(ids, sent, keep, noise, window, negative, rng)
        ptr, raw = backend.to_numpy(indptr), backend.to_numpy(pos)
        total = xp.zeros((), dtype=xp.float32)
        for b0 in range(0, len(raw), batch_size):
            b1 = min(b0 + batch_size, len(raw))
            lr = float(max(min_alpha, alpha - (alpha - min_alpha) * (epoch + raw[b0] / N) / epochs))
            p0, p1 = int(ptr[b0]), int(ptr[b1])
            total += cbow_step(syn0, syn1neg, (indptr[b0:b1 + 1] - p0).astype(xp.int32), ctx[p0:p1], weight[p0:p1], targets[b0:b1], lr, sp)
            if bar is not None:
                bar.update(int(raw[b1 - 1]) + 1 - bar.n + epoch * N)
        losses.append(float(total) / max(len(raw), 1))
        examples += len(raw)
        if bar is not None:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update((epoch + 1) * N - bar.n)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    stats = {"seconds": seconds, "words_per_sec": N * epochs / max(seconds, 1e-9), "loss": losses,
             "vocab_size": V, "corpus_words": N, "batch_size": batch_size, "trained_examples": examples}
    return KeyedVectors(words, backend.to_numpy(syn0), backend.to_numpy(counts)), stats
