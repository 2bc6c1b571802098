"""The text-as-representation auto-encoder: its gradient estimator, its writer, one training step."""
import numpy as np
import pytest

import minissl as ms
from minissl import ops as F
from minissl.backend import to_numpy
from minissl.models.gpt import GPT, GPTConfig
from minissl.models.textrep import SPECIALS, TextAutoencoder, loo_baseline, reinforce_loss


def _reinforce_mean_grad(f, logits, samples_per_group, groups, rounds, rng, own_reward_baseline=False):
    """Average REINFORCE gradient of E_k[f_k], k ~ softmax(logits), over many draws."""
    p = np.exp(logits - logits.max())
    p /= p.sum()
    grads = []
    for _ in range(rounds):
        theta = ms.tensor(logits.astype(np.float32), requires_grad=True)
        k = rng.choice(len(p), size=(groups, samples_per_group), p=p)
        logp = F.log_softmax(theta, dim=0)[k.reshape(-1)]
        r = f[k]
        base = r.mean(axis=-1, keepdims=True) * np.ones_like(r) if own_reward_baseline else None
        # the loss is -mean(adv * log p): its negative gradient estimates ∇ E[f]
        reinforce_loss(logp, r, baseline=base).backward()
        grads.append(-to_numpy(theta.grad.array))
    return np.mean(grads, axis=0), np.std(grads, axis=0) / np.sqrt(rounds), p


def test_reinforce_with_loo_baseline_is_unbiased_on_a_toy_categorical():
    rng = np.random.default_rng(0)
    logits = np.array([0.5, -1.0, 0.0, 1.0, -0.5])
    f = np.array([3.0, -2.0, 1.0, 0.5, 4.0])
    est, se, p = _reinforce_mean_grad(f, logits, samples_per_group=4, groups=16, rounds=400, rng=rng)
    exact = p * (f - p @ f)  # ∂/∂θ_j Σ_k p_k f_k for p = softmax(θ)
    assert np.all(np.abs(est - exact) < 4 * se + 1e-3), (est, exact, se)


def test_a_baseline_that_sees_its_own_sample_is_biased_and_the_test_notices():
    # b_i = mean including r_i shrinks the expected gradient by (K-1)/K: with K = 2, by half
    rng = np.random.default_rng(1)
    logits = np.array([0.5, -1.0, 0.0, 1.0, -0.5])
    f = np.array([3.0, -2.0, 1.0, 0.5, 4.0])
    est, se, p = _reinforce_mean_grad(f, logits, 2, 32, 400, rng, own_reward_baseline=True)
    exact = p * (f - p @ f)
    assert np.any(np.abs(est - exact) > 4 * se + 1e-3)
    assert np.allclose(est, exact / 2, atol=float(4 * se.max() + 1e-3))


def test_loo_baseline_per_group_and_bad_input():
    r = np.array([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    assert np.allclose(loo_baseline(r), [[4.0, 3.5, 1.5], [1.5, 1.5, 0.0]])
    with pytest.raises(ValueError, match="at least two samples"):
        loo_baseline(np.ones((3, 1)))


def _docs(rng, n, vocab=20):
    return [list(rng.integers(len(SPECIALS), vocab, size=int(rng.integers(3, 7)))) for _ in range(n)]


def test_writer_writes_words_of_the_requested_length():
    ms.manual_seed(0)
    rng = np.random.default_rng(0)
    model = TextAutoencoder(20, length=3, d_model=16, nhead=2, dim_feedforward=32)
    docs = _docs(rng, 5)
    for z in (model.write(docs, rng), model.write(docs)):
        assert z.shape == (5, 3) and z.dtype == np.int64
        assert z.min() >= len(SPECIALS) and z.max() < 20  # words of the vocabulary, never a special token


def test_writer_logp_matches_the_sampling_distribution_for_greedy_output():
    # arg-max z is, position by position, the most likely token: its log p is >= that of any sample
    ms.manual_seed(1)
    rng = np.random.default_rng(1)
    model = TextAutoencoder(20, length=4, d_model=16, nhead=2, dim_feedforward=32)
    docs = _docs(rng, 3)
    greedy = to_numpy(model.writer_logp(docs, model.write(docs)).array)
    sampled = to_numpy(model.writer_logp(docs, model.write(docs, rng)).array)
    assert np.all(greedy >= sampled - 1e-5)


def test_end_to_end_steps_lower_the_reader_loss():
    ms.manual_seed(2)
    rng = np.random.default_rng(2)
    lm = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16))
    model = TextAutoencoder(20, length=3, d_model=16, nhead=2, dim_feedforward=32, lm=lm, lm_weight=0.5)
    docs = _docs(rng, 8)
    opt = ms.optim.Adam(model.parameters(), lr=1e-2)
    first = model.step(docs, opt, rng)
    for _ in range(30):
        last = model.step(docs, opt, rng)
    assert last["reader_loss"] < first["reader_loss"] - 0.3
    assert np.isfinite(last["lm_logp"]) and last["lm_logp"] < 0
    assert all(p.grad is not None for p in model.writer.parameters() if p.requires_grad)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="needs a language model"):
        TextAutoencoder(20, 3, lm_weight=1.0)
    with pytest.raises(ValueError, match="length >= 1"):
        TextAutoencoder(20, 0)
    with pytest.raises(ValueError, match="samples >= 2"):
        TextAutoencoder(20, 3, samples=1)
