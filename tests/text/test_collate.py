"""Statistical tests of the masking rates: each count is Binomial(n, p), so a
5-sigma band gives a test that fails on a wrong rate but essentially never by chance."""
import numpy as np
import pytest

from minissl.text import (IGNORE_INDEX, MLMCollator, WordPieceTokenizer, causal_lm_collate, lm_batch,
                          make_nsp_pairs, make_sop_pairs, mask_tokens, mlm_batch, mlm_batches)

VOCAB, MASK, PAD, CLS, SEP = 50, 4, 0, 2, 3
SPECIAL = [0, 1, 2, 3, 4]


def within(count, n, p, sigmas=5):
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p))


def make_batch(rng, B=400, T=64):
    ids = rng.integers(5, VOCAB, size=(B, T))
    ids[:, 0], ids[:, -1] = CLS, SEP
    mask = np.ones((B, T), dtype=np.int64)
    lengths = rng.integers(10, T, size=B)
    for i, n in enumerate(lengths):
        ids[i, n - 1] = SEP
        ids[i, n:] = PAD
        mask[i, n:] = 0
    return ids, mask


def test_mlm_rates_80_10_10():
    rng = np.random.default_rng(0)
    ids, att = make_batch(rng)
    out, labels = mask_tokens(ids, rng, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL,
                              attention_mask=att)
    eligible = ~np.isin(ids, SPECIAL) & (att == 1)
    chosen = labels != IGNORE_INDEX
    n_el, n_ch = eligible.sum(), chosen.sum()
    assert within(n_ch, n_el, 0.15)
    assert not (chosen & ~eligible).any()  # specials and padding never chosen
    assert (labels[chosen] == ids[chosen]).all()  # labels are the original ids
    assert (out[~chosen] == ids[~chosen]).all()  # unchosen tokens untouched
    became_mask = (out == MASK) & chosen
    assert within(became_mask.sum(), n_ch, 0.8)
    changed = chosen & (out != MASK) & (out != ids)
    stayed = chosen & (out == ids)
    # a random replacement equals the original with prob 1/45, so "stayed" is 0.1 + 0.1/45
    assert within(stayed.sum(), n_ch, 0.1 + 0.1 / 45)
    assert within(changed.sum(), n_ch, 0.1 * 44 / 45)
    assert not np.isin(out[changed], SPECIAL).any()  # random tokens are never special


def test_whole_word_masking_masks_all_pieces():
    rng = np.random.default_rng(1)
    ids = rng.integers(5, VOCAB, size=(200, 30))
    starts = rng.random((200, 30)) < 0.5
    starts[:, 0] = True
    _, labels = mask_tokens(ids, rng, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL,
                            word_starts=starts)
    chosen = labels != IGNORE_INDEX
    word = np.cumsum(starts, axis=1)
    for i in range(200):
        for w in np.unique(word[i]):
            sel = chosen[i, word[i] == w]
            assert sel.all() or not sel.any()
    assert within(chosen[starts].sum(), starts.sum(), 0.15)


def test_collator_with_wordpiece_pairs():
    tok = WordPieceTokenizer.from_words("the dog cat ran sat".split())
    col = MLMCollator(tok, seed=0, max_length=16)
    b = col([("the dog ran", "the cat sat", 0), ("the cat", "the dog", 1)])
    assert b["input_ids"].dtype == np.int64 and b["labels"].shape == b["input_ids"].shape
    assert b["sentence_label"].tolist() == [0, 1]
    assert (b["labels"][b["attention_mask"] == 0] == IGNORE_INDEX).all()
    b2 = MLMCollator(tok, seed=0, whole_word_mask=True)(["the dog ran"] * 4)
    assert b2["input_ids"].shape == (4, 5)


def test_nsp_pairs():
    docs = [[f"d{d}s{i}" for i in range(6)] for d in range(20)]
    pairs = make_nsp_pairs(docs, seed=0)
    labels = np.array([p[2] for p in pairs])
    assert within(labels.sum(), len(labels), 0.5)
    for a, b, y in pairs:
        da, ia = a[1:].split("s")
        db, ib = b[1:].split("s")
        if y == 0:
            assert da == db and int(ib) == int(ia) + 1
        else:
            assert da != db


def _sentences(segment):
    """"3-4 3-5" -> (document 3, [4, 5])."""
    parts = [w.split("-") for w in segment.split()]
    return {int(d) for d, _ in parts}, [int(i) for _, i in parts]


def test_sop_pairs_are_runs_of_sentences_in_order_or_swapped():
    docs = [[f"{d}-{i}" for i in range(11)] for d in range(300)]
    pairs = make_sop_pairs(docs, seed=0, max_sentences=4, short_seq_prob=0.1)
    labels = np.array([p[2] for p in pairs])
    assert within(labels.sum(), len(labels), 0.5)
    first_len, used = [], set()
    for a, b, y in pairs:
        (da,), ia = _sentences(a)
        (db,), ib = _sentences(b)
        assert da == db  # one document
        first, second = (ia, ib) if y == 0 else (ib, ia)
        run = first + second
        assert run == list(range(run[0], run[0] + len(run))) and 2 <= len(run) <= 4  # consecutive sentences
        assert not used & {(da, i) for i in run}  # chunks do not overlap
        used |= {(da, i) for i in run}
        if len(run) == 4:
            first_len.append(len(first))
    # The cut is uniform inside a chunk: in 4-sentence chunks the first segment holds 1, 2 or 3 sentences
    # equally often, so most segments span several sentences (single-sentence segments would give only 1).
    counts = np.bincount(first_len, minlength=4)[1:]
    assert all(within(c, len(first_len), 1 / 3) for c in counts), counts
    assert {len(run) for a, b, _ in pairs for run in [_sentences(a)[1] + _sentences(b)[1]]} == {2, 3, 4}


def test_sop_refuses_chunks_too_small_for_two_segments():
    with pytest.raises(ValueError, match="max_sentences must be >= 2"):
        make_sop_pairs([["a", "b"]], max_sentences=1)


def test_next_token_batches_shift_by_one():
    stream = np.arange(100)
    x, y = lm_batch(stream, 8, 10, np.random.default_rng(0))
    assert x.shape == y.shape == (8, 10) and (y == x + 1).all()
    out = causal_lm_collate([[5, 6, 7], [8, 9]], pad_id=0)
    assert out["input_ids"].tolist() == [[5, 6], [8, 9]]
    assert out["labels"].tolist() == [[6, 7], [9, IGNORE_INDEX]]
    with pytest.raises(ValueError, match="block_size"):
        lm_batch(np.arange(5), 2, 10, np.random.default_rng(0))


def test_mlm_batch_pads_masks_and_keeps_sentence_labels_only_when_all_have_one():
    rng = np.random.default_rng(0)
    ex = [([CLS, 7, 8, 9, SEP], [0, 0, 0, 0, 0], 1), ([CLS, 10, SEP, 11, SEP], [0, 0, 0, 1, 1], 0)]
    kw = dict(mask_id=MASK, pad_id=PAD, vocab_size=VOCAB, special_ids=SPECIAL, mlm_probability=0.5)
    b = mlm_batch(ex, rng, **kw)
    assert b["input_ids"].shape == b["labels"].shape == b["token_type_ids"].shape == (2, 5)
    np.testing.assert_array_equal(b["token_type_ids"][1], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(b["sentence_label"], [1, 0])
    gold = np.array([e[0] for e in ex])
    chosen = b["labels"] != IGNORE_INDEX
    np.testing.assert_array_equal(b["labels"][chosen], gold[chosen])  # a label is the original token
    assert not np.isin(gold[chosen], SPECIAL).any()  # [CLS]/[SEP] are never chosen
    np.testing.assert_array_equal(b["input_ids"][~chosen], gold[~chosen])
    assert "sentence_label" not in mlm_batch([ex[0], (ex[1][0], ex[1][1], None)], rng, **kw)


def test_mlm_batch_takes_plain_id_lists_as_single_segments_without_a_sentence_label():
    ids = [[CLS, 7, 8, 9, SEP], np.array([CLS, 10, 11, SEP])]
    kw = dict(mask_id=MASK, pad_id=PAD, vocab_size=VOCAB, special_ids=SPECIAL, mlm_probability=0.5)
    got = mlm_batch(ids, np.random.default_rng(4), **kw)
    want = mlm_batch([(list(q), [0] * len(q), None) for q in ids], np.random.default_rng(4), **kw)
    assert got.keys() == want.keys() and "sentence_label" not in got
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert not got["token_type_ids"].any()


def test_mlm_batches_draws_a_fresh_seeded_sample_each_step():
    ex = [([CLS, 5 + i, SEP], [0, 0, 0], None) for i in range(40)]
    kw = dict(mask_id=MASK, pad_id=PAD, vocab_size=VOCAB, special_ids=SPECIAL)
    a, b = mlm_batches(ex, 6, np.random.default_rng(3), **kw), mlm_batches(ex, 6, np.random.default_rng(3), **kw)
    first, again = a(0), b(0)
    assert first["input_ids"].shape[0] == 6
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])  # the same generator gives the same run
    assert not np.array_equal(a(1)["input_ids"], a(2)["input_ids"])  # a new sample each step
    with pytest.raises(ValueError, match="batch_size"):
        mlm_batches(ex, 0, np.random.default_rng(0), **kw)


def test_mlm_batch_refuses_an_empty_example_in_one_sentence():
    kw = dict(mask_id=MASK, pad_id=PAD, vocab_size=VOCAB, special_ids=SPECIAL)
    with pytest.raises(ValueError, match="an example is empty"):
        mlm_batch([[CLS, 7, SEP], []], np.random.default_rng(0), **kw)
