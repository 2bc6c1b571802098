"""Two-sense words for the contextual-embeddings demo.

"bank" is the side of a river or a place for money; "apple" is a fruit that
is eaten or a company that hires people. The word is spelled the same, so a
static embedding (word2vec) gives it one vector; a contextual model (BERT)
should give different vectors in the two kinds of context. The sentences here
say which sense is meant, so the demo can check that the two clouds separate.
"""
from __future__ import annotations

import numpy as np

from . import lexicon as L
from .grammar import Clause, Language, Sentence, pick

SENSES = {"bank": ("river", "money"), "apple": ("fruit", "company")}

# {A} any animal or person, {P} a person, {N} an animal.
TEMPLATES = {
    ("bank", "river"): ["the {A} rested on the bank of the river",
                        "the {A} walked along the bank of the river",
                        "the grass on the bank was green", "the {N} swam to the bank",
                        "the water near the bank was cold", "the boat was near the bank of the river"],
    ("bank", "money"): ["the {P} put money in the bank", "the bank hired the {P}",
                        "the {P} worked for the bank", "the bank sold a loan to the {P}",
                        "the {P} put money in an account in the bank", "the bank was near the market"],
    ("apple", "fruit"): ["the {A} ate the apple", "the apple was juicy", "the apple was sweet",
                         "the {P} picked the apple from the tree", "the {P} peeled the apple",
                         "the {A} ate a red apple"],
    ("apple", "company"): ["apple hired the {P}", "apple sold phones and computers",
                           "the {P} worked for apple", "apple designed phones",
                           "the employees of apple worked in the office", "apple hired people"],
}

_TAG = {"the": "DET", "a": "DET", "an": "DET", "of": "ADP", "on": "ADP", "along": "ADP",
        "to": "ADP", "near": "ADP", "in": "ADP", "for": "ADP", "from": "ADP", "and": "CCONJ",
        "was": "AUX"}


def _tag(w: str) -> str:
    if w in _TAG:
        return _TAG[w]
    if w in L.ADJ_DIM or w in ("juicy", "sweet"):
        return "ADJ"
    if any(w == v[0] for v in L.VERBS) or w in ("rested", "hired", "worked", "put", "sold",
                                                 "picked", "peeled", "designed"):
        return "VERB"
    return "NOUN"


def sense_sentence(rng, word: str = "bank"):
    """(Sentence, sense index 0/1) for one random template of ``word``."""
    if word not in SENSES:
        raise ValueError(f"word must be one of {sorted(SENSES)}, got {word!r}")
    sense = int(rng.integers(2))
    text = pick(rng, TEMPLATES[(word, SENSES[word][sense])])
    text = text.format(A=pick(rng, L.AGENTS), P=pick(rng, L.NOUNS["person"]),
                       N=pick(rng, L.NOUNS["animal"]))
    toks = [(w, _tag(w), "target" if w == word else None) for w in text.split()]
    return Sentence([Clause(toks, [])]), sense


def sense_sentences(n: int = 200, seed: int = 0, word: str = "bank", language: str = "a"):
    """[{"text", "word", "sense" (name), "label" (0/1), "position" (token index of the word)}]."""
    rng = np.random.default_rng(seed)
    lang = Language(language)
    out = []
    for _ in range(n):
        sent, sense = sense_sentence(rng, word)
        toks = lang.tokens(sent)
        pos = next(i for i, t in enumerate(toks) if t[2] == "target")
        out.append({"text": " ".join(t[0] for t in toks), "word": toks[pos][0],
                    "sense": SENSES[word][sense], "label": sense, "position": pos})
    return out
