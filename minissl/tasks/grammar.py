"""A small English-like grammar: clauses built as structures, then written out.

A clause has four chunks, S (subject noun phrase, maybe with a relative
clause), V (auxiliaries, negation, verb or copula), O (object or predicate
adjective) and X (a place phrase). Language A writes them S V O X; language B
maps every word through the gold dictionary and may use S O X V order.
Every token carries a part-of-speech tag and, where a task needs it, a mark
(the subject, object and place nouns), so labels are known by construction.

    "the big dog that chased the cat did not eat the cake in the park ."
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import lexicon as L

VOWELS = "aeiou"


def article(word: str) -> str:
    return "an" if word[0] in VOWELS else "a"


def pick(rng, items):
    return items[int(rng.integers(len(items)))]


@dataclass
class Clause:
    S: list
    V: list
    O: list = field(default_factory=list)
    X: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def chunks(self, order: str = "SVO"):
        return self.S + self.V + self.O + self.X if order == "SVO" else self.S + self.O + self.X + self.V


@dataclass
class Sentence:
    clauses: list            # [Clause]
    conj: list = field(default_factory=list)   # one token between consecutive clauses
    lead: list = field(default_factory=list)   # e.g. [("then", "ADV", None)]
    end: str = "."
    info: dict = field(default_factory=dict)


class Language:
    """How a sentence structure is written: "a" (English, SVO) or "b" (invented words)."""

    def __init__(self, code: str = "a", word_order: str | None = None, dictionary_seed: int = 1234):
        if code not in ("a", "b"):
            raise ValueError(f"language must be 'a' (English-like) or 'b' (invented words), got {code!r}")
        word_order = word_order or "SVO"
        if word_order not in ("SVO", "SOV"):
            raise ValueError(f"word_order must be 'SVO' or 'SOV', got {word_order!r}")
        self.code, self.order = code, word_order
        self.dictionary = L.make_dictionary(dictionary_seed) if code == "b" else None

    def word(self, w: str) -> str:
        return w if self.dictionary is None else self.dictionary[w]

    def tokens(self, sent: Sentence):
        """Sentence -> [(word, tag, mark)] in this language."""
        out = list(sent.lead)
        for i, c in enumerate(sent.clauses):
            if i > 0:
                out.append(sent.conj[i - 1])
            out.extend(c.chunks(self.order))
        out.append((sent.end, "PUNCT", None))
        return [(self.word(w), t, m) for w, t, m in out]

    def text(self, sent: Sentence) -> str:
        return " ".join(w for w, _, _ in self.tokens(sent))


def noun_phrase(rng, noun, det="the", adj=None, mark=None, rel=None):
    if det in ("a", "an"):
        det = article(adj or noun)
    toks = [(det, "DET", None)]
    if adj:
        toks.append((adj, "ADJ", None))
    toks.append((noun, "NOUN", mark))
    return toks + (rel or [])


def relative_clause(rng, head):
    """"that chased the cat" / "who ate the cake": a distractor inside a noun phrase."""
    verb = pick(rng, [v for v in L.VERBS if v[3] is not None and L.HYPERNYM[head] in v[2]])
    obj = pick(rng, L.AGENTS if verb[3] == "agent" else L.NOUNS[verb[3]])
    pron = "who" if L.HYPERNYM[head] == "person" and rng.random() < 0.5 else "that"
    return [(pron, "PRON", None), (verb[0], "VERB", None)] + noun_phrase(rng, obj)


def verb_group(verb, neg):
    if neg:
        return [("did", "AUX", None), ("not", "PART", None), (verb[1], "VERB", "verb")]
    return [(verb[0], "VERB", "verb")]


def event_clause(rng, subject=None, verb=None, neg=False, p_adj=0.3, p_pp=0.5, p_rel=0.15,
                 det="the", obj=None, place=None, adj=None):
    """Subject does something (to an object) (somewhere). info: subj, verb, obj, place, adj, neg."""
    subject = subject or pick(rng, L.AGENTS)
    cat = L.HYPERNYM.get(subject, subject)
    if verb is None:
        verb = pick(rng, [v for v in L.VERBS if cat in v[2]])
    if adj is None and rng.random() < p_adj:
        adj = pick(rng, L.NEUTRAL_ADJ)
    rel = relative_clause(rng, subject) if subject in L.HYPERNYM and rng.random() < p_rel else None
    S = noun_phrase(rng, subject, det, adj, "subj", rel)
    O = []
    if verb[3] is not None:
        if obj is None:
            pool = L.AGENTS if verb[3] == "agent" else L.NOUNS[verb[3]]
            obj = pick(rng, [o for o in pool if o != subject])
        O = noun_phrase(rng, obj, "the", None, "obj")
    X = []
    if place is None and rng.random() < p_pp:
        place = pick(rng, L.NOUNS["place"])
    if place:
        X = [(pick(rng, ["in", "near"]), "ADP", None)] + noun_phrase(rng, place, "the", None, "place")
    info = dict(kind="event", subj=subject, verb=verb, obj=obj, place=place, adj=adj, neg=neg, det=det)
    return Clause(S, verb_group(verb, neg), O, X, info)


def copula_clause(rng, subject=None, adj=None, neg=False, very=False, attr=None, det="the",
                  p_rel=0.0):
    """"the dog was (not) (very) happy". info: subj, adj, neg, attr."""
    subject = subject or pick(rng, L.AGENTS + L.NOUNS["food"])
    adj = adj or pick(rng, L.SENTIMENT_ADJ)
    rel = relative_clause(rng, subject) if subject in L.AGENTS and rng.random() < p_rel else None
    S = noun_phrase(rng, subject, det, attr, "subj", rel)
    V = [("was", "AUX", None)] + ([("not", "PART", None)] if neg else [])
    O = ([("very", "ADV", None)] if very else []) + [(adj, "ADJ", "adj")]
    return Clause(S, V, O, [], dict(kind="copula", subj=subject, adj=adj, neg=neg, attr=attr, det=det))


def fact_sentence(rng) -> Sentence:
    """World knowledge the pre-training text exposes: hypernyms and antonyms."""
    r = rng.random()
    if r < 0.6:
        noun = pick(rng, list(L.HYPERNYM))
        hyper = L.HYPERNYM[noun]
        det = "every" if rng.random() < 0.3 else article(noun)
        c = Clause([(det, "DET", None), (noun, "NOUN", None)], [("is", "AUX", None)],
                   [(article(hyper), "DET", None), (hyper, "NOUN", None)])
    else:
        a, b = pick(rng, L.SENTIMENT_PAIRS + L.NEUTRAL_PAIRS)
        if rng.random() < 0.5:
            a, b = b, a
        c = Clause([(a, "ADJ", None)], [("is", "AUX", None)],
                   [("the", "DET", None), ("opposite", "NOUN", None), ("of", "ADP", None), (b, "ADJ", None)])
    return Sentence([c])


def sentiment_sentence(rng, p_but=0.3, p_neg=0.3):
    """(Sentence, label): 1 positive, 0 negative, decided by the *last* clause.

    The clause's polarity is the adjective's polarity, flipped by "not".
    With "but" the first clause has the opposite polarity (a distractor); with
    "and" the same. Attributive adjectives on subjects add more distractors.
    """
    def clause(target=None):
        adj = pick(rng, L.SENTIMENT_ADJ)
        neg = rng.random() < p_neg
        pol = L.POLARITY[adj] ^ neg
        if target is not None and pol != target:
            adj = L.ANTONYM[adj]
            pol = target
        attr = pick(rng, L.SENTIMENT_ADJ + L.NEUTRAL_ADJ) if rng.random() < 0.3 else None
        subj = pick(rng, L.AGENTS + L.NOUNS["food"] + L.NOUNS["place"])
        return copula_clause(rng, subj, adj, neg, very=rng.random() < 0.2, attr=attr, p_rel=0.15), pol

    c1, pol1 = clause()
    r = rng.random()
    if r < p_but:
        c2, pol2 = clause(1 - pol1)
        return Sentence([c1, c2], [("but", "CCONJ", None)]), pol2
    if r < p_but + 0.15:
        c2, pol2 = clause(pol1)
        return Sentence([c1, c2], [("and", "CCONJ", None)]), pol2
    return Sentence([c1]), pol1


def grammar_vocab(language: str = "a") -> list[str]:
    """Every word the grammar can write in this language (each is one token)."""
    words = L.english_words()
    if language == "b":
        d = L.make_dictionary()
        return [d[w] for w in words]
    return words


def grammar_tokenizer(language: str = "a"):
    """A WordPieceTokenizer whose vocabulary holds every grammar word: no [UNK], one token per word."""
    from ..text import WordPieceTokenizer
    return WordPieceTokenizer.from_words(grammar_vocab(language))
