"""Learning a WordPiece vocabulary from a corpus.

Start from single characters (word-initial ``c`` and continuation ``##c``),
then repeatedly merge the adjacent pair with the highest *likelihood* score

    score(a, b) = count(ab) / (count(a) * count(b))

(BPE would use count(ab) alone; dividing by the parts' counts prefers pairs
whose parts rarely occur apart). ``a + ##b`` merges to ``ab``, keeping ``##``
only if ``a`` had it. Stops when the vocabulary reaches ``vocab_size``.
"""
from __future__ import annotations

from collections import Counter

from .base import BERT_SPECIALS, merge_pair


def train_wordpiece_vocab(texts, vocab_size: int, basic, min_frequency: int = 2) -> list[str]:
    """Return the vocabulary list: specials, alphabet, then merged pieces in merge order."""
    if isinstance(texts, str):
        texts = [texts]
    counts = Counter()
    for t in texts:
        counts.update(basic.tokenize(t))
    words = [[w[0]] + ["##" + c for c in w[1:]] for w in counts]
    freqs = list(counts.values())
    vocab = list(BERT_SPECIALS)
    alphabet = sorted({s for w in words for s in w})
    vocab += [a for a in alphabet if a not in vocab]
    if len(vocab) > vocab_size:
        raise ValueError(f"the corpus alphabet alone has {len(vocab)} symbols > vocab_size={vocab_size}; "
                         "raise vocab_size")
    seen = set(vocab)
    while len(vocab) < vocab_size:
        pair_count, sym_count = Counter(), Counter()
        for w, f in zip(words, freqs):
            for s in w:
                sym_count[s] += f
            for p in zip(w, w[1:]):
                pair_count[p] += f
        pairs = [(p, c) for p, c in pair_count.items() if c >= min_frequency]
        if not pairs:
            break
        # Highest score; ties broken by the pair's text so training is deterministic.
        (a, b), _ = max(pairs, key=lambda pc: (pc[1] / (sym_count[pc[0][0]] * sym_count[pc[0][1]]),
                                               pc[1], "".join(pc[0])))
        new = a + b[2:]
        for i, w in enumerate(words):
            if len(w) < 2:
                continue
            words[i] = merge_pair(w, a, b, new)
        if new not in seen:
            seen.add(new)
            vocab.append(new)
    return vocab
