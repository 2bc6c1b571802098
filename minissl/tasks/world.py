"""A shared *world* for two languages: text in which every word has its own co-occurrences.

In the plain task grammar every dog, cat and horse is drawn uniformly from its
category, so no amount of monolingual text says which word of language B is
"dog" rather than "cat". Real languages describe the same world, whose
regularities (who eats what, where) give every word its own co-occurrence
profile. Here each meaning gets a hidden preference vector u, and a story's
hero picks what it does, eats, where and how it feels with probability
∝ exp(strength · cos(u_hero, u_x)), the same rule in both languages. The two
languages' texts come from different seeds: no sentence is a translation of
another. Used by ``demos/multilingual.py`` (see ``minissl.models.multilingual``).
"""
from __future__ import annotations

import numpy as np

from . import lexicon
from .corpus import grammar_corpus
from .grammar import Language, Sentence, copula_clause, event_clause


def world_preferences(dim: int = 4, seed: int = 0) -> dict:
    """A hidden preference vector per meaning (English word; a verb's two forms share one).
    Function words and punctuation get none: they fit every sentence."""
    rng = np.random.default_rng(seed)
    skip = set(lexicon.FUNCTION_WORDS) | set(lexicon.PUNCT)
    base = {past: bare for past, bare, *_ in lexicon.VERBS}
    prefs = {}
    for w in lexicon.english_words():
        if w not in skip and base.get(w, w) not in prefs:
            prefs[base.get(w, w)] = rng.standard_normal(dim)
    return {w: prefs[base.get(w, w)] for w in lexicon.english_words() if base.get(w, w) in prefs}


def world_corpus(n_sentences: int, seed: int = 0, language: str = "a", word_order=None,
                 strength: float = 5.0, dim: int = 8, plain: float = 0.3, world_seed: int = 0,
                 p_mood: float = 0.0, sentences=(4, 8), p_neg_mood: float = 0.3,
                 p_pronoun: float = 0.0) -> list:
    """Documents about one protagonist each, whose choices follow a shared world.

    The hero's verb, object, place and adjectives are drawn with probability
    ∝ exp(strength · cos(u_hero, u_x)) among the grammatical candidates, so every
    meaning has its own co-occurrence profile (strength 0: uniform, the plain grammar).
    A fraction ``plain`` of the documents comes from ``grammar_corpus`` unchanged (facts,
    two-sense sentences, "but" clauses). Returns >= ``n_sentences`` sentences as documents.

    ``p_mood`` > 0 gives that fraction of the stories one mood (as ``grammar_corpus``'s
    ``p_mood``): every "the hero was (not) adj" agrees with it, so the good adjectives
    share contexts with each other and not with the bad ones, in both languages alike:
    an unlabelled polarity signal that can align across languages (0: no mood stories).
    ``p_neg_mood``: the fraction of a mood story's judgements that are negated. With many
    negations ("hero was not bad" in a good story) neighbouring adjectives' polarities look
    uncorrelated to MLM (polarity XOR "not" is what agrees); ~0.1 lets polarity show
    (as ``corpus.mood_story``).
    ``sentences`` = (min, max) sentences per story (more: more co-occurrence per hero).
    ``p_pronoun``: after a story's first sentence, the hero as subject is written "it" with
    this probability. If the hero is named in every sentence, a masked hero is simply
    copied from the next sentence, and MLM learns the hero words as arbitrary identity
    codes instead of by what they do (0: always named; see ``demos/multilingual.py``).
    """
    for name, p in (("p_neg_mood", p_neg_mood), ("p_pronoun", p_pronoun)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} is a probability in [0, 1], got {p}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0 (0 = the plain grammar), got {strength}")
    prefs = {w: u / np.linalg.norm(u) for w, u in world_preferences(dim, seed=world_seed).items()}
    lang = Language(language, word_order)
    rng = np.random.default_rng(seed)

    def choose(hero, cands):
        logits = strength * np.array([prefs[hero] @ prefs[c if isinstance(c, str) else c[1]] for c in cands])
        p = np.exp(logits - logits.max())
        return cands[int(rng.choice(len(cands), p=p / p.sum()))]

    def sentence(hero, mood=None):
        if rng.random() < 0.6:
            verb = choose(hero, [v for v in lexicon.VERBS if lexicon.HYPERNYM[hero] in v[2]])
            obj = None
            if verb[3] is not None:
                pool = lexicon.AGENTS if verb[3] == "agent" else lexicon.NOUNS[verb[3]]
                obj = choose(hero, [o for o in pool if o != hero])
            place = choose(hero, lexicon.NOUNS["place"]) if rng.random() < 0.6 else None
            adj = choose(hero, lexicon.NEUTRAL_ADJ) if rng.random() < 0.3 else None
            return Sentence([event_clause(rng, hero, verb, neg=rng.random() < 0.25, obj=obj, place=place,
                                          adj=adj, p_adj=0.0, p_pp=0.0, p_rel=0.0)])
        subject = hero if rng.random() < 0.6 else choose(hero, lexicon.NOUNS["food"] + lexicon.NOUNS["place"])
        neg = rng.random() < (p_neg_mood if mood is not None else 0.3)
        adjs = lexicon.SENTIMENT_ADJ
        if mood is not None and subject == hero:  # "not" flips: the clause, not the word, has the mood
            adjs = [a for a in adjs if lexicon.POLARITY[a] ^ neg == mood]
        return Sentence([copula_clause(rng, subject, choose(hero, adjs), neg=neg, very=rng.random() < 0.2)])

    docs, total = [], 0
    while total < n_sentences:
        if rng.random() < plain:
            doc = grammar_corpus(1, seed=int(rng.integers(2**31)), language=language, word_order=word_order)[0]
        else:
            hero = lexicon.AGENTS[int(rng.integers(len(lexicon.AGENTS)))]
            mood = int(rng.integers(2)) if p_mood > 0 and rng.random() < p_mood else None  # no draw at 0
            doc = []
            for k in range(int(rng.integers(sentences[0], sentences[1] + 1))):
                sent = sentence(hero, mood)
                first = sent.clauses[0]
                # "> 0" first: no random draw at 0, so the default corpus is unchanged
                if k > 0 and p_pronoun > 0 and first.info["subj"] == hero and rng.random() < p_pronoun:
                    first.S = [("it", "PRON", "subj")]
                doc.append(lang.text(sent))
        docs.append(doc)
        total += len(doc)
    return docs
