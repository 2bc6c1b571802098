"""Evaluation metrics (host-side NumPy; pass NumPy arrays or lists).

accuracy            mean(pred == gold)
macro_f1            mean over classes of F1_c = 2 P_c R_c / (P_c + R_c)
exact_match, span_f1  SQuAD: lower-case, drop punctuation and a/an/the, squeeze spaces;
                    F1 over the bag of normalised tokens
roc_auc             P(score of a random positive > score of a random negative), ties count 1/2;
                    computed from ranks (Mann-Whitney U): (R_pos - n_pos (n_pos+1)/2) / (n_pos n_neg)
mrr                 mean over queries of 1 / rank of the first correct answer
spearman            Pearson correlation of the (average, for ties) ranks
cluster_purity      share of points whose cluster's majority label is their own label
perplexity          exp(mean nats per token); bits_per_char = mean nats per char / ln 2
mean_interval       mean ± t_{0.975,n-1} s/√n over seeds; verdict: "holds" if the interval is above 0
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


def mean_interval(values, level: float = 0.95) -> dict:
    """Mean of per-seed values and its Student-t interval: mean ± t_{(1+level)/2, n-1} · s / √n
    (s the sample standard deviation). One value has no interval (``lo = hi = mean``)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("mean_interval needs at least one value")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    mean = float(v.mean())
    if v.size == 1:
        return {"mean": mean, "lo": mean, "hi": mean, "n": 1}
    from scipy.stats import t
    half = float(t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": int(v.size)}


def verdict(interval: dict) -> str:
    """The claim "this difference is positive", read from its interval: "holds" when the whole
    interval is above 0, "does not hold" when it is at or below 0 entirely, else "not significant"."""
    if interval["n"] < 2:
        return "not significant"
    if interval["lo"] > 0:
        return "holds"
    if interval["hi"] <= 0:
        return "does not hold"
    return "not significant"
