"""Cross-lingual alignment measures: word vectors, cosine ranks, MRR, the mean shift."""
import numpy as np
import pytest

import minissl as ms
from minissl.models.bert import BertConfig, BertModel
from minissl.models.multilingual import (alignment_by_layer, alignment_scores, chance_mrr, cosine_ranks,
                                         joint_tokenizer, mean_shift, mean_word_vectors)
from minissl.tasks import grammar_vocab
from minissl.text import BERT_SPECIALS

npy = ms.backend.to_numpy  # results live on the backend (CuPy on a GPU)


def test_joint_tokenizer_shares_only_the_anchors():
    a, b = grammar_vocab("a"), grammar_vocab("b")
    tok = joint_tokenizer(a, b)
    assert tok.vocab_size == len(BERT_SPECIALS) + len(set(a) | set(b))
    ids_a, ids_b = set(tok.convert_tokens_to_ids(a)), set(tok.convert_tokens_to_ids(b))
    assert tok.unk_token_id not in ids_a | ids_b  # every word is one known token
    shared = {tok.id_to_token(i) for i in ids_a & ids_b}
    assert shared == {".", "?", ","}
    with pytest.raises(ValueError, match="non-empty"):
        joint_tokenizer([], [])


def test_mean_word_vectors_equal_a_loop_over_single_sentences():
    ms.manual_seed(0)
    cfg = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=16, max_position_embeddings=16)
    model = BertModel(cfg)
    rng = np.random.default_rng(0)
    seqs = [[2] + list(rng.integers(5, 20, size=int(rng.integers(2, 9)))) + [3] for _ in range(7)]
    words = [5, 9, 12, 19]
    got, counts = map(npy, mean_word_vectors(model, seqs, words, batch_size=3))  # padded batches of 3
    model.eval()
    sums = np.zeros((3, len(words), 8))
    n = np.zeros(len(words))
    for s in seqs:  # one unpadded sentence at a time: padding must not change anything
        hs = [h.numpy()[0] for h in model(np.array([s])).hidden_states]
        for t, tokid in enumerate(s):
            if tokid in words:
                j = words.index(tokid)
                n[j] += 1
                for l in range(3):
                    sums[l, j] += hs[l][t]
    np.testing.assert_array_equal(counts, n)
    expect = sums / np.maximum(n, 1)[None, :, None]
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    model.train()  # the caller's mode is restored
    mean_word_vectors(model, seqs, words)
    assert model.training


def test_cosine_ranks_by_hand():
    src = np.array([[1.0, 0.0], [0.0, 2.0]])
    tgt = np.array([[3.0, 0.3], [0.0, 1.0], [1.0, 1.0]])
    # query 0: cosines 0.995, 0, 0.707 -> target 2 is 2nd; query 1: 0.0995, 1, 0.707 -> target 0 is 3rd
    np.testing.assert_array_equal(npy(cosine_ranks(src, tgt, [2, 0])), [2, 3])
    s = alignment_scores(src, tgt, [2, 0], ks=(1, 2))
    assert s == pytest.approx({"mrr": (1 / 2 + 1 / 3) / 2, "top1": 0.0, "top2": 0.5})
    # cosine ignores length: rescaling targets by positive numbers changes no rank
    np.testing.assert_array_equal(npy(cosine_ranks(src, tgt * np.array([[0.1], [7.0], [2.0]]), [2, 0])), [2, 3])
    # ties count against the query
    np.testing.assert_array_equal(npy(cosine_ranks(src[:1], np.array([[1.0, 0.0], [2.0, 0.0]]), [0])), [2])


def test_permuted_copy_is_perfectly_aligned_and_random_vectors_are_near_chance():
    rng = np.random.default_rng(1)
    src = rng.standard_normal((200, 32))
    perm = rng.permutation(200)
    s = alignment_scores(src, src[perm], np.argsort(perm))
    assert s["mrr"] == 1.0 and s["top1"] == 1.0
    r = alignment_scores(src, rng.standard_normal((200, 32)), np.arange(200))
    assert abs(r["mrr"] - chance_mrr(200)) < 0.03


def test_chance_mrr_by_hand_and_by_simulation():
    assert chance_mrr(1) == 1.0
    assert chance_mrr(2) == pytest.approx(0.75)
    assert chance_mrr(4) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    ranks = np.random.default_rng(0).integers(1, 51, size=200_000)
    assert chance_mrr(50) == pytest.approx(np.mean(1 / ranks), abs=2e-3)


def test_mean_shift_undoes_a_language_offset():
    rng = np.random.default_rng(2)
    words = rng.standard_normal((100, 16))
    offset = 10 * rng.standard_normal(16)  # a "language direction" much longer than the spread
    a, b = words + offset, words
    before = alignment_scores(a, b, np.arange(100))["mrr"]
    after = alignment_scores(mean_shift(a, b), b, np.arange(100))["mrr"]
    assert before < 0.3 and after == 1.0
    np.testing.assert_allclose(npy(mean_shift(a, b)).mean(0), b.mean(0), atol=1e-12)
    layers = alignment_by_layer(np.stack([a, words]), np.stack([b, words]), np.arange(100), shift=True)
    assert [l["mrr"] for l in layers] == [1.0, 1.0]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="share H"):
        cosine_ranks(np.ones((2, 3)), np.ones((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="one target index per query"):
        cosine_ranks(np.ones((2, 3)), np.ones((2, 3)), [0])
    with pytest.raises(ValueError, match="distinct"):
        mean_word_vectors(None, [[1, 2]], [1, 1])
