from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minissl.text import (BartCollator, document_rotation, mass_mask, random_segmentation, sentence_permutation,
                          sentinel_tokens, span_corruption, text_infilling, token_deletion, token_masking)

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


@pytest.mark.parametrize("ratio", [0.15, 0.3, 0.6])
def test_infilling_masks_the_requested_share_of_tokens(ratio):
    # Dropping spans that overlap an earlier one masks 25-29% when 30% is asked, far outside this
    # tolerance; the stochastic rounding keeps short sequences (n = 7: 2.1 tokens) on target too.
    rng = np.random.default_rng(5)
    masked = total = 0
    for _ in range(3000):
        n = int(rng.integers(7, 60))
        _, spans = text_infilling(list(range(10, 10 + n)), MASK, rng, ratio, 3.0, return_spans=True)
        masked += sum(k for _, k in spans)
        total += n
    assert abs(masked / total - ratio) < 0.004, masked / total


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 80), st.floats(0, 1), st.floats(0.2, 6), st.integers(0, 2**32 - 1))
def test_infilling_spans_are_apart_and_inside(n, ratio, lam, seed):
    out, spans = text_infilling(list(range(10, 10 + n)), MASK, np.random.default_rng(seed), ratio, lam,
                                return_spans=True)
    m = sum(k for _, k in spans)
    assert m in (int(ratio * n), int(ratio * n) + 1)
    for (s0, k0), (s1, _) in zip(spans, spans[1:]):
        assert s0 + k0 < s1  # at least one kept token between two spans: no overlap, no merging
    assert all(0 <= s and s + k <= n for s, k in spans)
    assert len(out) == n - m + len(spans)


def test_infilling_refuses_a_rate_outside_0_1():
    with pytest.raises(ValueError, match="from 0 to 1"):
        text_infilling([1, 2, 3], MASK, np.random.default_rng(0), 1.5)


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


# ---- T5 span corruption ----

SENTINELS = list(range(1000, 900, -1))  # <extra_id_0> = 1000, counting down as in T5


def _restore(inp, tgt):
    """Put each span of the target back in place of its sentinel in the input."""
    spans, cur = {}, None
    for t in tgt:
        if t in SENTINELS:
            cur = t
            spans[cur] = []
        else:
            spans[cur].append(t)
    return [x for t in inp for x in (spans[t] if t in SENTINELS else [t])]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 200), seed=st.integers(0, 2**31 - 1))
def test_span_corruption_is_lossless_and_has_t5s_layout(n, seed):
    ids = list(range(n))
    inp, tgt = span_corruption(ids, SENTINELS, np.random.default_rng(seed))
    assert _restore(inp, tgt) == ids  # input + target together hold exactly the text
    k = sum(t in SENTINELS for t in inp)
    assert tgt[0] == SENTINELS[0] and tgt[-1] == SENTINELS[k]  # one closing sentinel
    assert inp[0] not in SENTINELS and inp[-1] == SENTINELS[k - 1]  # kept run first, noise run last
    m = len(tgt) - (k + 1)  # noise tokens
    assert m == min(max(round(0.15 * n), 1), n - 1)


def test_span_corruption_rate_and_mean_span_length_match_t5():
    rng = np.random.default_rng(0)
    noised = spans = total = 0
    for _ in range(300):
        inp, tgt = span_corruption(list(range(512)), SENTINELS, rng)
        k = len(tgt) - len([t for t in tgt if t not in SENTINELS]) - 1
        noised += len(tgt) - k - 1
        spans += k
        total += 512
    assert noised / total == pytest.approx(0.15, abs=0.002)  # round(0.15*512) = 77 of 512
    assert noised / spans == pytest.approx(3.0, abs=0.05)  # 77 tokens in round(77/3) = 26 spans


def test_random_segmentation_is_uniform_over_splits():
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(6000):
        key = tuple(random_segmentation(5, 3, rng))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6  # C(4, 2) ways to split 5 into 3 non-empty runs
    assert all(900 < c < 1100 for c in counts.values())  # 1000 each; 5 standard deviations is 5*29
    with pytest.raises(ValueError, match="non-empty"):
        random_segmentation(2, 3, rng)


def test_span_corruption_names_what_is_missing():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        span_corruption([5], SENTINELS, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sentinel ids"):
        span_corruption(list(range(100)), SENTINELS[:2], np.random.default_rng(0))


def test_sentinel_tokens_are_t5s_names():
    assert sentinel_tokens(3) == ["<extra_id_0>", "<extra_id_1>", "<extra_id_2>"]
    with pytest.raises(ValueError, match="at least 2 sentinels"):
        sentinel_tokens(1)
