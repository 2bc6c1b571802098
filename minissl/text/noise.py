"""Corruptions for denoising seq2seq pre-training (BART, MASS).

The encoder reads a damaged sequence; the decoder must write the original.
Every function takes a 1-D list of ids and a ``numpy.random.Generator`` and
returns a new list (inputs are never modified).

BART's five noises:
    token_masking      each token -> [MASK] with probability p
    token_deletion     each token dropped with probability p (model must find where)
    text_infilling     non-overlapping spans, length ~ Poisson(lambda=3), covering mask_ratio
                       of the tokens (30%), each become ONE [MASK];
                       a length-0 span inserts a [MASK] (model must learn "nothing here")
    sentence_permutation   sentences shuffled
    document_rotation      the sequence rotated to start at a random token

MASS: one contiguous span (about half the sentence) is masked in the encoder
input; the decoder predicts exactly that span, token by token.

T5's span corruption: about 15% of the tokens, in spans of mean length 3, are
cut out; each span leaves one sentinel in the input, and the target lists the
sentinels, each followed by the span it stands for.
"""
from __future__ import annotations

import numpy as np

from .collate import seq2seq_batch

SENTINEL = "<extra_id_{}>"  # T5's names for the span markers of span corruption


def sentinel_tokens(n: int) -> list[str]:
    """T5's sentinel tokens ``<extra_id_0>`` .. ``<extra_id_{n-1}>``: add them to a vocabulary as
    special tokens (kept whole when written in text) and pass their ids to :func:`span_corruption`."""
    if n < 2:
        raise ValueError(f"span corruption needs at least 2 sentinels (one span and the closing one), got {n}")
    return [SENTINEL.format(i) for i in range(n)]


def token_masking(ids, mask_id: int, rng, p: float = 0.15) -> list[int]:
    ids = np.asarray(ids, dtype=np.int64)
    return np.where(rng.random(len(ids)) < p, mask_id, ids).tolist()


def token_deletion(ids, rng, p: float = 0.15) -> list[int]:
    ids = np.asarray(ids, dtype=np.int64)
    return ids[rng.random(len(ids)) >= p].tolist()


def text_infilling(ids, mask_id: int, rng, mask_ratio: float = 0.3, poisson_lambda: float = 3.0,
                   return_spans: bool = False):
    """Replace spans covering ``mask_ratio`` of the tokens by one [MASK] each.

    The masked count m is ``mask_ratio * n`` rounded down or up at random, so that
    E[m] = mask_ratio * n exactly for any length n. Span lengths ~ Poisson(lambda)
    are drawn until they reach m, and the last is cut so they sum to m (as in
    fairseq). The n - m kept tokens leave n - m + 1 gaps; each span goes into a
    different gap, chosen uniformly, so spans never overlap or touch and exactly
    m tokens are masked. A length-0 span inserts a [MASK] (the model must learn
    "nothing here"). With return_spans: also [(start, length)] in the input.
    """
    if not 0 <= mask_ratio <= 1:
        raise ValueError(f"mask_ratio is a fraction of the tokens, from 0 to 1; got {mask_ratio}")
    if poisson_lambda <= 0:
        raise ValueError(f"poisson_lambda is the mean span length and must be > 0; got {poisson_lambda}")
    ids = list(ids)
    n = len(ids)
    m = int(mask_ratio * n)
    m += int(rng.random() < mask_ratio * n - m)
    lengths = []
    while sum(lengths) < m and len(lengths) <= 10 * n:  # the bound: a tiny lambda draws zeros for ages
        lengths.append(int(rng.poisson(poisson_lambda)))
    if lengths:
        lengths[-1] += m - sum(lengths)
    gaps = n - m + 1
    if len(lengths) > gaps:  # more spans than places to put them apart: the surplus joins the last one
        lengths = lengths[:gaps - 1] + [sum(lengths[gaps - 1:])]
    lengths = [lengths[i] for i in rng.permutation(len(lengths))]
    at = np.sort(rng.choice(gaps, size=len(lengths), replace=False))
    out, spans, cursor = [], [], 0
    for j, k in zip(at, lengths):
        s = int(j) + sum(k0 for _, k0 in spans)  # j kept tokens and the earlier spans come before it
        out.extend(ids[cursor:s])
        out.append(mask_id)
        spans.append((s, k))
        cursor = s + k
    out.extend(ids[cursor:])
    return (out, spans) if return_spans else out


def sentence_permutation(sentences, rng) -> list[int]:
    """A list of sentences (each a list of ids) -> their concatenation in random order."""
    order = rng.permutation(len(sentences))
    return [t for i in order for t in sentences[i]]


def document_rotation(ids, rng) -> list[int]:
    ids = list(ids)
    if not ids:
        return ids
    k = int(rng.integers(len(ids)))
    return ids[k:] + ids[:k]


def mass_mask(ids, mask_id: int, rng, span_fraction: float = 0.5):
    """MASS: mask one contiguous span of length round(span_fraction * n) (at least 1).

    Returns dict: encoder_input (n,), decoder_input (m,) = [MASK] + span[:-1]
    (teacher forcing, shifted right), decoder_target (m,) = span, span=(start, end).
    """
    ids = list(ids)
    n = len(ids)
    if n == 0:
        raise ValueError("MASS needs a non-empty sequence")
    m = max(1, int(round(span_fraction * n)))
    s = int(rng.integers(0, n - m + 1))
    span = ids[s:s + m]
    return {"encoder_input": ids[:s] + [mask_id] * m + ids[s + m:],
            "decoder_input": [mask_id] + span[:-1], "decoder_target": span, "span": (s, s + m)}


class BartCollator:
    """List of id lists (or of sentence lists) -> a denoising seq2seq batch.

    noises: any of "mask", "delete", "infill", "permute", "rotate", applied in
    that order ("permute" needs each example as a list of sentences).
    Calling it on a list of examples gives :func:`~minissl.text.collate.seq2seq_batch`'s
    int64 arrays: input_ids (B, S), attention_mask (B, S), decoder_input_ids (B, T) =
    [bos] + target, labels (B, T) = target + [eos], -100 on padding.
    """

    ORDER = ("permute", "mask", "delete", "infill", "rotate")

    def __init__(self, mask_id: int, pad_id: int, bos_id: int, noises=("infill", "permute"),
                 mask_ratio: float = 0.3, poisson_lambda: float = 3.0, seed: int = 0, *, eos_id: int):
        unknown = set(noises) - set(self.ORDER)
        if unknown:
            raise ValueError(f"unknown noise {sorted(unknown)}; choose from {self.ORDER}")
        self.mask_id, self.pad_id, self.bos_id, self.eos_id = mask_id, pad_id, bos_id, eos_id
        self.noises, self.ratio, self.lam = tuple(noises), mask_ratio, poisson_lambda
        self.rng = np.random.default_rng(seed)

    def noise(self, example) -> tuple[list[int], list[int]]:
        """One example -> (noised input, clean target)."""
        is_sents = len(example) > 0 and isinstance(example[0], (list, tuple, np.ndarray))
        sents = [list(s) for s in example] if is_sents else [list(example)]
        target = [t for s in sents for t in s]
        x = sentence_permutation(sents, self.rng) if "permute" in self.noises else target
        if "mask" in self.noises:
            x = token_masking(x, self.mask_id, self.rng, self.ratio)
        if "delete" in self.noises:
            x = token_deletion(x, self.rng, self.ratio)
        if "infill" in self.noises:
            x = text_infilling(x, self.mask_id, self.rng, self.ratio, self.lam)
        if "rotate" in self.noises:
            x = document_rotation(x, self.rng)
        return x, target

    def __call__(self, examples):
        return seq2seq_batch([self.noise(e) for e in examples], self.pad_id, self.bos_id, self.eos_id)


def random_segmentation(n: int, k: int, rng) -> np.ndarray:
    """Split ``n`` items into ``k`` non-empty consecutive pieces, uniformly over all such splits.

    Choosing k-1 distinct cut points among the n-1 gaps gives every split the same
    probability. Returns the k piece lengths (they sum to n).
    """
    if not 1 <= k <= n:
        raise ValueError(f"cannot split {n} items into {k} non-empty pieces; need 1 <= k <= n")
    cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else np.array([], np.int64)
    return np.diff(np.concatenate([[0], cuts, [n]])).astype(np.int64)


def span_corruption(ids, sentinel_ids, rng, noise_density: float = 0.15, mean_span_length: float = 3.0):
    """T5's pre-training noise: drop spans, keep one sentinel per span, ask for the spans back.

    With n tokens, ``m = round(noise_density * n)`` of them (at least 1, at most
    n-1) are noise, in ``k = round(m / mean_span_length)`` spans (at least 1).
    Noise and kept tokens are each split into k random non-empty runs, which
    alternate starting with a kept run and ending with a noise run, as in T5's
    ``random_spans_noise_mask``:

        "Thank you for inviting me to your party last week"
        input : "Thank you <X> me to your party <Y>"
        target: "<X> for inviting <Y> last week <Z>"

    ``sentinel_ids[i]`` marks the i-th span (T5 counts down from the end of the
    vocabulary: <extra_id_0> is the last id); the target ends with one more
    sentinel so the model learns where the list stops. Returns (input, target).
    """
    ids = list(ids)
    n = len(ids)
    if n < 2:
        raise ValueError(f"span corruption needs at least 2 tokens (one kept, one noised), got {n}")
    m = min(max(int(round(noise_density * n)), 1), n - 1)
    k = min(max(int(round(m / mean_span_length)), 1), m, n - m)
    if len(sentinel_ids) < k + 1:
        raise ValueError(f"{k} spans need {k + 1} sentinel ids, got {len(sentinel_ids)}; "
                         "add more sentinels (T5 has 100) or shorten the sequence")
    noise_lengths, keep_lengths = random_segmentation(m, k, rng), random_segmentation(n - m, k, rng)
    inp, tgt, pos = [], [], 0
    for i in range(k):
        inp.extend(ids[pos:pos + keep_lengths[i]])
        pos += keep_lengths[i]
        inp.append(sentinel_ids[i])
        tgt.append(sentinel_ids[i])
        tgt.extend(ids[pos:pos + noise_lengths[i]])
        pos += noise_lengths[i]
    tgt.append(sentinel_ids[k])
    return inp, tgt
