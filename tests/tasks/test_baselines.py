"""The trivial baselines: what each one can and cannot see, by construction."""
from collections import Counter

import numpy as np
import pytest

from minissl.tasks import baseline_scores, bow_logreg_accuracy, load_task, majority_accuracy
from minissl.tasks.baselines import NGRAM_C_GRID, ngram_logreg, qa_rule


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


def test_word_bigrams_see_the_negation_a_bag_of_words_cannot():
    # the XOR set above: "not good" is a bigram of its own, so the n-gram model separates all four
    texts = ["good", "not good", "bad", "not bad"] * 30
    y = [1, 0, 0, 1] * 30
    r = ngram_logreg((texts, y), (texts[:40], y[:40]), (["not good", "good", "not bad", "bad"] * 5, [0, 1, 1, 0] * 5))
    assert r["accuracy"] == 1.0 and r["C"] in NGRAM_C_GRID


def test_character_ngrams_find_the_dna_motif_the_bag_of_bases_misses():
    task = load_task("dna", 200, 200, 400, seed=0)
    split = lambda ex: ([e["sequence"] for e in ex], [e["label"] for e in ex])  # noqa: E731
    r = ngram_logreg(split(task.train), split(task.dev), split(task.test), analyzer="char")
    # the motifs differ in every adjacent pair of bases, so bigram counts separate them
    assert r["accuracy"] > 0.9 > baseline_scores(task)["bow_logreg"] + 0.2


def test_pairs_get_separate_columns_for_each_side():
    # label: is the *hypothesis* "a"? With one shared bag the premise's words would blur it.
    rng = np.random.default_rng(0)
    pairs = [(str(rng.choice(["a", "b"])), str(rng.choice(["a", "b"]))) for _ in range(200)]
    y = [int(h == "a") for _, h in pairs]
    r = ngram_logreg((pairs[:120], y[:120]), (pairs[120:160], y[120:160]), (pairs[160:], y[160:]))
    assert r["accuracy"] == 1.0
    with pytest.raises(ValueError, match="analyzer"):
        ngram_logreg((pairs, y), (pairs, y), (pairs, y), analyzer="chars")


def test_the_qa_rule_reads_the_asked_role_off_the_matching_sentence():
    context = "the cat slept in the park . the tall girl ate the cake near the lake . the dog was happy ."
    assert qa_rule("who ate the cake ?", context) == "girl"
    assert qa_rule("what did the girl eat ?", context) == "cake"
    assert qa_rule("where did the girl eat the cake ?", context) == "lake"
    assert qa_rule("who ate the pie ?", context) == ""  # no sentence names the pie
    # the generator makes subjects and places distinct and one event with an object, so the rule is exact
    task = load_task("qa", 0, 0, 500, seed=3)
    assert all(qa_rule(e["question"], e["context"]) == e["answer_text"] for e in task.test)
