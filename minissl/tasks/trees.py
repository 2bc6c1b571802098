"""Gold constituency trees of generated sentences: the grammar knows every bracket.

``grammar.py`` composes a clause from phrases (``noun_phrase``, ``relative_clause``,
``verb_group``, the place phrase) and keeps each phrase as a chunk (S, V, O, X).
``clause_spans`` reads those chunks back into the brackets of a Penn-Treebank-style
tree, so ``tree_sentences`` returns sentences with their gold unlabelled spans.

Spans are half-open word intervals ``(i, j)``: words i .. j-1. The brackets
(constituents) that count, for "the big dog that chased the cat did not eat
the cake in the park":

- clause  S -> NP VP: the clause span; in "A but B" each clause is a span and
  the sentence is a flat S -> S CCONJ S.
- NP: determiner, optional adjective, noun, flat ("the big dog"); with a relative
  clause NP -> NP SBAR ("the big dog" | "that chased the cat"), SBAR -> PRON VP,
  VP -> VERB NP ("chased the cat").
- VP: flat, the verb (or "was"), its object NP or predicate, and the place PP:
  "ate the cake in the park". With "did not": VP -> did not VP, so both
  "did not eat the cake in the park" and "eat the cake in the park" are spans.
- PP -> ADP NP ("in the park"); ADJP -> very ADJ ("very happy").

Trivial spans (one word, the whole sentence) are returned too; evaluations drop
them (``minissl.metrics.bracket_f1``). The final "." is removed, as Kim et al.
(2019) remove punctuation before inducing trees. Generating trees draws from
its own random generator: the other generators' sentences do not change.
"""
from __future__ import annotations

import numpy as np

from .grammar import Sentence, event_clause, sentiment_sentence


def np_spans(toks, start: int) -> list:
    """Spans of a noun phrase as ``noun_phrase`` writes it: DET (ADJ) NOUN [PRON VERB DET NOUN]."""
    head = next(k for k, (_, tag, _) in enumerate(toks) if tag == "NOUN")
    end = start + len(toks)
    spans = [(start, end)]
    if head + 1 < len(toks):  # NP -> NP SBAR; SBAR -> PRON VP; VP -> VERB NP
        rel = start + head + 1
        spans += [(start, rel), (rel, end), (rel + 1, end)] + np_spans(toks[head + 3:], rel + 2)
    return spans


def clause_spans(clause, start: int) -> list:
    """Spans of one clause written S V O X (language A), starting at word ``start``."""
    spans = np_spans(clause.S, start)
    vp = start + len(clause.S)
    end = vp + len(clause.V) + len(clause.O) + len(clause.X)
    spans += [(start, end), (vp, end)]
    if clause.V[0][0] == "did":                 # did not VP
        spans.append((vp + 2, end))
    obj = vp + len(clause.V)
    if clause.O and clause.info.get("kind") == "event":
        spans += np_spans(clause.O, obj)
    elif len(clause.O) > 1:                     # ADJP: very ADJ
        spans.append((obj, obj + len(clause.O)))
    if clause.X:                                # PP -> ADP NP
        pp = obj + len(clause.O)
        spans += [(pp, end)] + np_spans(clause.X[1:], pp + 1)
    return spans


def sentence_tree(sent: Sentence):
    """(words, spans) of a Sentence in language A, final punctuation removed; spans sorted, distinct."""
    if sent.lead:
        raise ValueError("sentence_tree covers sentences without a lead word; build them without `lead`")
    words, spans = [], []
    for i, c in enumerate(sent.clauses):
        if i > 0:
            words.append(sent.conj[i - 1][0])
        spans += clause_spans(c, len(words))
        words += [w for w, _, _ in c.chunks("SVO")]
    spans.append((0, len(words)))
    spans += [(i, i + 1) for i in range(len(words))]
    return words, sorted(set(spans))


def tree_sentences(n: int, seed: int = 0, p_event: float = 0.5) -> list:
    """``n`` distinct sentences with gold trees: [{"words": [...], "spans": [(i, j), ...]}].

    A share ``p_event`` are event clauses ("the cat that saw the boy did not eat
    the cake in the park"), the rest copula sentences, one clause or two joined
    by "but"/"and" ("the old king was very happy but the soup was not good").
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    for _ in range(50 * n + 1000):
        if rng.random() < p_event:
            sent = Sentence([event_clause(rng, neg=rng.random() < 0.3, p_rel=0.3)])
        else:
            sent = sentiment_sentence(rng)[0]
        words, spans = sentence_tree(sent)
        key = " ".join(words)
        if key not in seen:
            seen.add(key)
            out.append({"words": words, "spans": spans})
            if len(out) == n:
                return out
    raise ValueError(f"the grammar did not make {n} distinct sentences; ask for fewer")
