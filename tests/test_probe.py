"""The linear probe: scikit-learn's optimum, K probes = K separate fits, the validation split decides."""
import numpy as np
import pytest

import minissl as ms
from minissl.probe import L2_GRID, fit_probe, labelled_tokens, linear_probe, token_probe

npy = ms.backend.to_numpy


def blobs(n, rng, centers):
    y = rng.integers(0, len(centers), n)
    return (centers[y] + rng.standard_normal((n, centers.shape[1]))).astype(np.float32), y


def test_probe_reaches_sklearns_optimum():
    """Same objective, mean CE + λ‖W‖²/2 = scikit-learn's with C = 1 / (N λ): same probabilities."""
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 3))).argmax(1)
    lam = 0.05
    model = fit_probe(x, y, [lam], steps=2000, lr=0.05)
    ref = sk.LogisticRegression(C=1 / (len(x) * lam), max_iter=5000, tol=1e-10).fit(x, y)
    with ms.no_grad():
        p = model(ms.tensor(x)).softmax(-1).numpy()[:, 0]
    np.testing.assert_allclose(p, ref.predict_proba(x), atol=2e-3)


def test_probes_side_by_side_are_the_separate_fits():
    """One Linear holding K probes: each block of weights is what fitting that λ alone gives."""
    rng = np.random.default_rng(1)
    x, y = blobs(90, rng, rng.standard_normal((3, 6)))
    lams = (1e-4, 1e-2, 1.0)
    together = npy(fit_probe(x, y, lams, steps=100).linear.weight.array)
    for k, lam in enumerate(lams):
        alone = npy(fit_probe(x, y, [lam], steps=100).linear.weight.array)
        np.testing.assert_allclose(together[3 * k:3 * k + 3], alone, rtol=1e-4, atol=1e-6)
    assert np.abs(together[:3]).sum() > 1.5 * np.abs(together[6:]).sum()  # λ = 1 shrank its weights


def test_l2_is_the_validation_argmax_and_test_is_scored_with_it():
    rng = np.random.default_rng(2)
    centers = rng.standard_normal((4, 20)) * 0.6  # overlapping classes: the strengths disagree
    tr, va, te = blobs(40, rng, centers), blobs(200, rng, centers), blobs(200, rng, centers)
    acc, l2, val = linear_probe(tr, va, te)
    mu, sd = tr[0].mean(0), tr[0].std(0) + 1e-6
    per = {}
    for lam in L2_GRID:  # refit each strength alone and score it by hand
        m = fit_probe((tr[0] - mu) / sd, tr[1], [lam], num_classes=4)
        with ms.no_grad():
            per[lam] = [float((m(ms.tensor((a - mu) / sd)).numpy()[:, 0].argmax(1) == b).mean()) for a, b in (va, te)]
    assert len({round(v[0], 3) for v in per.values()}) > 1, "the grid must matter for this test to mean anything"
    best = max(L2_GRID, key=lambda lam: (per[lam][0], -L2_GRID.index(lam)))  # first of the best
    assert l2 == best and val == pytest.approx(per[best][0]) and acc == pytest.approx(per[best][1], abs=0.011)


def test_standardised_with_train_statistics():
    """Rescaling and shifting every feature (train, val and test alike) changes nothing."""
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((3, 8))
    tr, va, te = blobs(100, rng, centers), blobs(60, rng, centers), blobs(60, rng, centers)
    scale, shift = rng.uniform(10, 1000, 8).astype(np.float32), rng.uniform(-50, 50, 8).astype(np.float32)
    moved = [(a * scale + shift, b) for a, b in (tr, va, te)]
    r1, r2 = linear_probe(tr, va, te, l2s=(1e-3, 1e-1)), linear_probe(*moved, l2s=(1e-3, 1e-1))
    assert r1.l2 == r2.l2 and abs(r1.test_accuracy - r2.test_accuracy) <= 1 / 60


def test_shuffled_labels_stay_at_chance_and_bad_input_is_refused():
    rng = np.random.default_rng(4)
    x, y = blobs(400, rng, rng.standard_normal((4, 10)) * 3)
    res = linear_probe((x[:200], rng.permutation(y[:200])), (x[200:300], y[200:300]), (x[300:], y[300:]))
    assert res.test_accuracy < 0.45  # 4 classes: chance is 0.25, the real labels give > 0.9
    assert linear_probe((x[:200], y[:200]), (x[200:300], y[200:300]), (x[300:], y[300:])).test_accuracy > 0.9
    with pytest.raises(ValueError, match="one label each"):
        linear_probe((x[:10], y[:9]), (x, y), (x, y))
    with pytest.raises(ValueError, match="l2s"):
        fit_probe(x, y, [])


def test_refit_scores_the_chosen_strength_fitted_on_train_and_val():
    rng = np.random.default_rng(5)
    centers = rng.standard_normal((3, 12)) * 0.7
    tr, va, te = blobs(60, rng, centers), blobs(60, rng, centers), blobs(300, rng, centers)
    plain, refit = linear_probe(tr, va, te), linear_probe(tr, va, te, refit=True)
    assert (refit.l2, refit.val_accuracy) == (plain.l2, plain.val_accuracy)  # the same choice
    x, y = np.concatenate([tr[0], va[0]]), np.concatenate([tr[1], va[1]])
    mu, sd = x.mean(0), x.std(0) + 1e-6
    m = fit_probe((x - mu) / sd, y, [refit.l2], num_classes=3)
    with ms.no_grad():
        want = float((m(ms.tensor((te[0] - mu) / sd)).numpy()[:, 0].argmax(1) == te[1]).mean())
    assert refit.test_accuracy == pytest.approx(want)


def test_minibatch_probe_reaches_the_full_batch_accuracy():
    # rows and labels drawn apart (a misaligned minibatch) would leave the probe near chance
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((4, 10)) * 3
    y = rng.integers(0, 4, 3000)
    x = (centers[y] + rng.standard_normal((3000, 10))).astype(np.float32)
    tr, va, te = (x[:2000], y[:2000]), (x[2000:2500], y[2000:2500]), (x[2500:], y[2500:])
    full = linear_probe(tr, va, te, l2s=(1e-3,), steps=200)[0]
    mini = linear_probe(tr, va, te, l2s=(1e-3,), steps=200, batch_size=64)[0]
    assert full > 0.9 and mini > full - 0.02


def tagged_tokens(rng, n, t, signal):
    """(N, T, H) token vectors whose tag (one of 3) is written in the first 3 features times ``signal``;
    positions labelled -100 carry vectors of a wrong tag, so keeping them would hurt."""
    tags = rng.integers(0, 3, (n, t))
    h = rng.standard_normal((n, t, 8)).astype(np.float32)
    h[..., :3] += signal * np.eye(3, dtype=np.float32)[tags]
    labels = tags.copy()
    skip = rng.random((n, t)) < 0.3
    labels[skip] = -100
    h[skip, :3] = signal * np.eye(3, dtype=np.float32)[(tags[skip] + 1) % 3] * 10
    return h, labels


def test_token_probe_reads_a_tag_written_in_the_vectors():
    rng = np.random.default_rng(5)
    splits = [tagged_tokens(rng, n, 7, signal=4.0) for n in (40, 20, 40)]
    assert token_probe(*splits).test_accuracy > 0.97
    noise = [(rng.standard_normal(h.shape).astype(np.float32), y) for h, y in splits]  # tags not in the vectors
    assert token_probe(*noise).test_accuracy < 0.5


def test_labelled_tokens_keeps_exactly_the_labelled_positions():
    rng = np.random.default_rng(6)
    h, y = tagged_tokens(rng, 5, 6, 1.0)
    x, t = labelled_tokens(h, y)
    keep = y != -100
    np.testing.assert_array_equal(npy(x), h[keep])
    np.testing.assert_array_equal(npy(t), y[keep])
    with pytest.raises(ValueError, match=r"hidden must be \(N, T, H\)"):
        labelled_tokens(h[:, :, 0], y)
