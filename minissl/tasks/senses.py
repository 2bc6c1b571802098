"""Two-sense words for the contextual-embeddings demo.

"bank" is the side of a river or a place for money; "apple" is a fruit that
is eaten or a company that hires people. The word is spelled the same, so a
static embedding (word2vec) gives it one vector; a contextual model (BERT)
should give different vectors in the two kinds of context. The sentences here
say which sense is meant, so the demo can check that the two clouds separate.

Each sense has 24 templates. Half of them (``split="seen"``) are the only
sense sentences in the pre-training corpus (``corpus.grammar_corpus``); the
other half (``split="held_out"``) are never pre-trained on, so a model that
separates the senses there does it from context it has not memorised.
"""
from __future__ import annotations

import numpy as np

from . import lexicon as L
from .grammar import Clause, Language, Sentence, pick

SENSES = {"bank": ("river", "money"), "apple": ("fruit", "company")}

# {A} any animal or person, {P} a person, {N} an animal, {T} a thing. Only grammar words.
TEMPLATES = {
    ("bank", "river"): [
        "the {A} rested on the bank of the river", "the {A} walked along the bank of the river",
        "the grass on the bank was green", "the {N} swam to the bank",
        "the water near the bank was cold", "the boat was near the bank of the river",
        "the {N} slept on the bank", "the {P} waited on the bank of the lake",
        "the {N} jumped from the bank to the water", "the river was very cold near the bank",
        "the {P} found a {T} on the bank of the river", "the bank of the river was green and quiet",
        "the {N} ran along the bank", "the bank was near the shore of the lake",
        "the {P} watched the {N} on the bank of the river", "the tree on the bank was tall",
        "the {N} played in the grass on the bank", "the water was quiet near the bank of the lake",
        "the {P} walked to the bank of the lake", "the boat was on the bank of the river",
        "the {P} rested near the water on the bank", "the {N} swam along the bank of the river",
        "the bank of the lake was cold", "the {P} saw a boat near the bank"],
    ("bank", "money"): [
        "the {P} put money in the bank", "the bank hired the {P}",
        "the {P} worked for the bank", "the bank sold a loan to the {P}",
        "the {P} put money in an account in the bank", "the bank was near the market",
        "the bank opened an account for the {P}", "the {P} called the bank",
        "the employees of the bank worked in the office", "the bank was a big company",
        "the {P} lost money in the bank", "the bank bought the company",
        "the {P} found money in the account of the bank", "the bank of the city hired people",
        "the {P} opened an account in the bank", "the bank sold the {P} a loan",
        "the office of the bank was in the city", "the {P} liked the bank",
        "the bank was in the city near the school", "the bank put money in the account of the {P}",
        "the bank called the {P}", "the {P} carried money to the bank",
        "the {P} bought the bank", "the {P} met the employees of the bank"],
    ("apple", "fruit"): [
        "the {A} ate the apple", "the apple was juicy", "the apple was sweet",
        "the {P} picked the apple from the tree", "the {P} peeled the apple", "the {A} ate a red apple",
        "the {P} cooked the apple", "the apple on the tree was green",
        "the {P} bought an apple in the market", "the apple was fresh and sweet",
        "the apple in the box was rotten", "the {N} tasted the sweet apple",
        "the {P} put the apple in the bag", "the {P} dropped the apple",
        "the {P} ate the apple and the cake", "the apple pie was sweet",
        "the {P} washed the apple", "the {P} sold an apple in the market",
        "the apple was yellow", "the {N} found an apple in the grass",
        "the juicy apple was on the table", "the {P} peeled a green apple",
        "the {P} carried the apple to the house", "the apple was cold and juicy"],
    ("apple", "company"): [
        "apple hired the {P}", "apple sold phones and computers", "the {P} worked for apple",
        "apple designed phones", "the employees of apple worked in the office", "apple hired people",
        "apple designed computers", "apple was a big company",
        "the {P} liked the phones of apple", "apple opened an office in the city",
        "apple bought the company", "the office of apple was in the city",
        "apple sold phones to the {P}", "the {P} met the employees of apple",
        "apple hired the employees of the company", "the {P} called the office of apple",
        "the {P} fixed the computers of apple", "apple was a company in the city",
        "the {P} bought phones from apple", "apple fixed the phones",
        "the company apple hired the {P}", "the {P} worked in the office of apple",
        "apple sold computers to the {P}", "apple was a good company"],
}
SPLITS = ("seen", "held_out", "all")

_TAG = {"the": "DET", "a": "DET", "an": "DET", "of": "ADP", "on": "ADP", "along": "ADP",
        "to": "ADP", "near": "ADP", "in": "ADP", "for": "ADP", "from": "ADP", "and": "CCONJ",
        "was": "AUX", "very": "ADV"}


def _tag(w: str) -> str:
    if w in _TAG:
        return _TAG[w]
    if w in L.ADJ_DIM or w in ("juicy", "sweet"):
        return "ADJ"
    if any(w in v[:2] for v in L.VERBS) or w in ("hired", "worked", "put", "designed", "picked", "peeled"):
        return "VERB"
    return "NOUN"


def template_ids(word: str, sense: int, split: str = "all") -> list[int]:
    """Indices into ``TEMPLATES[(word, sense name)]``: even ones are seen in pre-training, odd ones held out."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    n = len(TEMPLATES[(word, SENSES[word][sense])])
    return [i for i in range(n) if split == "all" or (i % 2 == 1) == (split == "held_out")]


def sense_sentence(rng, word: str = "bank", split: str = "seen", sense: int | None = None, template: int | None = None):
    """(Sentence, sense index 0/1, template index) for a random template of ``word`` from ``split``.

    ``sense`` and ``template`` fix either choice instead of drawing it. The pre-training
    corpus draws from the "seen" split only, so "held_out" templates stay unseen.
    """
    if word not in SENSES:
        raise ValueError(f"word must be one of {sorted(SENSES)}, got {word!r}")
    sense = int(rng.integers(2)) if sense is None else sense
    t = pick(rng, template_ids(word, sense, split)) if template is None else template
    text = TEMPLATES[(word, SENSES[word][sense])][t]
    text = text.format(A=pick(rng, L.AGENTS), P=pick(rng, L.NOUNS["person"]),
                       N=pick(rng, L.NOUNS["animal"]), T=pick(rng, L.NOUNS["thing"]))
    toks = [(w, _tag(w), "target" if w == word else None) for w in text.split()]
    return Sentence([Clause(toks, [])]), sense, t


def _record(lang, sent, word, sense, t):
    toks = lang.tokens(sent)
    pos = next(i for i, tk in enumerate(toks) if tk[2] == "target")
    return {"text": " ".join(tk[0] for tk in toks), "word": toks[pos][0], "sense": SENSES[word][sense],
            "label": sense, "position": pos, "template": t, "held_out": t % 2 == 1}


def sense_sentences(n: int = 200, seed: int = 0, word: str = "bank", language: str = "a", split: str = "all"):
    """``n`` random sense sentences: [{"text", "word", "sense" (name), "label" (0/1), "position" (token index
    of the word), "template" (index within its sense), "held_out" (True if never in pre-training)}]."""
    rng = np.random.default_rng(seed)
    lang = Language(language)
    out = []
    for _ in range(n):
        sent, sense, t = sense_sentence(rng, word, split)
        out.append(_record(lang, sent, word, sense, t))
    return out


def sense_grid(per_template: int, seed: int = 0, word: str = "bank", language: str = "a"):
    """``per_template`` sentences of every template of both senses (fillers drawn at random), as
    :func:`sense_sentences` gives them, sense 0 first: a balanced set for comparing templates."""
    rng = np.random.default_rng(seed)
    lang = Language(language)
    return [_record(lang, sense_sentence(rng, word, sense=s, template=t)[0], word, s, t)
            for s in (0, 1) for t in template_ids(word, s) for _ in range(per_template)]
