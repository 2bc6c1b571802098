import itertools
import math

import numpy as np
import pytest

from minissl.metrics import (accuracy, bits_per_char, cluster_purity, exact_match, macro_f1, mrr, perplexity,
                             rankdata, roc_auc, span_f1, spearman)


def test_accuracy_and_macro_f1():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    # class 0: tp=0 -> F1 0; class 1: tp=2, fp=1, fn=1 -> F1 = 4/6
    assert macro_f1([1, 0, 1, 1], [1, 1, 1, 0]) == pytest.approx((0 + 4 / 6) / 2)
    with pytest.raises(ValueError, match="shape"):
        accuracy([1, 2], [1])


def test_squad_em_and_f1():
    assert exact_match("The Cat!", "cat") == 1.0
    assert exact_match("a dog", ["cat", "the dog"]) == 1.0
    assert span_f1("the big dog", "dog") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert span_f1("cat", "dog") == 0.0


def test_roc_auc_equals_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.integers(0, 10, 200).astype(float)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    direct = sum((p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))
    assert roc_auc(y, s) == pytest.approx(direct)
    assert roc_auc([0, 1], [0.1, 0.9]) == 1.0


def test_mrr():
    assert mrr(ranks=[1, 2, 4]) == pytest.approx((1 + 0.5 + 0.25) / 3)
    scores = np.array([[0.1, 0.9, 0.3], [0.8, 0.1, 0.2]])
    assert mrr(scores=scores, relevant=[2, 0]) == pytest.approx((1 / 2 + 1) / 2)


def test_spearman_hand_case_and_scipy():
    # x ranks 1,2,3,4,5; y = (1,3,2,5,4) -> d^2 sum = 0+1+1+1+1 = 4 -> rho = 1 - 6*4/(5*24) = 0.8
    assert spearman([10, 20, 30, 40, 50], [1, 3, 2, 5, 4]) == pytest.approx(0.8)
    assert rankdata([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 50), rng.integers(0, 5, 50)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_cluster_purity_by_hand():
    # clusters {5,5,3}, {3,3}, {1}: majorities 2 + 2 + 1 of 6 points
    assert cluster_purity([0, 0, 0, 1, 1, 2], [5, 5, 3, 3, 3, 1]) == pytest.approx(5 / 6)
    assert cluster_purity([7, 7, -1, -1], ["a", "b", "a", "b"]) == pytest.approx(0.5)   # any ids, any labels
    assert cluster_purity([0, 0, 0, 0], [0, 1, 2, 3]) == pytest.approx(0.25)         # one cluster: 1/#labels
    with pytest.raises(ValueError, match="one cluster id per label"):
        cluster_purity([0, 1], [0, 1, 2])


def test_perplexity_bits():
    assert perplexity(math.log(50)) == pytest.approx(50)
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats", reason="scipy is the reference for Student's t")
    from minissl.metrics import t_quantile_975
    for df in list(range(1, 40)) + [50, 100, 1000]:
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1.5e-3)


def test_mean_ci_is_students_t_interval():
    from minissl.metrics import mean_ci
    r = mean_ci([0.70, 0.72, 0.68, 0.75, 0.71])
    s = np.std([0.70, 0.72, 0.68, 0.75, 0.71], ddof=1)
    assert r["mean"] == pytest.approx(0.712)
    assert r["hi"] - r["mean"] == pytest.approx(2.776 * s / np.sqrt(5))
    one = mean_ci([0.5])
    assert one["lo"] is None and one["hi"] is None  # no interval from one run
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


def test_mean_ci_covers_the_true_mean_95_percent_of_the_time():
    from minissl.metrics import mean_ci
    rng = np.random.default_rng(0)
    hits = sum(r["lo"] < 1.0 < r["hi"] for r in (mean_ci(rng.normal(1.0, 2.0, 5)) for _ in range(4000)))
    assert 0.94 < hits / 4000 < 0.96  # binomial SE 0.0034


def test_bootstrap_ci_keeps_the_pairing_and_brackets_the_value():
    from minissl.metrics import bootstrap_ci, spearman
    rng = np.random.default_rng(0)
    human = rng.normal(size=300)
    a = human + rng.normal(scale=0.5, size=300)  # closer to the human scores than b
    b = human + rng.normal(scale=2.0, size=300)
    r = bootstrap_ci(lambda x, y, h: spearman(x, h) - spearman(y, h), a, b, human, n_boot=200)
    assert r["lo"] < r["value"] < r["hi"] and r["lo"] > 0
    with pytest.raises(ValueError, match="common length"):
        bootstrap_ci(np.mean, np.ones(3), np.ones(4))


def test_verdict_reads_the_interval():
    from minissl.metrics import verdict
    assert verdict(0.01, 0.2) == "holds"
    assert verdict(-0.2, -0.01) == "does not hold"
    assert verdict(-0.1, 0.1) == "not significant"
    assert verdict(None, None) == "not significant"
