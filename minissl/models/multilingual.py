"""Multilingual BERT: measuring cross-lingual alignment with Mean Reciprocal Rank.

The lecture's puzzle: one BERT trained on fill-in-the-blank in many languages,
with no parallel sentences, is fine-tuned on English questions and then answers
Chinese ones. The explanation offered is *alignment*: words that mean the same
thing get nearby contextual vectors, whatever their language. MRR measures it.

For each word w of language A that has a known translation t(w) in language B:

    v_l(w)  = mean over every occurrence of w in A's text of BERT's layer-l vector
    rank(w) = 1 + #{b in B's words : cos(v_l(w), v_l(b)) >= cos(v_l(w), v_l(t(w))), b != t(w)}
    MRR_l   = mean_w 1 / rank(w)                          (1 = perfect, ~H_N / N = chance)

The closing idea: the languages' vectors also differ by a shared offset (a
"language direction"). Subtracting the mean difference,

    v'(w) = v(w) - mean_{a in A} v(a) + mean_{b in B} v(b),

moves A's vectors into B's region, so translations become nearest neighbours
(unsupervised: no dictionary is used to compute the shift).

What monolingual text can and cannot tell: alignment is only identifiable up to
the symmetries of the text's distribution. In the plain task grammar every dog,
cat and horse is drawn uniformly from its category, so no amount of text says
which B word is "dog" rather than "cat" (MRR stalls near the within-category
ceiling). Real languages describe the same *world*, whose regularities (who
eats what, where) give every word its own co-occurrence profile. ``world_corpus``
adds such a world: each meaning gets a hidden preference vector u, and a story's
hero picks what it does, eats, where and how it feels with probability
∝ exp(strength · cos(u_hero, u_x)), the same rule in both languages.

Shapes: word vectors (L+1, W, H) for embeddings + L layers, W words, H hidden.
Demo: ``demos/multilingual.py``.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..tensor import no_grad
from ..tasks import grammar_corpus, lexicon
from ..tasks.grammar import Language, Sentence, copula_clause, event_clause
from ..text import WordPieceTokenizer, pad_batch


def joint_tokenizer(*word_lists) -> WordPieceTokenizer:
    """One vocabulary for several languages: the union of their word lists, each word one
    token. Words spelled the same in two lists (the anchors) share one id; no letters are
    added, so nothing else is shared."""
    words = [w for ws in word_lists for w in ws]
    if not words:
        raise ValueError("joint_tokenizer needs at least one non-empty word list")
    return WordPieceTokenizer.from_words(words, add_alphabet=False)


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
                 strength: float = 5.0, dim: int = 8, plain: float = 0.3, world_seed: int = 0) -> list:
    """Documents about one protagonist each, whose choices follow a shared world.

    The hero's verb, object, place and adjectives are drawn with probability
    ∝ exp(strength · cos(u_hero, u_x)) among the grammatical candidates, so every
    meaning has its own co-occurrence profile (strength 0: uniform, the plain grammar).
    A fraction ``plain`` of the documents comes from ``grammar_corpus`` unchanged (facts,
    two-sense sentences, "but" clauses). Returns >= ``n_sentences`` sentences as documents.
    """
    if strength < 0:
        raise ValueError(f"strength must be >= 0 (0 = the plain grammar), got {strength}")
    prefs = {w: u / np.linalg.norm(u) for w, u in world_preferences(dim, seed=world_seed).items()}
    lang = Language(language, word_order)
    rng = np.random.default_rng(seed)

    def choose(hero, cands):
        logits = strength * np.array([prefs[hero] @ prefs[c if isinstance(c, str) else c[1]] for c in cands])
        p = np.exp(logits - logits.max())
        return cands[int(rng.choice(len(cands), p=p / p.sum()))]

    def sentence(hero):
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
        return Sentence([copula_clause(rng, subject, choose(hero, lexicon.SENTIMENT_ADJ),
                                       neg=rng.random() < 0.3, very=rng.random() < 0.2)])

    docs, total = [], 0
    while total < n_sentences:
        if rng.random() < plain:
            doc = grammar_corpus(1, seed=int(rng.integers(2**31)), language=language, word_order=word_order)[0]
        else:
            hero = lexicon.AGENTS[int(rng.integers(len(lexicon.AGENTS)))]
            doc = [lang.text(sentence(hero)) for _ in range(int(rng.integers(4, 9)))]
        docs.append(doc)
        total += len(doc)
    return docs


@no_grad()
def mean_word_vectors(model, sequences, word_ids, batch_size: int = 64, pad_id: int = 0):
    """Mean contextual vector of each word at every layer.

    ``model`` is a BertModel; ``sequences`` a list of token-id lists (already with
    [CLS]/[SEP]); ``word_ids`` the W vocabulary ids to average. Returns
    ``(vectors (L+1, W, H) float64, counts (W,) int)``; index 0 is the embedding
    layer. A word that never occurs has count 0 and a zero vector.
    """
    word_ids = np.asarray(word_ids, dtype=np.int64)
    if word_ids.ndim != 1 or len(np.unique(word_ids)) != len(word_ids):
        raise ValueError("word_ids must be a 1-D list of distinct token ids")
    V = int(max(word_ids.max(), max(max(s) for s in sequences))) + 1
    slot = np.full(V, -1, dtype=np.int64)  # token id -> row in the output (-1: not asked for)
    slot[word_ids] = np.arange(len(word_ids))
    was = model.training
    model.eval()
    sums, counts = None, np.zeros(len(word_ids), dtype=np.int64)
    for k in range(0, len(sequences), batch_size):
        ids, mask = pad_batch(sequences[k:k + batch_size], pad_id)
        hidden = model(ids, mask).hidden_states
        rows = np.where(mask > 0, slot[ids], -1)
        keep = rows.reshape(-1) >= 0
        r = rows.reshape(-1)[keep]
        if sums is None:
            sums = np.zeros((len(hidden), len(word_ids), hidden[0].shape[-1]))
        for l, h in enumerate(hidden):
            flat = to_numpy(h.data).reshape(-1, h.shape[-1])[keep]
            np.add.at(sums[l], r, flat)
        counts += np.bincount(r, minlength=len(word_ids))
    model.train(was)
    return sums / np.maximum(counts, 1)[None, :, None], counts


def cosine_ranks(src, tgt, gold):
    """1-based rank of ``tgt[gold[i]]`` among all rows of ``tgt`` by cosine to ``src[i]``.
    Ties count against the query (an all-equal score row gives the worst rank)."""
    src, tgt, gold = np.asarray(src, np.float64), np.asarray(tgt, np.float64), np.asarray(gold)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[1] != tgt.shape[1]:
        raise ValueError(f"src (Q, H) and tgt (N, H) must share H; got {src.shape} and {tgt.shape}")
    if gold.shape != (len(src),):
        raise ValueError(f"gold must hold one target index per query ({len(src)}), got shape {gold.shape}")
    unit = lambda m: m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)  # noqa: E731
    sim = unit(src) @ unit(tgt).T
    target = sim[np.arange(len(src)), gold]
    return (sim >= target[:, None]).sum(1)


def alignment_scores(src, tgt, gold, ks=(1, 5)) -> dict:
    """MRR and top-k accuracy of translation retrieval by cosine."""
    ranks = cosine_ranks(src, tgt, gold)
    out = {"mrr": float(np.mean(1.0 / ranks))}
    out.update({f"top{k}": float(np.mean(ranks <= k)) for k in ks})
    return out


def mean_shift(src, tgt):
    """Move ``src`` by the difference of the two languages' mean vectors (no dictionary used)."""
    src, tgt = np.asarray(src, np.float64), np.asarray(tgt, np.float64)
    return src - src.mean(0) + tgt.mean(0)


def alignment_by_layer(vec_a, vec_b, gold, shift: bool = False) -> list:
    """``alignment_scores`` at every layer of (L+1, Q, H) and (L+1, N, H) word vectors."""
    return [alignment_scores(mean_shift(a, b) if shift else a, b, gold) for a, b in zip(vec_a, vec_b)]


def chance_mrr(n: int) -> float:
    """Expected MRR when the correct word's rank is uniform on 1..n: H_n / n."""
    return float(np.sum(1.0 / np.arange(1, n + 1)) / n)
