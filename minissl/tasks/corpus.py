"""Unlabelled text from the grammar: stories, fact documents and two-sense sentences.

The pre-training corpora of the BERT and seq2seq demos. A story follows one
protagonist, so sentence order is visible (NSP/SOP have something to learn);
a mood story keeps one mood throughout, the unlabelled signal of which
adjectives are good. Sentences come from ``grammar.py``; ``senses.py`` gives
the "bank"/"apple" sentences whose meaning depends on their context.
"""
from __future__ import annotations

import numpy as np

from . import lexicon as L
from .grammar import (Clause, Language, Sentence, copula_clause, event_clause, fact_sentence, noun_phrase, pick,
                      sentiment_sentence)
from .senses import sense_sentence


def story(rng, n_sentences: int) -> list[Sentence]:
    """A coherent little document about one protagonist: order is visible
    ("there was a dog" comes first, "then" and "in the end" later)."""
    hero = pick(rng, L.AGENTS)
    adj = pick(rng, L.NEUTRAL_ADJ) if rng.random() < 0.5 else None
    place = pick(rng, L.NOUNS["place"])
    first = Clause([("there", "PRON", None)], [("was", "AUX", None)],
                   noun_phrase(rng, hero, "a", adj, "subj"),
                   [("in", "ADP", None)] + noun_phrase(rng, place, "the"))
    sents = [Sentence([first])]
    for i in range(1, n_sentences):
        r = rng.random()
        lead = [("then", "ADV", None)] if rng.random() < 0.3 else []
        if i == n_sentences - 1 and rng.random() < 0.5:
            lead = [("in", "ADP", None), ("the", "DET", None), ("end", "NOUN", None)]
        if r < 0.45:
            s = Sentence([event_clause(rng, hero, neg=rng.random() < 0.25)], lead=lead)
        elif r < 0.7:
            pol_adj = pick(rng, L.SENTIMENT_ADJ)
            neg = rng.random() < 0.4
            s = Sentence([copula_clause(rng, hero, pol_adj, neg, very=rng.random() < 0.2)], lead=lead)
            if neg and rng.random() < 0.5:  # "not happy" followed by what it means: "sad"
                sents.append(s)
                s = Sentence([copula_clause(rng, hero, L.ANTONYM[pol_adj])])
        elif r < 0.85:
            s = sentiment_sentence(rng)[0]
        else:
            s = fact_sentence(rng)
        sents.append(s)
    return sents[:max(n_sentences, 2)]


def mood_story(rng, n_sentences: int, mood: int, p_neg: float = 0.1) -> list[Sentence]:
    """A story whose protagonist has one mood (1 good, 0 bad) that every judgement agrees with.

    Real text is like this (a review praises throughout), and it is where a model
    can learn polarity without labels: to fill in "the dog was not [MASK]" in a
    happy story it must know that "not" flips and which adjectives are the good
    ones. "but" brings in someone of the opposite mood first; "and" one of the same.
    Few judgements are negated (``p_neg``): at 0.5 an adjective's polarity would say
    nothing about its neighbour's (a pure XOR), leaving MLM no polarity to learn.
    """
    hero = pick(rng, L.AGENTS)
    place = pick(rng, L.NOUNS["place"])
    sents = [Sentence([Clause([("there", "PRON", None)], [("was", "AUX", None)],
                              noun_phrase(rng, hero, "a", None, "subj"),
                              [("in", "ADP", None)] + noun_phrase(rng, place, "the"))])]

    def judged(subj, pol):  # "subj was (not) (very) adj" with clause polarity pol
        adj, neg = pick(rng, L.SENTIMENT_ADJ), rng.random() < p_neg
        if L.POLARITY[adj] ^ neg != pol:
            adj = L.ANTONYM[adj]
        return copula_clause(rng, subj, adj, neg, very=rng.random() < 0.2)

    for _ in range(1, n_sentences):
        lead = [("then", "ADV", None)] if rng.random() < 0.3 else []
        r = rng.random()
        if r < 0.6:
            s = Sentence([judged(hero, mood)], lead=lead)
        elif r < 0.85:
            other = pick(rng, [a for a in L.AGENTS + L.NOUNS["food"] if a != hero])
            but = rng.random() < 0.5
            s = Sentence([judged(other, 1 - mood if but else mood), judged(hero, mood)],
                         [("but", "CCONJ", None) if but else ("and", "CCONJ", None)])
        else:
            s = Sentence([event_clause(rng, hero, neg=rng.random() < 0.25)], lead=lead)
        sents.append(s)
    return sents


def grammar_corpus(n_docs: int = 1000, seed: int = 0, language: str = "a", word_order=None,
                   sentences=(4, 8), p_mood: float = 0.0) -> list[list[str]]:
    """Unlabelled pre-training text: ``n_docs`` documents, each a list of sentence strings.

    Mostly stories (several sentences about one protagonist, so NSP/SOP have
    real order), plus fact documents (hypernyms, antonyms) and two-sense
    sentences for "bank" and "apple". ``p_mood`` > 0 makes that fraction of the
    stories ``mood_story``s (at 0 no extra random number is drawn: the plain corpus).
    """
    rng = np.random.default_rng(seed)
    lang = Language(language, word_order)
    docs = []
    for _ in range(n_docs):
        n = int(rng.integers(sentences[0], sentences[1] + 1))
        r = rng.random()
        if r < 0.8:
            mood = p_mood > 0 and rng.random() < p_mood  # no draw at 0: the plain corpus, draw for draw
            sents = mood_story(rng, n, int(rng.integers(2))) if mood else story(rng, n)
        elif r < 0.9:
            sents = [fact_sentence(rng) for _ in range(n)]
        else:
            sents = [sense_sentence(rng, pick(rng, ["bank", "apple"]), "seen")[0] for _ in range(n)]
        docs.append([lang.text(s) for s in sents])
    return docs
