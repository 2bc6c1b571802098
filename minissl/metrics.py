"""Evaluation metrics (host-side NumPy; pass NumPy arrays or lists).

accuracy            mean(pred == gold)
macro_f1            mean over classes of F1_c = 2 P_c R_c / (P_c + R_c)
bracket_f1          unlabelled bracketing F1 of one sentence's tree against gold, trivial spans dropped
exact_match, span_f1  SQuAD: lower-case, drop punctuation and a/an/the, squeeze spaces;
                    F1 over the bag of normalised tokens
roc_auc             P(score of a random positive > score of a random negative), ties count 1/2;
                    computed from ranks (Mann-Whitney U): (R_pos - n_pos (n_pos+1)/2) / (n_pos n_neg)
mrr                 mean over queries of 1 / rank of the first correct answer
spearman            Pearson correlation of the (average, for ties) ranks
cluster_purity      share of points whose cluster's majority label is their own label
perplexity          exp(mean nats per token); bits_per_char = mean nats per char / ln 2

Uncertainty (how sure a number is, DESIGN §9):
mean_ci             mean of n per-seed values ± t_{0.975, n-1} · s / √n  (Student's t interval)
bootstrap_ci        percentile interval of a statistic recomputed on rows resampled with replacement
                    (paired: the same rows for every array, so a difference keeps its pairing)
verdict             "holds" when an interval for (claimed - alternative) lies above 0, "does not hold"
                    when it lies below, "not significant" when it covers 0
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np


def accuracy(pred, gold) -> float:
    pred, gold = np.asarray(pred), np.asarray(gold)
    if pred.shape != gold.shape:
        raise ValueError(f"pred has shape {pred.shape} but gold has {gold.shape}; they must match")
    if pred.size == 0:
        raise ValueError("accuracy of zero examples is undefined; pass at least one")
    return float((pred == gold).mean())


def macro_f1(pred, gold, labels=None) -> float:
    """Unweighted mean of per-class F1 over ``labels`` (default: classes in gold or pred)."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    labels = np.unique(np.concatenate([gold, pred])) if labels is None else labels
    f1s = []
    for c in labels:
        tp = np.sum((pred == c) & (gold == c))
        fp = np.sum((pred == c) & (gold != c))
        fn = np.sum((pred != c) & (gold == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, truths) -> float:
    """1.0 if the normalised prediction equals any normalised ground truth."""
    truths = [truths] if isinstance(truths, str) else truths
    return float(max(normalize_answer(prediction) == normalize_answer(t) for t in truths))


def span_f1(prediction: str, truths) -> float:
    """Token-level F1 between normalised answers (max over ground truths)."""
    truths = [truths] if isinstance(truths, str) else truths
    best = 0.0
    p = normalize_answer(prediction).split()
    for t in truths:
        g = normalize_answer(t).split()
        if not p or not g:
            best = max(best, float(p == g))
            continue
        common = sum((Counter(p) & Counter(g)).values())
        if common:
            prec, rec = common / len(p), common / len(g)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


def bracket_f1(pred, gold, n: int) -> float:
    """Unlabelled bracketing F1 of one sentence of ``n`` words (spans are half-open (i, j)).

    Kim et al. (2019)'s convention: trivial spans, single words and the whole
    sentence, are dropped from both sides first, since every tree has them;
    spans are compared as sets. With no gold span left recall is 1, and with no
    predicted span either precision is 1 too. Average over sentences for the
    sentence-level F1."""
    def keep(spans, who):
        out = set()
        for i, j in spans:
            if not 0 <= i < j <= n:
                raise ValueError(f"{who} span ({i}, {j}) is outside a sentence of {n} words; spans are (i, j), "
                                 f"0 <= i < j <= n")
            if 1 < j - i < n:
                out.add((int(i), int(j)))
        return out
    p, g = keep(pred, "predicted"), keep(gold, "gold")
    hit = len(p & g)
    rec = hit / len(g) if g else 1.0
    prec = hit / len(p) if p else float(not g)
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def rankdata(x) -> np.ndarray:
    """Ranks 1..n; tied values get the average of their ranks."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def roc_auc(labels, scores) -> float:
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs at least one positive and one negative label")
    r = rankdata(scores)
    return float((r[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def mrr(ranks=None, scores=None, relevant=None) -> float:
    """Mean reciprocal rank. Either ``ranks`` (1-based rank of the first correct
    item per query) or ``scores`` (Q, N) with ``relevant`` (Q,) correct indices
    (ties are broken pessimistically: equal scores rank ahead)."""
    if ranks is None:
        scores = np.asarray(scores, dtype=np.float64)
        relevant = np.asarray(relevant)
        target = scores[np.arange(len(scores)), relevant]
        ranks = (scores >= target[:, None]).sum(1)
    ranks = np.asarray(ranks, dtype=np.float64)
    if np.any(ranks < 1):
        raise ValueError("ranks are 1-based; got a rank below 1")
    return float(np.mean(1.0 / ranks))


def spearman(x, y) -> float:
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError("spearman needs two 1-D sequences of the same length >= 2")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    if denom == 0:
        raise ValueError("spearman is undefined when one input is constant")
    return float((rx * ry).sum() / denom)


def cluster_purity(assign, labels) -> float:
    """Σ_clusters (count of the cluster's most common label) / N: 1.0 when every
    cluster holds one label, never below 1 / (number of distinct labels)."""
    assign, labels = np.asarray(assign).reshape(-1), np.asarray(labels).reshape(-1)
    if assign.shape != labels.shape or assign.size == 0:
        raise ValueError(f"cluster_purity needs one cluster id per label: got {assign.shape} and {labels.shape}")
    _, a = np.unique(assign, return_inverse=True)            # any ids (e.g. k-means output) -> 0..C-1
    _, y = np.unique(labels, return_inverse=True)
    table = np.zeros((a.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(table, (a, y), 1)                               # contingency table: clusters x labels
    return float(table.max(axis=1).sum() / len(labels))


def perplexity(mean_nats: float) -> float:
    """exp of the mean cross-entropy in nats per token."""
    return float(math.exp(mean_nats))


def bits_per_char(mean_nats_per_char: float) -> float:
    return float(mean_nats_per_char / math.log(2))


# Student's t quantile t_{0.975, df} for df = 1..30; beyond 30 the Cornish-Fisher
# expansion around the normal quantile is exact to 3 decimals.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
_Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (95% two-sided)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df >= 1), got df={df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_ci(values) -> dict:
    """95% interval for the mean of independent runs (e.g. one value per seed).

    mean ± t_{0.975, n-1} · s / √n, with s the sample standard deviation. Returns
    {"mean", "lo", "hi", "n", "values"}; one value gives lo = hi = None (no interval
    from a single run), which the caller must report as such."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("mean_ci needs at least one value")
    out = {"mean": float(v.mean()), "lo": None, "hi": None, "n": int(v.size), "values": [float(x) for x in v]}
    if v.size > 1:
        half = t_quantile_975(v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out


def bootstrap_ci(statistic, *arrays, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap: resample the rows (the same rows of every array), recompute
    ``statistic(*arrays)``, and take the central ``level`` share of the values.

    Use it when the uncertainty is over test items (word pairs, test sentences), e.g.
    ``bootstrap_ci(lambda a, b, h: spearman(a, h) - spearman(b, h), sim_a, sim_b, human)``.
    Returns {"value" (on the full data), "lo", "hi", "n_boot"}."""
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(f"bootstrap_ci needs arrays of one common length >= 2, got {[len(a) for a in arrays]}")
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        try:
            stats.append(statistic(*(a[idx] for a in arrays)))
        except ValueError:  # a degenerate resample (e.g. constant ranks): skip it
            continue
    if len(stats) < n_boot // 2:
        raise ValueError("more than half of the bootstrap resamples were degenerate; the data are too few")
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return {"value": float(statistic(*arrays)), "lo": float(lo), "hi": float(hi), "n_boot": len(stats)}


def verdict(lo, hi) -> str:
    """The claim "difference > 0" given the difference's interval [lo, hi]."""
    if lo is None or hi is None:
        return "not significant"
    if lo > 0:
        return "holds"
    if hi < 0:
        return "does not hold"
    return "not significant"
