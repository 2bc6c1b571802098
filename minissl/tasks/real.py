"""Labelled tasks on real text nobody designed for a benchmark, and the unlabelled text to pre-train on.

Four tasks, built from ``minissl.datasets`` (inputs are plain strings; labels 0..C-1):

fortune_topic  quote -> which fortune file it comes from (``FORTUNE_TOPICS``: computers,
               definitions, people, politics, science, songs-poems, work). Quotes whose text
               occurs twice (in one file or in two) are dropped, so no test quote is also a
               training quote. Test: ``n_test`` per class, validation ``n_val`` per class, the
               rest is the pool the label budgets are drawn from.
play_genre     a speech (one character's turn, stage directions removed) -> comedy, tragedy or
               history (the First Folio's genres). Split by whole plays (``PLAY_SPLIT``): the
               test speeches come from plays no model saw in any form, so the task is genre,
               not "which play has this character".
same_play      a pair of speeches -> 1 if both come from one play (at least ``gap`` speeches
               apart), 0 if from two plays (of the same split: six test plays, two per genre).
next_speech    a pair -> 1 if B is the speech that follows A in the scene (the next one of at
               least ``min_words`` words), 0 if B is another speech of the same play at least
               ``gap`` speeches away. This is next-sentence prediction itself: a model
               pre-trained with NSP has practised it, so it is a probe, not a downstream result.

Speeches shorter than ``min_words`` words ("Ay, my lord.") say nothing about a genre and are
dropped. Every task is a :class:`minissl.tasks.Task`: ``train`` is the pool,
``dev`` the validation split, ``test`` the test split; :func:`per_class` draws a label
budget from the pool. Examples are dicts ``{"text", "label"}`` (plus ``"text_pair"``).

:func:`pretraining_documents` returns the unlabelled text for BERT: the scenes of the
training plays (a document of speeches) and every fortune that is in no task's test or
validation split (a document of sentences). :func:`check_disjoint` proves no test or
validation input occurs in it.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import NamedTuple

import numpy as np

from .core import Task

FORTUNE_TOPICS = ("computers", "definitions", "people", "politics", "science", "songs-poems", "work")
GENRES = ("comedy", "tragedy", "history")

# Whole plays held out, two of each genre for test and two for validation; every other play is
# training text (labelled pool and pre-training corpus).
PLAY_SPLIT = {
    "test": ("twelfth_night_gut", "as_you_like_it_gut", "macbeth_gut", "othello_gut",
             "henry_iv_part_1_gut", "richard_ii_gut"),
    "val": ("much_ado_about_nothing_gut", "merchant_of_venice_gut", "julius_caesar_gut", "lear_gut",
            "henry_v_gut", "john_gut"),
}


class Speech(NamedTuple):
    play: str   # the work's key, e.g. "macbeth_gut"
    genre: str
    scene: int  # running number of the scene within the play
    text: str


# "LADY MACBETH." or "Edm." (King Lear abbreviates) or "PUCK" (A Midsummer Night's Dream has no dot)
_SPEAKER = re.compile(r"^([A-Z][A-Z0-9' ,.&-]+|[A-Z][A-Za-z' ]{0,20}\.)$")
_HEADING = re.compile(r"^(ACT|SCENE|PROLOGUE|EPILOGUE|INDUCTION)\b", re.I)
_DIRECTION = re.compile(r"\[[^\]]*\]?")


def read_speeches(key: str, genre: str, text: str) -> list[Speech]:
    """The speeches of one play in the Gutenberg layout: blocks separated by blank lines, a block
    whose first line is an upper-case name (usually ending in ".") is that character's speech; a block that
    is only an ``ACT`` / ``SCENE`` / ``PROLOGUE`` heading starts a new scene; ``[...]`` stage
    directions are removed."""
    out, scene = [], 0
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [ln.strip() for ln in block.strip("\n").split("\n")]
        if not lines or not lines[0]:
            continue
        if len(lines) == 1 and _HEADING.match(lines[0]):  # a heading stands alone in its block
            scene += 1
            continue
        if _SPEAKER.match(lines[0]) and len(lines) > 1:
            words = " ".join(_DIRECTION.sub(" ", " ".join(lines[1:])).split())
            if words:
                out.append(Speech(key, genre, scene, words))
    return out


def play_speeches(works, min_words: int = 6) -> list[Speech]:
    """Speeches of at least ``min_words`` words of every play in ``works`` (``datasets.shakespeare()``)."""
    return [s for w in works if w.genre in GENRES for s in read_speeches(w.key, w.genre, w.text)
            if len(s.text.split()) >= min_words]


def _split_of(play: str) -> str:
    return next((k for k, v in PLAY_SPLIT.items() if play in v), "train")


def _by_split(speeches) -> dict:
    """{"train", "val", "test"} -> speeches; a validation or test speech whose words also occur as a
    training speech ("What is the matter, my lord?" is in several plays) is dropped."""
    split = defaultdict(list)
    for s in speeches:
        split[_split_of(s.play)].append(s)
    seen = {_key(s.text) for s in split["train"]}
    return {k: [s for s in v if k == "train" or _key(s.text) not in seen] for k, v in split.items()}


def per_class(examples, n: int, seed: int) -> list[dict]:
    """``n`` examples of every label (all of a label's examples if it has fewer), shuffled."""
    rng = np.random.default_rng(seed)
    by = defaultdict(list)
    for e in examples:
        by[e["label"]].append(e)
    out = []
    for lab in sorted(by):
        idx = rng.permutation(len(by[lab]))[:n]
        out += [by[lab][i] for i in idx]
    return [out[i] for i in rng.permutation(len(out))]


def _clean_fortunes(fortunes):
    count = Counter(" ".join(f.text.split()) for f in fortunes)
    return [f for f in fortunes if count[" ".join(f.text.split())] == 1]


def fortune_topic(fortunes, categories=FORTUNE_TOPICS, n_val: int = 40, n_test: int = 100, seed: int = 0) -> Task:
    """Quote -> category (``fortunes`` from ``datasets.fortunes()``, all categories: duplicates are
    looked for across all of them). Each category gives ``n_test`` test and ``n_val`` validation
    quotes; the rest is the pool. Raises if a category has fewer than ``n_val + n_test + 1``."""
    unique = _clean_fortunes(fortunes)
    rng = np.random.default_rng(seed)
    pool, val, test = [], [], []
    for lab, cat in enumerate(categories):
        texts = [f.text for f in unique if f.category == cat]
        if len(texts) <= n_val + n_test:
            raise ValueError(f"fortune category {cat!r} has {len(texts)} distinct quotes, not enough for "
                             f"n_val={n_val} + n_test={n_test} and a pool; lower them or pick another category")
        order = rng.permutation(len(texts))
        ex = [{"text": texts[i], "label": lab} for i in order]
        test += ex[:n_test]
        val += ex[n_test:n_test + n_val]
        pool += ex[n_test + n_val:]
    return Task("fortune_topic", "classification", pool, val, test, list(categories))


def play_genre(speeches, n_val: int = 100, n_test: int = 300, seed: int = 0) -> Task:
    """Speech -> genre; ``n_test`` test speeches per genre from the test plays, ``n_val`` from the
    validation plays, the pool is every speech of the training plays."""
    rng = np.random.default_rng(seed)
    split = {k: [{"text": s.text, "label": GENRES.index(s.genre)} for s in v] for k, v in _by_split(speeches).items()}
    val = per_class(split["val"], n_val, int(rng.integers(2**31)))
    test = per_class(split["test"], n_test, int(rng.integers(2**31)))
    return Task("play_genre", "classification", split["train"], val, test, list(GENRES))


def _pairs(speeches, n_per_class, rng, kind, gap):
    """``n_per_class`` positive and negative pairs of one split's speeches (see the module docstring)."""
    by_play = defaultdict(list)
    for s in speeches:
        by_play[s.play].append(s)
    plays = sorted(by_play)
    out = []
    for label in (1, 0):
        for _ in range(n_per_class):
            p = plays[rng.integers(len(plays))]
            ss = by_play[p]
            i = int(rng.integers(len(ss) - 1))
            while kind == "next" and ss[i + 1].scene != ss[i].scene:  # i must have a next speech
                i = int(rng.integers(len(ss) - 1))
            far = (i + gap + int(rng.integers(len(ss) - 2 * gap))) % len(ss)  # >= gap speeches away
            if kind == "next":  # positives: i and the next speech of the same scene
                b = ss[i + 1] if label else ss[far]
            elif label:  # same play, far apart
                b = ss[far]
            else:  # another play of the same split
                others = [q for q in plays if q != p]
                q = others[rng.integers(len(others))]
                b = by_play[q][rng.integers(len(by_play[q]))]
            out.append({"text": ss[i].text, "text_pair": b.text, "label": label})
    return [out[k] for k in rng.permutation(len(out))]


def speech_pairs(speeches, kind: str, n_pool: int = 3000, n_val: int = 100, n_test: int = 300, gap: int = 10,
                 seed: int = 0) -> Task:
    """``kind="same_play"`` or ``"next"`` (next_speech, NSP itself): pairs of speeches from the
    training, validation and test plays respectively; ``n_pool`` / ``n_val`` / ``n_test`` per class."""
    if kind not in ("same_play", "next"):
        raise ValueError(f"kind must be 'same_play' or 'next', got {kind!r}")
    rng = np.random.default_rng(seed)
    split = _by_split(speeches)
    make = {k: _pairs(split[k], n, rng, kind, gap) for k, n in (("train", n_pool), ("val", n_val), ("test", n_test))}
    names = ["other play", "same play"] if kind == "same_play" else ["not next", "next"]
    return Task("same_play" if kind == "same_play" else "next_speech", "classification",
                make["train"], make["val"], make["test"], names)


def _key(text: str) -> str:
    return " ".join(text.split())


def pretraining_documents(speeches, fortunes, held_out_tasks, split_sentences) -> list[list[str]]:
    """Unlabelled documents for BERT pre-training: each scene of a training play (its speeches)
    and each fortune (its sentences) that is no test or validation input of ``held_out_tasks``.
    ``split_sentences`` is ``minissl.text.split_sentences``."""
    held = {_key(t) for task in held_out_tasks for e in task.dev + task.test
            for t in (e["text"], e.get("text_pair")) if t}
    scenes = defaultdict(list)
    for s in speeches:
        if _split_of(s.play) == "train":
            scenes[(s.play, s.scene)].append(s.text)
    docs = list(scenes.values())
    docs += [split_sentences(f.text) for f in fortunes if _key(f.text) not in held]
    return [d for d in docs if d]


def check_disjoint(documents, held_out_tasks) -> int:
    """Raise if any test or validation input of ``held_out_tasks`` occurs in ``documents`` (a
    speech is a segment; a fortune is checked by its sentences joined). Returns how many inputs were checked."""
    seen = {_key(seg) for d in documents for seg in d} | {_key(" ".join(d)) for d in documents}
    inputs = {_key(t) for task in held_out_tasks for e in task.dev + task.test
              for t in (e["text"], e.get("text_pair")) if t}
    leaked = inputs & seen
    if leaked:
        raise AssertionError(f"{len(leaked)} test or validation inputs occur in the pre-training text, "
                             f"e.g. {sorted(leaked)[0][:80]!r}")
    return len(inputs)
