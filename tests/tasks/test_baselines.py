"""Measured baselines that the docstrings of minissl.tasks.core state."""
import numpy as np
import pytest

from minissl.tasks import baseline_scores, bow_logreg_accuracy, load_task


def test_logreg_learns_a_separable_bag_of_words():
    texts = ["good fine"] * 20 + ["bad awful"] * 20
    y = [1] * 20 + [0] * 20
    assert bow_logreg_accuracy(texts, y, ["good", "awful"], [1, 0]) == 1.0


@pytest.fixture(scope="module")
def scores():
    return {name: baseline_scores(load_task(name, 1000, 0, 500, seed=0))
            for name in ("sentiment", "nli", "dna", "pos", "qa")}


def test_baselines_are_weak_but_not_degenerate(scores):
    s = scores
    print(s)
    assert 0.4 < s["sentiment"]["majority"] < 0.6
    assert s["sentiment"]["bow_logreg"] < 0.6           # negation (half the clauses) defeats bag-of-words: 0.52
    assert 0.28 < s["nli"]["majority"] < 0.4
    assert s["nli"]["bow_logreg"] < 0.8
    assert abs(s["dna"]["bow_logreg"] - 0.5) < 0.06      # base counts carry no signal
    assert s["pos"]["majority"] < 0.4 and s["pos"]["per_word_majority"] > 0.9
    assert 0.05 < s["qa"]["first_noun_em"] < 0.2         # 0.12: the subject of the first sentence
