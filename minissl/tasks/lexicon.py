"""The toy grammar's words: a few hundred English words with known relations.

Everything a task's ground truth needs is written down here: each noun's
category (its hypernym: a dog is an animal), each sentiment adjective's
polarity and antonym, each verb's past and base form and what it can take as
subject and object. The second language ("language B") gets one invented
word per English word, made deterministically from syllables.
"""
from __future__ import annotations

import numpy as np

NOUNS = {
    "animal": ["dog", "cat", "horse", "cow", "bird", "fish", "rabbit", "mouse", "lion", "tiger",
               "bear", "wolf", "fox", "duck", "goat", "sheep", "pig", "frog", "snake", "owl"],
    "person": ["man", "woman", "boy", "girl", "teacher", "doctor", "farmer", "child", "king", "queen",
               "student", "nurse", "baker", "driver", "singer", "writer", "pilot", "sailor", "artist",
               "judge"],
    "food": ["bread", "cake", "soup", "rice", "cheese", "egg", "pie", "banana", "orange", "grape",
             "cherry", "carrot", "potato", "lemon", "melon", "cookie", "pear", "plum", "onion",
             "apple"],
    "thing": ["book", "ball", "box", "cup", "hat", "key", "lamp", "chair", "table", "bag", "pen",
              "clock", "door", "window", "shoe"],
    "place": ["park", "river", "forest", "city", "village", "garden", "school", "market", "beach",
              "lake", "hill", "farm", "house", "road", "field"],
    "vehicle": ["car", "bus", "train", "bike", "boat", "truck", "ship", "plane"],
}
HYPERNYM = {n: cat for cat, ns in NOUNS.items() for n in ns}
AGENTS = NOUNS["animal"] + NOUNS["person"]

# (past, base, subject categories, object category or None for intransitive)
VERBS = [
    ("ate", "eat", ("animal", "person"), "food"), ("tasted", "taste", ("animal", "person"), "food"),
    ("cooked", "cook", ("person",), "food"), ("bought", "buy", ("person",), "food"),
    ("sold", "sell", ("person",), "food"),
    ("saw", "see", ("animal", "person"), "agent"), ("chased", "chase", ("animal", "person"), "agent"),
    ("helped", "help", ("animal", "person"), "agent"), ("followed", "follow", ("animal", "person"), "agent"),
    ("watched", "watch", ("animal", "person"), "agent"), ("met", "meet", ("animal", "person"), "agent"),
    ("called", "call", ("person",), "agent"), ("liked", "like", ("animal", "person"), "agent"),
    ("found", "find", ("animal", "person"), "thing"), ("carried", "carry", ("person",), "thing"),
    ("dropped", "drop", ("person",), "thing"), ("opened", "open", ("person",), "thing"),
    ("cleaned", "clean", ("person",), "thing"), ("lost", "lose", ("person",), "thing"),
    ("drove", "drive", ("person",), "vehicle"), ("fixed", "fix", ("person",), "vehicle"),
    ("washed", "wash", ("person",), "vehicle"),
    ("slept", "sleep", ("animal", "person"), None), ("ran", "run", ("animal", "person"), None),
    ("walked", "walk", ("animal", "person"), None), ("swam", "swim", ("animal", "person"), None),
    ("sang", "sing", ("animal", "person"), None), ("danced", "dance", ("person",), None),
    ("jumped", "jump", ("animal", "person"), None), ("waited", "wait", ("animal", "person"), None),
    ("played", "play", ("animal", "person"), None), ("rested", "rest", ("animal", "person"), None),
]

# Sentiment adjectives as (positive, negative) antonym pairs.
SENTIMENT_PAIRS = [("good", "bad"), ("happy", "sad"), ("kind", "cruel"), ("nice", "nasty"),
                   ("great", "awful"), ("beautiful", "ugly"), ("clever", "stupid"),
                   ("polite", "rude"), ("calm", "angry"), ("fresh", "rotten"), ("clean", "dirty"),
                   ("quiet", "noisy"), ("gentle", "rough"), ("lovely", "horrible")]
# Neutral adjectives: antonym pairs (no sentiment) and colours.
NEUTRAL_PAIRS = [("big", "small"), ("old", "young"), ("tall", "short"), ("hot", "cold"),
                 ("fast", "slow"), ("heavy", "light")]
COLOURS = ["red", "blue", "green", "yellow", "white", "black", "brown"]

POLARITY = {p: 1 for p, _ in SENTIMENT_PAIRS} | {n: 0 for _, n in SENTIMENT_PAIRS}
ANTONYM = {}
for _a, _b in SENTIMENT_PAIRS + NEUTRAL_PAIRS:
    ANTONYM[_a], ANTONYM[_b] = _b, _a
SENTIMENT_ADJ = [w for pair in SENTIMENT_PAIRS for w in pair]
NEUTRAL_ADJ = [w for pair in NEUTRAL_PAIRS for w in pair] + COLOURS
# Which dimension an adjective describes; NLI uses it for "neutral" hypotheses.
ADJ_DIM = {w: i for i, pair in enumerate(SENTIMENT_PAIRS + NEUTRAL_PAIRS) for w in pair}
ADJ_DIM.update({c: 100 for c in COLOURS})

# Words only used by the two-sense (polysemy) sentences.
SENSE_WORDS = ["bank", "money", "on", "along", "from", "for", "hired", "worked", "put", "phones",
               "computers", "company", "water", "shore", "grass", "loan", "account", "juicy", "sweet",
               "picked", "tree", "peeled", "employees", "office", "designed", "people"]
FUNCTION_WORDS = ["the", "a", "an", "that", "this", "who", "did", "not", "was", "is", "and", "but",
                  "then", "in", "near", "of", "opposite", "every", "there", "very", "what", "where",
                  "which", "to", "it", "end"]
PUNCT = [".", "?", ","]
# "BERT on DNA": each base is written as one ordinary word.
DNA_WORDS = {"A": "dog", "C": "cat", "G": "bird", "T": "fish"}

TAGS = ["DET", "NOUN", "VERB", "ADJ", "ADV", "AUX", "PART", "ADP", "PRON", "CCONJ", "PUNCT"]


def english_words() -> list[str]:
    """Every word type of language A, in a fixed order (nouns, verbs, adjectives, rest)."""
    words = [n for ns in NOUNS.values() for n in ns] + list(NOUNS)
    words += [f for v in VERBS for f in v[:2]] + SENTIMENT_ADJ + NEUTRAL_ADJ
    words += SENSE_WORDS + FUNCTION_WORDS + PUNCT
    out, seen = [], set()
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def make_dictionary(seed: int = 1234, anchors=tuple(PUNCT)) -> dict[str, str]:
    """English word -> invented language-B word (two or three CV syllables).

    Deterministic for a seed; no B word equals any English word, and B words
    are distinct. ``anchors`` (punctuation by default) are shared unchanged.
    """
    rng = np.random.default_rng(seed)
    cons, vows = "bdfgklmnprstvz", "aeiou"
    english = english_words()
    taken = set(english)
    out = {}
    for w in english:
        if w in anchors:
            out[w] = w
            continue
        while True:
            n = 2 if len(w) <= 4 else 3
            cand = "".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))]
                           for _ in range(n))
            if cand not in taken:
                taken.add(cand)
                out[w] = cand
                break
    return out
