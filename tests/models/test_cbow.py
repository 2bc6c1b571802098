"""CBOW: the readable model, word2vec's sampling rules, hand-derived gradients, KeyedVectors."""
import math

import numpy as np
import pytest

import minissl as ms
from minissl import backend
from minissl.backend import xp
from minissl.models import cbow as C
from minissl.models import word2vec
from minissl.models.word_vectors import KeyedVectors


def _stats():
    return pytest.importorskip("scipy.stats")                 # chi-square tests only; minissl needs no SciPy


# ---------------------------------------------------------------- sampling
def test_noise_distribution_matches_count_power_075_chi_square():
    stats = _stats()
    counts = np.array([1000, 400, 120, 60, 25, 9, 3, 1])
    expected = counts ** 0.75 / (counts ** 0.75).sum()      # independent of the code: the definition
    table = word2vec.alias_table(word2vec.noise_distribution(xp.asarray(counts)))
    draws = backend.to_numpy(word2vec.draw_noise(table, 200_000, xp.random.default_rng(0)))
    observed = np.bincount(draws, minlength=len(counts))
    p = stats.chisquare(observed, expected * len(draws)).pvalue
    assert p > 1e-3, f"chi-square p={p}: noise words are not drawn from count^0.75"
    # and the test has power: plain unigram frequencies are rejected
    assert stats.chisquare(observed, counts / counts.sum() * len(draws)).pvalue < 1e-6


def test_subsampling_keep_rate_matches_word2vec_formula():
    counts = np.array([50_000, 5_000, 500, 50, 5])
    sample, T = 1e-3, counts.sum()
    ids = np.repeat(np.arange(len(counts)), counts)
    keep = word2vec.keep_probability(xp.asarray(counts), sample)
    rng = xp.random.default_rng(1)
    pos, *_ = word2vec.epoch_examples(xp.asarray(ids, dtype=xp.int32), xp.zeros(len(ids), dtype=xp.int32), keep,
                               word2vec.alias_table(word2vec.noise_distribution(xp.asarray(counts))), 2, 1, rng)
    kept = np.bincount(ids[backend.to_numpy(pos)], minlength=len(counts))
    tT = sample * T
    formula = np.minimum((np.sqrt(counts / tT) + 1) * tT / counts, 1.0)
    assert formula[0] < 0.4 and formula[-1] == 1.0            # frequent words really are dropped
    sd = np.sqrt(counts * formula * (1 - formula)) + 1
    assert np.all(np.abs(kept - counts * formula) < 5 * sd), (kept, counts * formula)
    assert np.array_equal(backend.to_numpy(word2vec.keep_probability(xp.asarray(counts), 0)), np.ones(5))


def test_dynamic_window_is_uniform_and_respected():
    stats = _stats()
    W = 5
    reach = backend.to_numpy(word2vec.draw_reach(60_000, W, xp.random.default_rng(2)))
    assert reach.min() == 1 and reach.max() == W
    assert stats.chisquare(np.bincount(reach, minlength=W + 1)[1:]).pvalue > 1e-3
    # one long sentence, no subsampling: the number of context words per centre is 2·reach
    n = 2000
    ids = xp.asarray(np.arange(n) % 50, dtype=xp.int32)
    pos, stream, mask, targets = word2vec.epoch_examples(
        ids, xp.zeros(n, dtype=xp.int32), xp.ones(50), word2vec.alias_table(xp.ones(50) / 50), W, 3, xp.random.default_rng(3))
    stream, mask, targets = backend.to_numpy(stream), backend.to_numpy(mask), backend.to_numpy(targets)
    assert stream.shape == (n + 2 * W,) and mask.shape == (n, 2 * W + 1) and targets.shape == (n, 4)
    count = mask.sum(1)
    inner = count[W:-W]                                       # away from the sentence ends
    assert set(np.unique(inner)) <= {2, 4, 6, 8, 10}
    assert stats.chisquare(np.bincount(inner // 2, minlength=W + 1)[1:]).pvalue > 1e-3
    # the window of word t is stream[t : t+2W+1], the word itself in the middle and never its own context
    np.testing.assert_array_equal(stream[W:-W], np.arange(n) % 50)
    np.testing.assert_array_equal(targets[:, 0], np.arange(n) % 50)
    assert not mask[:, W].any()
    np.testing.assert_array_equal(mask[W:-W, :W][:, ::-1], mask[W:-W, W + 1:])   # symmetric: ±offset together
    assert not mask[0, :W].any() and not mask[-1, W + 1:].any()                  # nothing beyond the ends


def test_windows_stop_at_sentence_boundaries():
    ids = xp.asarray([0, 1, 2, 3, 4, 5], dtype=xp.int32)
    sent = xp.asarray([0, 0, 0, 1, 1, 2], dtype=xp.int32)      # the last word is alone: no example
    pos, stream, mask, targets = word2vec.epoch_examples(ids, sent, xp.ones(6), word2vec.alias_table(xp.ones(6) / 6),
                                                  5, 2, xp.random.default_rng(0))
    pos, stream, mask = (backend.to_numpy(a) for a in (pos, stream, mask))
    assert pos.tolist() == [0, 1, 2, 3, 4, 5]
    for t in pos[:5]:
        got = set(stream[t:t + 11][mask[t]].tolist())        # the window of word t
        assert got and got <= ({0, 1, 2} - {t} if t < 3 else {3, 4} - {t})
    assert not mask[5].any()


# ---------------------------------------------------------------- gradients
def test_hand_derived_gradients_match_autograd_and_gradcheck():
    rng = np.random.default_rng(0)
    B, k, d, V = 4, 3, 5, 9
    h = rng.standard_normal((B, d))
    out = rng.standard_normal((B, k + 1, d))
    valid = np.ones((B, k + 1))
    valid[1, 2] = 0                                           # a noise draw that hit the centre word
    ht = ms.tensor(h, requires_grad=True, dtype=ms.float64)
    ot = ms.tensor(out, requires_grad=True, dtype=ms.float64)
    fn = lambda a, b: word2vec.negative_sampling_loss(a, b, valid)   # noqa: E731
    assert ms.gradcheck(fn, [ht, ot])                         # autograd is right (finite differences) ...
    ht.grad = ot.grad = None                                  # gradcheck left its own backward's grads
    fn(ht, ot).backward()
    dldf, dldh = word2vec.negative_sampling_grads(xp.asarray(h), xp.asarray(out), xp.asarray(valid))
    np.testing.assert_allclose(backend.to_numpy(dldh), backend.to_numpy(ht.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(dldf)[:, :, None] * h[:, None, :], backend.to_numpy(ot.grad),
                               rtol=1e-10, atol=1e-12)                  # ... and so is the hand formula


def test_cbow_step_is_sgd_on_the_readable_models_loss():
    """One fast step == one SGD step on embedding -> mean -> negative-sampling loss, with word2vec's
    rule for the inputs (each context vector gets count × its true gradient)."""
    rng = np.random.default_rng(1)
    V, d, k, alpha = 7, 4, 2, 0.1
    syn0 = rng.standard_normal((V, d)).astype(np.float32)
    syn1 = rng.standard_normal((V, d)).astype(np.float32)
    span = np.array([2, 2, 0, 3, 4, 5, 6, 1], np.int32)       # W = 2: centre b's window is span[b:b+5]
    mask = np.array([[1, 1, 0, 1, 0],                         # centre 0: context 2, 2, 3 (word 2 twice: both count)
                     [0, 1, 0, 1, 0],                         # centre 3: context 0, 4
                     [1, 1, 0, 1, 1],                         # centre 4: context 0, 3, 5, 6
                     [0, 0, 0, 0, 0]], bool)                  # centre 5: no context, so no update at all
    contexts = [span[b:b + 5][mask[b]].tolist() for b in range(3)]
    assert contexts == [[2, 2, 3], [0, 4], [0, 3, 5, 6]]
    targets = np.array([[0, 3, 5], [3, 3, 6], [4, 0, 1], [5, 1, 2]])   # row 1 draws its own centre as noise

    # autograd, one example at a time, on embedding -> mean -> negative-sampling loss (float64)
    O = ms.tensor(syn1.astype(np.float64), requires_grad=True)
    total, input_update = 0.0, np.zeros((V, d))
    for b, c in enumerate(contexts):
        E = ms.tensor(syn0.astype(np.float64), requires_grad=True)
        h = ms.nn.functional.embedding(ms.tensor(np.array(c)), E).mean(0, keepdim=True)
        out = ms.nn.functional.embedding(ms.tensor(targets[b:b + 1]), O)
        valid = (targets[b:b + 1] != targets[b, 0]).astype(float)
        valid[:, 0] = 1
        loss = word2vec.negative_sampling_loss(h, out, valid)
        loss.backward()                                       # O.grad accumulates over the batch
        total += loss.item()
        # the true input gradient is dL/dh / count; word2vec adds count × that to each context word
        input_update += -alpha * len(c) * backend.to_numpy(E.grad)
    s0, s1 = xp.asarray(syn0.copy()), xp.asarray(syn1.copy())
    loss = word2vec.cbow_step(s0, s1, xp.asarray(span), xp.asarray(mask), xp.asarray(targets.astype(np.int32)), alpha)
    np.testing.assert_allclose(float(loss), total, rtol=1e-4)
    np.testing.assert_allclose(backend.to_numpy(s1), syn1 - alpha * backend.to_numpy(O.grad), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backend.to_numpy(s0), syn0 + input_update, rtol=1e-5, atol=1e-6)


def test_window_sums_match_loops_and_are_adjoint():
    rng = np.random.default_rng(4)
    B, K, d = 7, 5, 3
    u, g = rng.standard_normal((B + K - 1, d)), rng.standard_normal((B, d))
    w = rng.standard_normal((B, K))
    fwd = backend.to_numpy(word2vec.window_sum(xp.asarray(u), xp.asarray(w)))
    np.testing.assert_allclose(fwd, [sum(w[b, c] * u[b + c] for c in range(K)) for b in range(B)], rtol=1e-12)
    strided = xp.asarray(np.repeat(u, 2, axis=1))[:, ::2]     # the same numbers, not contiguous
    np.testing.assert_allclose(backend.to_numpy(word2vec.window_sum(strided, xp.asarray(w))), fwd, rtol=1e-12)
    back = backend.to_numpy(word2vec.window_sum_transposed(xp.asarray(g), xp.asarray(w)))
    expected = np.zeros_like(u)
    for b in range(B):
        for c in range(K):
            expected[b + c] += w[b, c] * g[b]
    np.testing.assert_allclose(back, expected, rtol=1e-12, atol=1e-12)
    assert np.sum(fwd * g) == pytest.approx(np.sum(u * back), rel=1e-12)   # <A u, g> = <u, Aᵀ g>


def test_readable_cbow_forward_and_gradcheck():
    ms.manual_seed(0)
    model = C.CBOW(11, 4)
    ctx = ms.tensor(np.array([[1, 2, 0], [3, 4, 5]]))
    mask = ms.tensor(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    logits = model(ctx, mask)
    E, W = model.embed.weight.numpy(), model.out.weight.numpy()
    h = np.stack([E[[1, 2]].mean(0), E[[3, 4, 5]].mean(0)])    # the padding slot is ignored
    np.testing.assert_allclose(logits.numpy(), h @ W.T, rtol=1e-5, atol=1e-6)
    target = ms.tensor(np.array([7, 9]))
    e64 = ms.tensor(E.astype(np.float64), requires_grad=True)
    w64 = ms.tensor(W.astype(np.float64), requires_grad=True)

    def loss(e, w):  # the weights replaced by plain tensors (a Parameter slot takes only a Parameter)
        del model.embed.weight, model.out.weight
        model.embed.weight, model.out.weight = e, w
        return model.loss(ctx, mask.double(), target)
    assert ms.gradcheck(loss, [e64, w64])


def test_readable_cbow_learns_a_deterministic_language():
    ms.manual_seed(0)
    rng = np.random.default_rng(0)
    V = 12                                                    # word t is always (t-1 + t+1) / 2 -> learnable
    starts = rng.integers(1, V - 1, 256)
    ctx = ms.tensor(np.stack([starts - 1, starts + 1], 1))
    mask, target = ms.ones(256, 2), ms.tensor(starts)
    model = C.CBOW(V, 16)
    from minissl import optim
    opt = optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        loss = model.loss(ctx, mask, target)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > math.log(V) - 0.5 and loss.item() < 0.1


# ---------------------------------------------------------------- training and KeyedVectors
def _toy_corpus(seed=0, n=600):
    """Two topics whose words never share a sentence: CBOW must pull each topic together."""
    rng = np.random.default_rng(seed)
    topics = [["cat", "dog", "mouse", "horse", "cow"], ["red", "blue", "green", "pink", "grey"]]
    return [list(rng.choice(topics[i % 2], 8)) for i in range(n)]


def test_train_cbow_separates_topics_and_is_reproducible():
    sents = _toy_corpus()
    kv, st = word2vec.train_cbow(sents, vector_size=16, window=3, min_count=1, epochs=5, sample=0, seed=3, progress=False)
    assert len(kv) == 10 and st["loss"][-1] < st["loss"][0]
    assert kv.similarity("cat", "dog") > kv.similarity("cat", "red") + 0.3
    top = [w for w, _ in kv.most_similar("blue", topn=4)]
    assert set(top) == {"red", "green", "pink", "grey"}
    kv2, _ = word2vec.train_cbow(sents, vector_size=16, window=3, min_count=1, epochs=5, sample=0, seed=3, progress=False)
    np.testing.assert_array_equal(backend.to_numpy(kv.vectors), backend.to_numpy(kv2.vectors))


@pytest.mark.parametrize("init_range", [0.5, 1.0])
def test_input_vectors_start_uniform_in_init_range_over_d(init_range):
    # with a zero learning rate the returned vectors are the initial ones: U(±init_range/d);
    # 0.5 is word2vec.c's default, 1.0 gensim 4's (about 0.7 analogy points better on head500)
    d = 50
    kv, _ = word2vec.train_cbow(_toy_corpus(), vector_size=d, min_count=1, epochs=1, alpha=0.0, min_alpha=0.0,
                         progress=False, init_range=init_range)
    v = backend.to_numpy(kv.vectors).ravel() * d / init_range
    assert v.min() >= -1 and v.max() < 1 and v.min() < -0.95 and v.max() > 0.95
    # U(-1, 1): mean 0 with standard error 1/√(3n), variance 1/3 with standard error √(4/45/n); 4 of each
    # (any seeded generator passes, NumPy's on the CPU or CuPy's on a GPU)
    n = v.size
    assert abs(v.mean()) < 4 / np.sqrt(3 * n) and abs(v.var() - 1 / 3) < 4 * np.sqrt(4 / 45 / n)


def test_keyed_vectors_queries_and_analogy_excludes_question_words(tmp_path):
    words = ["man", "woman", "king", "queen", "apple"]
    vecs = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [-1, 0, 0]], np.float32)
    kv = KeyedVectors(words, vecs)
    # king - man + woman = (1, 1, 1) = queen; the nearest by raw cosine would be one of the question words
    assert kv.analogy("man", "woman", "king")[0][0] == "queen"
    assert kv.most_similar("man", topn=1)[0][0] in {"woman", "king"}
    assert "man" not in [w for w, _ in kv.most_similar("man", topn=4)]
    assert kv.similarity("man", "apple") == pytest.approx(-1.0)
    q = tmp_path / "q.txt"
    q.write_text(": family\nman woman king queen\nman woman king apple\nman woman king prince\n")
    acc, sections = kv.evaluate_word_analogies(q)
    assert acc == 0.5 and sections == {"family": (1, 2)}     # the OOV question is skipped
    with pytest.raises(KeyError, match="not in the vocabulary"):
        kv.most_similar("prince")


def test_word_pair_evaluation(tmp_path):
    kv = KeyedVectors(["a", "b", "c", "d"], np.array([[1, 0], [1, 0.1], [0, 1], [1, 1]], np.float32))
    f = tmp_path / "pairs.tsv"
    f.write_text("# comment\na\tb\t9\na\tc\t1\na\td\t5\na\tzzz\t3\n")
    r = kv.evaluate_word_pairs(f)
    assert r["spearman"] == pytest.approx(1.0) and r["oov_ratio"] == pytest.approx(0.25) and r["pairs"] == 3
    cos = np.array([1 / np.sqrt(1.01), 0.0, 1 / np.sqrt(2)])    # a·b, a·c, a·d over their norms
    assert r["pearson"] == pytest.approx(np.corrcoef(cos, [9, 1, 5])[0, 1], rel=1e-5)


def test_word2vec_text_format_roundtrip_and_gensim_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    kv = KeyedVectors(["the", "cat", "naïve"], rng.standard_normal((3, 6)).astype(np.float32))
    path = tmp_path / "v.txt"
    kv.save_word2vec_format(path)
    back = KeyedVectors.load_word2vec_format(path)
    assert back.index_to_key == kv.index_to_key
    np.testing.assert_allclose(backend.to_numpy(back.vectors), backend.to_numpy(kv.vectors), rtol=1e-5)
    gensim = pytest.importorskip("gensim")
    g = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert list(g.index_to_key) == kv.index_to_key
    np.testing.assert_allclose(g["naïve"], backend.to_numpy(kv["naïve"]), rtol=1e-5)


def test_clear_errors():
    with pytest.raises(TypeError, match="list of token lists"):
        word2vec.build_vocab(["a sentence as a string"])
    with pytest.raises(ValueError, match="min_count"):
        word2vec.build_vocab([["a", "b"]], min_count=5)
    with pytest.raises(ValueError, match="one row of vectors per word"):
        KeyedVectors(["a", "b"], np.zeros((3, 2)))
