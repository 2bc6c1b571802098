"""The trivial baselines: what each one can and cannot see, by construction."""
from collections import Counter

import numpy as np

from minissl.tasks import baseline_scores, bow_logreg_accuracy, load_task, majority_accuracy


def test_bag_of_words_learns_a_separable_vocabulary():
    texts = ["good fine"] * 20 + ["bad awful"] * 20
    y = [1] * 20 + [0] * 20
    order = np.random.default_rng(0).permutation(40)  # the validation split (the last 20%) sees both classes
    texts, y = [texts[i] for i in order], [y[i] for i in order]
    assert bow_logreg_accuracy(texts, y, ["good", "awful", "fine fine"], [1, 0, 1]) == 1.0


def test_bag_of_words_cannot_see_negation():
    """label = polarity XOR "not": the counts of good, bad and not are the same for both labels
    ("not good" and "good" differ only by "not", which flips both ways), so no linear read-out of
    the counts beats 3 of 4 right, and the best it can do on balanced test cases is 3/4."""
    texts = ["good", "not good", "bad", "not bad"] * 30
    y = [1, 0, 0, 1] * 30
    acc = bow_logreg_accuracy(texts, y, ["good", "not good", "bad", "not bad"] * 5, [1, 0, 0, 1] * 5)
    assert acc <= 0.75


def test_bag_of_words_ignores_word_order():
    task = load_task("sentiment", 200, 0, 100, seed=4)
    train, test = [e["text"] for e in task.train], [e["text"] for e in task.test]
    ytr, yte = [e["label"] for e in task.train], [e["label"] for e in task.test]
    rng = np.random.default_rng(0)
    shuffled = [" ".join(rng.permutation(t.split())) for t in test]
    assert bow_logreg_accuracy(train, ytr, test, yte) == bow_logreg_accuracy(train, ytr, shuffled, yte)


def test_majority_predicts_the_most_frequent_training_label():
    assert majority_accuracy([2, 2, 1, 0], [2, 1, 2, 2]) == 0.75
    task = load_task("nli", 300, 0, 200, seed=1)
    top = Counter(e["label"] for e in task.train).most_common(1)[0][0]
    want = np.mean([e["label"] == top for e in task.test])
    assert baseline_scores(task)["majority"] == want


def test_dna_motifs_share_their_letters_so_base_counts_are_at_chance():
    """GATC and its reverse CTAG have the same bases: the counts carry no class signal, so the
    bag of bases stays within 3 standard errors of the majority rate."""
    task = load_task("dna", 600, 0, 400, seed=0)
    s = baseline_scores(task)
    assert abs(s["bow_logreg"] - s["majority"]) < 3 * np.sqrt(0.25 / len(task.test))


def test_per_word_tags_beat_the_majority_tag_and_first_noun_answers_some_questions():
    s = {name: baseline_scores(load_task(name, 300, 0, 200, seed=0)) for name in ("pos", "qa")}
    # most grammar words have one tag ("that" has two), so knowing the word nearly gives the tag
    assert s["pos"]["per_word_majority"] > s["pos"]["majority"] + 0.5
    # the first noun of the story is the answer only when the question asks about that noun
    assert 0 < s["qa"]["first_noun_em"] < 0.5
