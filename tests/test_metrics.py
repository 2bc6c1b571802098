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
