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
ceiling). ``minissl.tasks.world.world_corpus`` gives the two languages one
shared world instead, so that every word has its own co-occurrence profile.

Shapes: word vectors (L+1, W, H) for embeddings + L layers, W words, H hidden.
The measurements run on the backend; vectors, ranks and shifted vectors come back
as NumPy arrays, ready for host-side scoring and plots on either backend.
Demo: ``demos/multilingual.py``.
"""
from __future__ import annotations

from .. import backend
from ..backend import xp
from ..tensor import no_grad
from ..text import WordPieceTokenizer, pad_batch


def joint_tokenizer(*word_lists) -> WordPieceTokenizer:
    """One vocabulary for several languages: the union of their word lists, each word one
    token. Words spelled the same in two lists (the anchors) share one id; no letters are
    added, so nothing else is shared."""
    words = [w for ws in word_lists for w in ws]
    if not words:
        raise ValueError("joint_tokenizer needs at least one non-empty word list")
    return WordPieceTokenizer.from_words(words, add_alphabet=False)


@no_grad()
def mean_word_vectors(model, sequences, word_ids, batch_size: int = 64, pad_id: int = 0):
    """Mean contextual vector of each word at every layer.

    ``model`` is a BertModel; ``sequences`` a list of token-id lists (already with
    [CLS]/[SEP]); ``word_ids`` the W vocabulary ids to average. Returns
    ``(vectors (L+1, W, H) float64, counts (W,) int)`` as NumPy arrays; index 0 is the
    embedding layer. A word that never occurs has count 0 and a zero vector.
    """
    word_ids = xp.asarray(word_ids, dtype=xp.int64)
    if word_ids.ndim != 1 or len(xp.unique(word_ids)) != len(word_ids):
        raise ValueError("word_ids must be a 1-D list of distinct token ids")
    V = int(max(int(word_ids.max()), max(max(s) for s in sequences))) + 1
    slot = xp.full(V, -1, dtype=xp.int64)  # token id -> row in the output (-1: not asked for)
    slot[word_ids] = xp.arange(len(word_ids))
    was = model.training
    model.eval()
    sums, counts = None, xp.zeros(len(word_ids), dtype=xp.int64)
    for k in range(0, len(sequences), batch_size):
        ids, mask = pad_batch(sequences[k:k + batch_size], pad_id)
        ids, mask = xp.asarray(ids), xp.asarray(mask)
        hidden = model(ids, mask).hidden_states
        rows = xp.where(mask > 0, slot[ids], -1).reshape(-1)
        keep = rows >= 0
        r = rows[keep]
        if sums is None:
            sums = xp.zeros((len(hidden), len(word_ids), hidden[0].shape[-1]))
        for l, h in enumerate(hidden):
            backend.scatter_add(sums[l], r, h.array.reshape(-1, h.shape[-1])[keep].astype(xp.float64))
        counts += xp.bincount(r, minlength=len(word_ids))
    model.train(was)
    return backend.to_numpy(sums / xp.maximum(counts, 1)[None, :, None]), backend.to_numpy(counts)


def cosine_ranks(src, tgt, gold):
    """1-based rank of ``tgt[gold[i]]`` among all rows of ``tgt`` by cosine to ``src[i]``
    (a NumPy int array). Ties count against the query (an all-equal score row gives the worst rank)."""
    src, tgt, gold = xp.asarray(src, xp.float64), xp.asarray(tgt, xp.float64), xp.asarray(gold)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[1] != tgt.shape[1]:
        raise ValueError(f"src (Q, H) and tgt (N, H) must share H; got {src.shape} and {tgt.shape}")
    if gold.shape != (len(src),):
        raise ValueError(f"gold must hold one target index per query ({len(src)}), got shape {gold.shape}")
    unit = lambda m: m / xp.maximum(xp.linalg.norm(m, axis=1, keepdims=True), 1e-12)  # noqa: E731
    sim = unit(src) @ unit(tgt).T
    target = sim[xp.arange(len(src)), gold]
    return backend.to_numpy((sim >= target[:, None]).sum(1))


def alignment_scores(src, tgt, gold, ks=(1, 5)) -> dict:
    """MRR and top-k accuracy of translation retrieval by cosine."""
    ranks = cosine_ranks(src, tgt, gold)
    out = {"mrr": float((1.0 / ranks).mean())}  # ranks are on the host
    out.update({f"top{k}": float((ranks <= k).mean()) for k in ks})
    return out


def mean_shift(src, tgt):
    """Move ``src`` by the difference of the two languages' mean vectors (no dictionary used);
    returns a NumPy array."""
    src, tgt = xp.asarray(src, xp.float64), xp.asarray(tgt, xp.float64)
    return backend.to_numpy(src - src.mean(0) + tgt.mean(0))


def alignment_by_layer(vec_a, vec_b, gold, shift: bool = False) -> list:
    """``alignment_scores`` at every layer of (L+1, Q, H) and (L+1, N, H) word vectors."""
    return [alignment_scores(mean_shift(a, b) if shift else a, b, gold) for a, b in zip(vec_a, vec_b)]


def chance_mrr(n: int) -> float:
    """Expected MRR when the correct word's rank is uniform on 1..n: H_n / n."""
    return sum(1.0 / k for k in range(1, n + 1)) / n
