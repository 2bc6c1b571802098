"""Cross-lingual alignment helpers: ranks with several correct answers (against a loop),
removal of a pure language direction, the supervised offset, n-grams, pooling of word
vectors (against the model's own hidden states, and independent of batching)."""
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/ helpers
from e5s1_files import build  # noqa: E402

from minissl.models import crosslingual as xl  # noqa: E402


def loop_ranks(src, tgt, gold):
    out = []
    for i in range(len(src)):
        cos = [float(src[i] @ t / np.linalg.norm(src[i]) / np.linalg.norm(t)) for t in tgt]
        best = max(c for c, g in zip(cos, gold[i]) if g)
        out.append(1 + sum(c >= best for c, g in zip(cos, gold[i]) if not g))
    return np.array(out)


def test_ranks_take_the_best_correct_candidate():
    rng = np.random.default_rng(0)
    src, tgt = rng.standard_normal((20, 6)), rng.standard_normal((30, 6))
    gold = rng.random((20, 30)) < 0.1
    gold[np.arange(20), rng.integers(0, 30, 20)] = True
    np.testing.assert_array_equal(xl.ranks(src, tgt, gold), loop_ranks(src, tgt, gold))
    s = xl.scores([1, 2, 10])
    assert s["mrr"] == pytest.approx((1 + 0.5 + 0.1) / 3) and s["p1"] == pytest.approx(1 / 3)
    assert s["p5"] == pytest.approx(2 / 3)
    gold[3] = False
    with pytest.raises(ValueError, match="correct candidate in every row"):
        xl.ranks(src, tgt, gold)


def test_removing_the_means_undoes_a_pure_language_direction():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((50, 8))
    b = a + 10 * rng.standard_normal(8)        # language B = language A moved far along one direction
    gold = np.eye(50, dtype=bool)
    assert xl.scores(xl.ranks(a, b, gold))["p1"] < 0.5
    for method in (xl.shift, xl.centre):
        assert xl.scores(xl.ranks(*method(a, b), gold))["p1"] == 1.0
    np.testing.assert_allclose(xl.pair_offset(a[:5], b[:5]), (b - a)[0])
    assert xl.scores(xl.ranks(a + xl.pair_offset(a[:5], b[:5]), b, gold))["p1"] == 1.0


def test_centre_norm_is_centred_and_ignores_each_vectors_length():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((40, 5)) + 3, rng.standard_normal((30, 5)) - 2
    ca, cb = xl.centre_norm(a, b)
    ca2, cb2 = xl.centre_norm(a * rng.uniform(0.5, 4, (40, 1)), b * rng.uniform(0.5, 4, (30, 1)))
    np.testing.assert_allclose(ca, ca2, atol=1e-12)
    np.testing.assert_allclose(cb, cb2, atol=1e-12)
    np.testing.assert_allclose(cb.mean(0), 0, atol=1e-12)
    ref = rng.standard_normal((60, 5)) + 3       # A's mean taken from a larger word list
    np.testing.assert_allclose(xl.centre(a, b, ref)[0], a - ref.mean(0))


def test_char_ngrams_count_the_marked_word():
    from demo_modules import import_demo
    demo = import_demo("multilingual_real")
    m, vocab = demo.char_ngrams(["ab", "Ab"], 2, 2)
    assert set(vocab) == {"<a", "ab", "b>"}
    np.testing.assert_array_equal(m[0], m[1])  # lower-cased
    m2, _ = demo.char_ngrams(["abz"], 2, 2, vocab=vocab)
    assert m2.sum() == 2  # "bz" and "z>" are not in the vocabulary


def test_word_vectors_pool_the_models_hidden_states(tmp_path):
    from minissl.models.e5 import load_e5
    raw, _ = build(L=2)
    (tmp_path / "m.bin").write_bytes(raw)
    enc = load_e5(tmp_path / "m.bin")
    words = ["ab", "été", "cab", "a"]
    v = xl.word_vectors(enc.model, enc.tokenizer, words, batch_size=3)
    ids = enc.tokenizer.encode("été")
    hidden = np.stack([h.numpy()[0] for h in enc.model(np.array([ids])).hidden_states])  # (L+1, T, H)
    np.testing.assert_allclose(v["pieces"][:, 1], hidden[:, 1:-1].mean(1), atol=1e-5)
    np.testing.assert_allclose(v["all"][:, 1], hidden.mean(1), atol=1e-5)
    np.testing.assert_allclose(v["first"][:, 1], hidden[:, 1], atol=1e-5)
    alone = xl.word_vectors(enc.model, enc.tokenizer, ["été"])
    np.testing.assert_allclose(alone["pieces"][:, 0], v["pieces"][:, 1], atol=1e-5)
