"""Tree structure as a latent variable: a neural PCFG learns to bracket sentences from raw text.

Lecture idea ("tree structure as embedding"): a sentence's hidden structure can
be learned with no tree labels, only by asking a model with a tree inside it to
explain the sentence. Here the model is a probabilistic context-free grammar
whose rule probabilities come from small neural nets (the "neural PCFG" of Kim,
Dyer & Rush 2019, "Compound Probabilistic Context-Free Grammars for Grammar
Induction"; the same group's URNNG, arXiv 1904.03746, uses this inside algorithm
for its CRF parser). Symbols: NT nonterminals (which span two or more words),
T preterminals (which span one word), S = NT + T.

    p(tree, x) = π(root -> A) · Π π(A -> B C) · Π π(T -> word)
    π(root -> A) = softmax_A(MLP(e_root)),   π(A -> B C) = softmax_{B,C}(W e_A),
    π(T -> w)    = softmax_w(MLP(e_T))          e: learned symbol embeddings

Training maximises log p(x) = log Σ_tree p(tree, x), which the inside algorithm
sums over all (Catalan many) binary trees and labellings in O(n³) steps. With
β(i, k, A) = log p(A derives words i..k) (inclusive, 0-based):

    β(i, i, T) = log π(T -> x_i)
    β(i, k, A) = logsumexp_{B, C, j}  [log π(A -> B C) + β(i, j, B) + β(j+1, k, C)]
    log p(x)   = logsumexp_A [log π(root -> A) + β(0, n-1, A)]

Every step is a minissl op, so backward gives the gradient for training.
Per width w the logsumexp over split points j and children (B, C) is taken as
a matrix product of shifted exponentials, log Σ exp(a + b) = log(exp(a - m) ·
exp(b - m')) + m + m' (m, m' the maxima): the same value as broadcasting
(batch, spans, NT, splits, S, S) and reducing, without building that array.
Terms below e^-87 of the largest term vanish in float32; float64 keeps e^-700.

Span marginals are a gradient. Add a zero potential s(i, k) to every β(i, k, ·);
then ∂ log p(x) / ∂ s(i, k) = p((i, k) is a constituent | x), the share of
trees (weighted by probability) that contain the span. ``span_marginals`` reads
them off backward, and ``mbr_tree`` (CKY) returns the binary tree with the most
expected correct spans (minimum Bayes risk decoding).

Shapes: ``words`` (B, n) integer ids, padded with any valid id after each
sentence's ``lengths`` (B,); padded words only reach spans that are never read.
log_root (NT,), log_rule (NT, S, S), log_emit (T, V) -> log p(x) (B,).
Spans are half-open word intervals (i, j). Demo: ``demos/tree_induction.py``.
"""
from __future__ import annotations

from .. import backend, nn
from ..backend import xp
from ..nn import functional as F
from ..ops import cat, stack
from ..tensor import Tensor

NEG = -1e9  # log of "impossible": a nonterminal cannot cover one word, a preterminal cannot cover two


def logsumexp(x: Tensor, dim: int) -> Tensor:
    """log Σ exp(x) over ``dim``, shifted by the (constant) maximum so no exp overflows."""
    m = xp.max(x.array, axis=dim, keepdims=True)
    return (x - m).exp().sum(dim).log() + xp.squeeze(m, axis=dim)


def _check(words, lengths):
    words = backend.asarray(words)
    lengths = backend.to_numpy(backend.asarray(lengths)).astype("int64").reshape(-1)  # host: read per sentence
    if words.ndim != 2 or len(lengths) != words.shape[0]:
        raise ValueError(f"words must be (B, n) ids with one length per row; got words {words.shape}, "
                         f"{len(lengths)} lengths")
    if lengths.min() < 2 or lengths.max() > words.shape[1]:
        raise ValueError(f"every sentence needs 2 to n={words.shape[1]} words, got lengths "
                         f"{lengths.min()}..{lengths.max()}; drop one-word sentences")
    return words, lengths


def inside(log_root: Tensor, log_rule: Tensor, log_emit: Tensor, words, lengths, span_pot=None) -> Tensor:
    """log p(x) for each sentence by the inside algorithm (the formula above).

    ``span_pot`` (B, n, n), optional: potential added to β of the span starting
    at i with width w+1 at ``[b, i, w]``; its gradient is the span marginals."""
    words, lengths = _check(words, lengths)
    B, n = words.shape
    NT, S = log_rule.shape[0], log_rule.shape[1]
    T = S - NT
    dt = log_rule.dtype
    rmax = xp.max(log_rule.array.reshape(NT, -1), axis=1)                       # (NT,)
    rule_p = (log_rule.reshape(NT, S * S) - rmax[:, None]).exp().transpose(0, 1)  # (S*S, NT)
    emit = log_emit.transpose(0, 1)[words]                                        # (B, n, T)
    cells = [None, cat([Tensor(xp.full((B, n, NT), NEG, dtype=dt), _internal=True), emit], -1)]
    for w in range(2, n + 1):
        K = n - w + 1                                                  # spans of width w
        left = stack([cells[u][:, :K] for u in range(1, w)], 2)       # (B, K, w-1, S): words i .. i+u-1
        right = stack([cells[w - u][:, u:u + K] for u in range(1, w)], 2)  # words i+u .. i+w-1
        m_left = xp.max(left.array, axis=-1, keepdims=True)
        m_right = xp.max(right.array, axis=-1, keepdims=True)
        m = xp.max(m_left + m_right, axis=2, keepdims=True)                  # (B, K, 1, 1)
        # Σ_u exp(left_uB + right_uC - m) as one matmul over u; right carries the split's own shift,
        # exp(right - m_right) · exp(m_left + m_right - m), so every factor is at most 1
        pairs = (left - m_left).exp().transpose(2, 3) @ (right + (m_left - m)).exp()  # (B, K, S, S)
        beta = (pairs.reshape(B, K, S * S) @ rule_p).log() + (m.reshape(B, K, 1) + rmax)
        if span_pot is not None:
            beta = beta + span_pot[:, :K, w - 1].unsqueeze(-1)
        cells.append(cat([beta, Tensor(xp.full((B, K, T), NEG, dtype=dt), _internal=True)], -1))
    top = stack([cells[w][:, 0, :NT] for w in range(2, n + 1)], 1)   # (B, n-1, NT): spans (0, w)
    whole = top[xp.arange(B), backend.asarray(lengths - 2)]          # (B, NT): each sentence's own length
    return logsumexp(whole + log_root, -1)


class NeuralPCFG(nn.Module):
    """A PCFG whose rule probabilities are computed from symbol embeddings (Kim et al. 2019's neural PCFG).

    Like the auto-encoders, a density model: ``forward(words, lengths)`` is log p(x) per sentence (B,),
    and the training objective is ``loss(words, lengths)``, -log p(x) in nats per word."""

    def __init__(self, vocab_size: int, nt: int = 10, t: int = 20, dim: int = 64):
        super().__init__()
        if min(vocab_size, nt, t, dim) < 1:
            raise ValueError(f"vocab_size, nt, t and dim must be positive, got {vocab_size}, {nt}, {t}, {dim}")
        self.nt, self.t, self.vocab_size = nt, t, vocab_size
        S = nt + t
        self.root_emb = nn.Parameter(backend.rng().standard_normal((1, dim)).astype(xp.float32))
        self.nt_emb = nn.Embedding(nt, dim)
        self.t_emb = nn.Embedding(t, dim)
        self.root_mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, nt))
        self.rule = nn.Linear(dim, S * S)
        self.emit_mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, vocab_size))

    def rules(self):
        """(log π(root -> A) (NT,), log π(A -> B C) (NT, S, S), log π(T -> w) (T, V))."""
        S = self.nt + self.t
        log_root = F.log_softmax(self.root_mlp(self.root_emb), -1).reshape(self.nt)
        log_rule = F.log_softmax(self.rule(self.nt_emb.weight), -1).reshape(self.nt, S, S)
        log_emit = F.log_softmax(self.emit_mlp(self.t_emb.weight), -1)
        return log_root, log_rule, log_emit

    def forward(self, words, lengths) -> Tensor:
        return inside(*self.rules(), words, lengths)

    def loss(self, words, lengths) -> Tensor:
        """-Σ log p(x) / number of words in the batch (padding not counted)."""
        return -self(words, lengths).sum() / float(backend.to_numpy(backend.asarray(lengths)).sum())

    def span_marginals(self, words, lengths):
        """(B, n, n+1) host array: [b, i, j] = p(words i..j-1 form a constituent | sentence b), for j-i >= 2."""
        words, lengths = _check(words, lengths)
        B, n = words.shape
        rules = [r.detach() for r in self.rules()]
        pot = Tensor(xp.zeros((B, n, n)), dtype=rules[0].dtype, requires_grad=True)
        inside(*rules, words, lengths, span_pot=pot).sum().backward()
        g = pot.grad.array
        out = xp.zeros((B, n, n + 1), dtype=g.dtype)
        for w in range(2, n + 1):
            out[:, xp.arange(n - w + 1), xp.arange(w, n + 1)] = g[:, :n - w + 1, w - 1]
        return backend.to_numpy(out)


def mbr_tree(score, n: int) -> list:
    """CKY: the binary tree over n words whose spans have the largest total ``score[i, j]``.

    With span marginals as scores this is the minimum-Bayes-risk tree. Returns its
    n-1 spans of two or more words, (i, j) half-open, the whole sentence last."""
    best = {(i, i + 1): (0.0, None) for i in range(n)}
    for w in range(2, n + 1):
        for i in range(n - w + 1):
            j = i + w
            k = max(range(i + 1, j), key=lambda k: best[(i, k)][0] + best[(k, j)][0])
            best[(i, j)] = (float(score[i, j]) + best[(i, k)][0] + best[(k, j)][0], k)
    out = []

    def walk(i, j):
        if j - i >= 2:
            k = best[(i, j)][1]
            walk(i, k)
            walk(k, j)
            out.append((i, j))
    walk(0, n)
    return out


def right_branching(n: int) -> list:
    """[w0 [w1 [w2 ...]]]: spans (i, n)."""
    return [(i, n) for i in range(n - 2, -1, -1)]


def left_branching(n: int) -> list:
    """[[[w0 w1] w2] ...]: spans (0, j)."""
    return [(0, j) for j in range(2, n + 1)]


def random_tree(n: int, rng) -> list:
    """A random binary tree: each span splits at a point drawn uniformly from its j-i-1 choices."""
    out = []

    def split(i, j):
        if j - i >= 2:
            k = int(rng.integers(i + 1, j))
            split(i, k)
            split(k, j)
            out.append((i, j))
    split(0, n)
    return out
