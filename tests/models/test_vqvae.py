"""VQ-VAE: nearest-code lookup, straight-through gradients, losses, EMA, restarts, perplexity."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minissl as ms
from minissl.models.vqvae import VQVAE, VectorQuantizer, code_perplexity, dead_share, nearest_code

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


@given(m=st.integers(1, 20), k=st.integers(1, 12), d=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_nearest_code_equals_brute_force(m, k, d, seed):
    rng = np.random.default_rng(seed)
    z, e = rng.standard_normal((m, d)), rng.standard_normal((k, d))
    brute = np.array([np.argmin([np.sum((zi - ej) ** 2) for ej in e]) for zi in z])
    got = ms.backend.to_numpy(nearest_code(ms.tensor(z), ms.tensor(e)))
    np.testing.assert_array_equal(got, brute)


def test_perplexity_and_dead_share():
    assert code_perplexity(np.arange(64).repeat(3), 64) == pytest.approx(64)
    assert code_perplexity(np.full(50, 7), 64) == pytest.approx(1.0)
    assert code_perplexity(np.array([0, 1]), 8) == pytest.approx(2.0)
    assert dead_share(np.array([0, 1, 1, 3]), 8) == pytest.approx(5 / 8)
    assert dead_share(np.arange(8), 8) == 0.0


def _quantizer64(k=4, d=3, **kw):
    q = VectorQuantizer(k, d, restart_after=None, **kw)
    q.codebook.array = ms.backend.asarray(np.random.default_rng(0).standard_normal((k, d)))
    if q.ema:
        q.embed_sum.array = q.codebook.array.copy()
        q.cluster_size.array = ms.xp.ones(k)
    return q


def test_vq_forward_and_straight_through_gradients():
    """z_q = e[k]; dL/dz = upstream + β·2(z - e)/n; dL/dE[k] = Σ_{i→k} 2(e_k - z_i)/n."""
    q, beta = _quantizer64(), 0.25
    z = ms.tensor(np.random.default_rng(1).standard_normal((2, 3, 3)), requires_grad=True)
    z_q, loss, idx = q(z)
    e = q.codebook.numpy()
    zf, k = z.numpy().reshape(-1, 3), npy(idx).reshape(-1)
    np.testing.assert_allclose(z_q.numpy().reshape(-1, 3), e[k])
    n = zf.size
    assert loss.item() == pytest.approx((1 + beta) * ((zf - e[k]) ** 2).sum() / n)

    up = np.random.default_rng(2).standard_normal(z.shape)
    ((z_q * ms.tensor(up)).sum() + loss).backward()
    want_z = up.reshape(-1, 3) + beta * 2 * (zf - e[k]) / n
    np.testing.assert_allclose(npy(z.grad).reshape(-1, 3), want_z, rtol=1e-10)
    want_e = np.zeros_like(e)
    np.add.at(want_e, k, 2 * (e[k] - zf) / n)
    np.testing.assert_allclose(npy(q.codebook.grad), want_e, rtol=1e-10)


def test_vq_ema_mode_updates_codebook_by_averages():
    q, g = _quantizer64(ema=True, decay=0.9), 0.9
    e0 = q.codebook.numpy().copy()
    z = np.random.default_rng(3).standard_normal((10, 3))
    k = ms.backend.to_numpy(nearest_code(z, e0))
    _, loss, _ = q(ms.tensor(z, requires_grad=True))
    onehot = np.eye(4)[k]
    size = 0.9 * 1 + 0.1 * onehot.sum(0)
    esum = 0.9 * e0 + 0.1 * onehot.T @ z
    n = size.sum()
    size_s = (size + q.eps) / (n + 4 * q.eps) * n
    np.testing.assert_allclose(q.codebook.numpy(), esum / size_s[:, None], rtol=1e-10)
    assert "codebook" not in dict(q.named_parameters())  # no gradient training in EMA mode
    assert loss.item() == pytest.approx(0.25 * ((z - e0[k]) ** 2).mean())  # commitment only


def test_dead_codes_restart_on_encoder_outputs():
    q = VectorQuantizer(8, 2, restart_after=3)
    q.codebook.array[:] = 100.0
    q.codebook.array[0] = 0.0                      # every z near the origin picks code 0
    z = ms.tensor(np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32) * 0.1)
    for _ in range(2):
        q(z)
    assert q.restarts == 0 and np.all(q.codebook.numpy()[1:] == 100.0)   # not yet: 2 idle steps
    q(z)
    assert q.restarts == 7
    cb, zs = q.codebook.numpy(), z.numpy()
    np.testing.assert_array_equal(cb[0], [0.0, 0.0])
    for row in cb[1:]:  # each dead code now sits on (a jittered copy of) an encoder output
        assert np.min(np.abs(zs - row).max(1)) < 1e-2


def test_vqvae_loss_gradcheck_decoder_and_encoder_path():
    """The decoder sees a smooth function. Encoder gradients flow through the
    straight-through copy: check them against the chain rule by hand."""
    model = VQVAE(6, num_latents=2, num_codes=5, code_dim=3, hidden=(4,), restart_after=None)
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    x = ms.tensor(np.random.default_rng(0).random((4, 6)))
    assert ms.gradcheck(lambda *p: model.loss(x), list(model.decoder.parameters()))
    # encoder path: dL/dz must equal dL/dz_q (from the decoder) + β·2(z - e)/n
    z = model.encode(x).detach()
    z.requires_grad_(True)
    z_q, vq, idx = model.quantizer(z)
    zq_leaf = ms.tensor(z_q.numpy(), requires_grad=True)
    rec = model.decoder(zq_leaf.reshape(4, -1)).sigmoid()
    ms.nn.functional.mse_loss(rec, x).backward()
    (ms.nn.functional.mse_loss(model.decoder(z_q.reshape(4, -1)).sigmoid(), x) + vq).backward()
    e = model.quantizer.codebook.numpy()[ms.backend.to_numpy(idx)]
    np.testing.assert_allclose(npy(z.grad), npy(zq_leaf.grad) + 0.25 * 2 * (z.numpy() - e) / z.numpy().size, rtol=1e-8)


def test_vqvae_bits_and_decode_indices():
    model = VQVAE(6, num_latents=4, num_codes=64, code_dim=3, hidden=(4,))
    assert model.bits_per_input == 24
    x = ms.rand(5, 6)
    with ms.no_grad():
        model.eval()
        rec, _, idx = model(x)
        np.testing.assert_allclose(model.decode_indices(idx).numpy(), rec.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="code_dim"):
        model.quantizer(ms.rand(2, 5))


@pytest.mark.slow
def test_vqvae_uses_its_codebook_on_clusters():
    rng = np.random.default_rng(0)
    centres = rng.random((16, 8))
    x = ms.tensor((centres[rng.integers(0, 16, 800)] + 0.02 * rng.standard_normal((800, 8))).clip(0, 1).astype(np.float32))
    from minissl.models.autoencoder import fit
    model = VQVAE(8, num_latents=1, num_codes=16, code_dim=4, hidden=(32,), ema=True)
    fit(model, x, epochs=60, lr=2e-3)
    with ms.no_grad():
        _, _, idx = model(x)
    assert code_perplexity(idx, 16) > 10


def test_restarts_off_leaves_dead_codes_dead():
    # restart_after=None is the "no restarts" arm of the demo: it must never move a code
    q = VectorQuantizer(8, 2, restart_after=None)
    q.codebook.array[:] = 100.0
    q.codebook.array[0] = 0.0
    z = ms.tensor(np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32) * 0.1)
    for _ in range(300):
        q(z)
    assert q.restarts == 0 and np.all(q.codebook.numpy()[1:] == 100.0)


def test_conv_vqvae_shapes_and_rate():
    model = VQVAE(784, num_latents=4, num_codes=16, code_dim=8, arch="conv", ema=True)
    x = ms.tensor(np.random.default_rng(1).random((3, 784)).astype(np.float32))
    model.eval()  # in training mode the EMA moves the codebook after the lookup
    rec, loss, idx = model(x)
    assert rec.shape == (3, 784) and idx.shape == (3, 4) and model.bits_per_input == 16
    np.testing.assert_allclose(model.decode_indices(idx).numpy(), rec.numpy(), atol=1e-6)
