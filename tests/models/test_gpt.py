"""GPT: shapes, causality, KV cache, tied weights, init, sampling, training, checkpoints."""
import importlib.util
import math
import os

import numpy as np
import pytest

import minissl as ms
from minissl.models.gpt import (GPT, GPTConfig, evaluate_lm, load_checkpoint, ngram_token_losses, sample_next,
                                save_checkpoint, train_lm, window_losses)

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def small(vocab=23, **kw):
    ms.manual_seed(0)
    cfg = dict(n_layer=2, n_head=2, n_embd=32, block_size=16)
    cfg.update(kw)
    return GPT(GPTConfig(vocab_size=vocab, **cfg))


def ids(shape, vocab=23, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, shape)


def test_shapes_and_initial_loss_is_uniform_guess():
    m = small()
    x = ids((3, 10))
    out = m(x, ids((3, 10), seed=1))
    logits, loss = out.logits, out.loss
    assert logits.shape == (3, 10, 23) and loss.shape == ()
    # N(0, 0.02) weights make the logits tiny, so the first guess is nearly uniform: loss ≈ ln V.
    assert abs(loss.item() - math.log(23)) < 0.05
    assert m(x).loss is None


def test_presets_and_bad_config():
    cfg = GPTConfig.preset("micro", 50, dropout=0.1)
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.dropout) == (4, 4, 128, 128, 0.1)
    with pytest.raises(ValueError, match="preset"):
        GPTConfig.preset("huge", 50)
    with pytest.raises(ValueError, match="divisible"):
        GPT(GPTConfig(vocab_size=5, n_embd=30, n_head=4))
    with pytest.raises(ValueError, match="block_size"):
        small()(ids((1, 17)))


def test_causal_changing_a_future_token_leaves_earlier_logits_alone():
    m = small()
    x = ids((2, 12))
    y = x.copy()
    y[:, 7] = (y[:, 7] + 5) % 23
    a, b = m(x).logits.numpy(), m(y).logits.numpy()
    np.testing.assert_array_equal(a[:, :7], b[:, :7])
    assert np.abs(a[:, 7:] - b[:, 7:]).max(axis=-1).min() > 1e-4  # every later position does see it


def test_kv_cache_gives_the_same_logits_as_the_full_pass():
    m = small()
    x = ids((2, 14))
    full = m(x).logits.numpy()
    cache = m.new_cache()
    parts = [m(x[:, :5], cache=cache).logits.numpy()]  # a prompt, then one token at a time
    parts += [m(x[:, t:t + 1], cache=cache).logits.numpy() for t in range(5, 14)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-5)
    assert cache[0]["self"]["k"].shape == (2, 2, 14, 16)


@pytest.mark.parametrize("kw", [dict(do_sample=False), dict(temperature=0.8, top_k=5), dict(top_p=0.9)])
def test_generation_with_cache_is_token_identical(kw):
    m = small()
    prompt = ids((2, 3))
    # 30 new tokens run past block_size=16: the sliding window must match too.
    a = m.generate(prompt, 30, use_cache=True, rng=np.random.default_rng(7), **kw)
    b = m.generate(prompt, 30, use_cache=False, rng=np.random.default_rng(7), **kw)
    assert a.shape == (2, 33)
    np.testing.assert_array_equal(a[:, :3], prompt)
    np.testing.assert_array_equal(a, b)


def test_greedy_is_deterministic_and_picks_the_argmax():
    m = small()
    prompt = ids((1, 4))
    a = m.generate(prompt, 6, do_sample=False)
    assert (a == m.generate(prompt, 6, temperature=0.0)).all()
    first = int(m(prompt).logits.numpy()[0, -1].argmax())
    assert a[0, 4] == first


def test_tied_head_shares_one_parameter_and_sums_both_gradients():
    tied = small()
    assert tied.lm_head.weight is tied.wte.weight
    names = [n for n, _ in tied.named_parameters()]
    assert "wte.weight" in names and "lm_head.weight" not in names
    untied = small(tie_weights=False)
    assert untied.lm_head.weight is not untied.wte.weight
    assert untied.num_parameters() == tied.num_parameters() + 23 * 32
    sd = {k: v for k, v in tied.state_dict().items()}
    untied.load_state_dict(sd)  # lm_head.weight := wte.weight, so both compute the same function
    x, y = ids((2, 8)), ids((2, 8), seed=3)
    for m in (tied, untied):
        m.zero_grad()
        m(x, y).loss.backward()
    expected = untied.wte.weight.grad + untied.lm_head.weight.grad
    np.testing.assert_allclose(npy(tied.wte.weight.grad), npy(expected), rtol=1e-5, atol=1e-7)


def test_gpt2_initialisation():
    ms.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=500, n_layer=8, n_head=4, n_embd=128, block_size=64))
    resid = 0.02 / math.sqrt(2 * 8)
    for name, p in m.named_parameters():
        w = p.numpy()
        if name.endswith("bias"):
            assert (w == 0).all(), name
        elif name.endswith(("attn.out_proj.weight", "mlp.fc2.weight")):
            assert abs(w.std() - resid) < 0.1 * resid, name
        elif w.ndim == 2:
            assert abs(w.std() - 0.02) < 0.1 * 0.02, name
        else:  # LayerNorm gains
            assert (w == 1).all(), name


def test_top_k_restricts_support_and_top_p_keeps_the_nucleus():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.05, 0.5, 0.15, 0.3]] * 4000))
    k2 = npy(sample_next(logits, top_k=2, rng=rng))
    assert set(np.unique(k2)) == {1, 3}
    assert abs((k2 == 1).mean() - 0.5 / 0.8) < 0.03  # renormalised over the two kept tokens
    p = npy(sample_next(logits, top_p=0.75, rng=rng))  # 0.5 < 0.75 ≤ 0.8: tokens 1 and 3
    assert set(np.unique(p)) == {1, 3}
    p = npy(sample_next(logits, top_p=0.81, rng=rng))  # needs 0.15 more: token 2 joins
    assert set(np.unique(p)) == {1, 2, 3}
    assert set(np.unique(npy(sample_next(logits, top_p=0.1, rng=rng)))) == {1}  # the top token always stays
    full = npy(sample_next(logits, rng=rng))
    np.testing.assert_allclose(np.bincount(full, minlength=4) / 4000, [0.05, 0.5, 0.15, 0.3], atol=0.03)
    cold = npy(sample_next(logits, temperature=0.05, rng=rng))
    assert (cold == 1).mean() > 0.99
    with pytest.raises(ValueError, match="top_p"):
        sample_next(logits, top_p=1.5)


def test_matches_pytorch_loss_and_gradients():
    torch = pytest.importorskip("torch")
    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "gpt_vs_torch.py")
    spec = importlib.util.spec_from_file_location("gpt_vs_torch", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    m = small()
    tm = ref.TorchGPT(m.config)
    ref.copy_weights(m, tm)
    x, y = ids((2, 16)), ids((2, 16), seed=2)
    loss = m(x, y).loss
    loss.backward()
    tloss = tm(torch.tensor(x), torch.tensor(y))
    tloss.backward()
    assert abs(loss.item() - tloss.item()) < 1e-5
    tgrads = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(npy(p.grad), tgrads[name].grad.numpy(), rtol=1e-3, atol=1e-6, err_msg=name)


def test_tiny_overfit_and_checkpoint_round_trip(tmp_path):
    m = small(vocab=10)
    seq = np.tile(np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2]), (4, 1))
    batch = (seq[:, :-1], seq[:, 1:])
    hist = train_lm(m, lambda step: batch, steps=80, lr=1e-2, warmup=5, eval_fn=lambda mm: evaluate_lm(mm, [batch]),
                    eval_every=40, checkpoint=tmp_path / "gpt.npz", progress=False)
    assert hist["loss"][0] > 2.0 and hist["eval"][-1] < 0.05  # it memorised the sequence
    assert hist["eval_step"] == [40, 80]
    m2, ckpt = load_checkpoint(tmp_path / "gpt.npz")
    assert ckpt["step"] == 80 and m2.lm_head.weight is m2.wte.weight
    np.testing.assert_array_equal(m2(batch[0]).logits.numpy(), m(batch[0]).logits.numpy())
    np.testing.assert_array_equal(m.generate(seq[:1, :3], 10, do_sample=False), seq[:1, :13])
    assert len(ckpt["optimizer"]["state"]) == len(list(m.parameters()))
    with pytest.raises(ValueError, match="not a GPT checkpoint"):
        ms.save({"x": 1}, tmp_path / "other.npz")
        load_checkpoint(tmp_path / "other.npz")


def test_window_losses_average_to_evaluate_lm_and_match_torch_cross_entropy():
    ms.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=11, n_layer=1, n_head=2, n_embd=16, block_size=8))
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 11, (3, 8)), rng.integers(0, 11, (3, 8))) for _ in range(2)]
    per_window = window_losses(m, batches)
    assert per_window.shape == (6,)
    assert per_window.mean() == pytest.approx(evaluate_lm(m, batches), rel=1e-5)
    x, y = batches[0]
    logits = m(x).logits.numpy()[1]
    lp = logits - logits.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    assert per_window[1] == pytest.approx(-lp[np.arange(8), y[1]].mean(), rel=1e-5)


def test_ngram_baselines_are_normalised_distributions():
    train = np.array([0, 1, 0, 1, 2, 0, 1, 1, 3])
    V = 5  # token 4 never occurs: add-one still gives it some probability
    for a in range(V):  # p(b | a) summed over every b is 1, for a seen and an unseen context
        uni, bi = ngram_token_losses(train, np.full(V, a), np.arange(V), V)
        assert np.exp(-uni).sum() == pytest.approx(1.0) and np.exp(-bi).sum() == pytest.approx(1.0)
    uni, bi = ngram_token_losses(train, np.array([0]), np.array([1]), V)
    assert np.exp(-uni[0]) == pytest.approx((4 + 1) / (9 + V))
    assert bi[0] < uni[0]  # 0 is always followed by 1 in train: the bigram is surer of it
