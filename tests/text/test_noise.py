from collections import Counter

import numpy as np

from minissl.text import (BartCollator, document_rotation, mass_mask, sentence_permutation,
                          text_infilling, token_deletion, token_masking)

MASK = 4


def poisson_pmf(k, lam):
    return np.exp(-lam) * lam ** k / np.prod(np.arange(1, k + 1)) if k else np.exp(-lam)


def test_infilling_span_lengths_follow_poisson3():
    rng = np.random.default_rng(0)
    lengths = []
    for _ in range(400):
        _, spans = text_infilling(list(range(10, 210)), MASK, rng, 0.3, 3.0, return_spans=True)
        lengths += [k for s, k in spans if s + k < 200]  # spans cut by the end are shorter
    counts = Counter(lengths)
    n = len(lengths)
    # chi-square over bins 0..7 and 8+, df = 8; critical value at p=0.001 is 26.1.
    probs = [poisson_pmf(k, 3.0) for k in range(8)]
    probs.append(1 - sum(probs))
    obs = [counts[k] for k in range(8)] + [sum(v for k, v in counts.items() if k >= 8)]
    chi2 = sum((o - n * p) ** 2 / (n * p) for o, p in zip(obs, probs))
    assert chi2 < 26.1, (chi2, obs)
    assert counts[0] > 0  # zero-length spans happen (and insert a mask)


def test_infilling_replaces_each_span_with_one_mask():
    rng = np.random.default_rng(1)
    ids = list(range(10, 110))
    out, spans = text_infilling(ids, MASK, rng, 0.3, 3.0, return_spans=True)
    assert out.count(MASK) == len(spans)
    assert len(out) == len(ids) - sum(k for _, k in spans) + len(spans)
    kept = [t for t in out if t != MASK]
    assert kept == [t for t in ids if not any(s <= t - 10 < s + k for s, k in spans)]


def test_rotation_and_permutation_keep_tokens():
    rng = np.random.default_rng(2)
    ids = list(rng.integers(5, 50, size=40))
    rot = document_rotation(ids, rng)
    assert sorted(rot) == sorted(ids) and any(rot[i:] + rot[:i] == ids for i in range(len(ids)))
    sents = [[1, 2], [3], [4, 5, 6]]
    perm = sentence_permutation(sents, rng)
    assert sorted(perm) == [1, 2, 3, 4, 5, 6]


def test_masking_and_deletion_rates():
    rng = np.random.default_rng(3)
    ids = list(range(10, 10010))
    assert abs(token_masking(ids, MASK, rng, 0.15).count(MASK) - 1500) < 5 * np.sqrt(10000 * .15 * .85)
    out = token_deletion(ids, rng, 0.15)
    assert abs(len(out) - 8500) < 5 * np.sqrt(10000 * .15 * .85) and out == sorted(out)


def test_mass_span():
    rng = np.random.default_rng(4)
    ids = list(range(10, 30))
    m = mass_mask(ids, MASK, rng)
    s, e = m["span"]
    assert e - s == 10 and m["decoder_target"] == ids[s:e]
    assert m["encoder_input"][s:e] == [MASK] * 10 and m["encoder_input"][:s] == ids[:s]
    assert m["decoder_input"] == [MASK] + ids[s:e - 1]


def test_bart_collator_writes_the_clean_text_then_eos():
    col = BartCollator(mask_id=MASK, pad_id=0, bos_id=2, noises=("permute", "infill"), eos_id=3)
    b = col([[[5, 6, 7], [8, 9]], [[10, 11, 12, 13]]])
    assert b["labels"].tolist() == [[5, 6, 7, 8, 9, 3], [10, 11, 12, 13, 3, -100]]
    assert b["decoder_input_ids"].tolist() == [[2, 5, 6, 7, 8, 9], [2, 10, 11, 12, 13, 0]]
    assert b["input_ids"].dtype == np.int64
    assert set(b["input_ids"][0]) - {0} <= {5, 6, 7, 8, 9, MASK}  # the noised source: the same tokens or [MASK]
