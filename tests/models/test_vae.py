"""VAE: closed-form KL vs Monte Carlo, reparameterisation gradients, loss gradcheck, sampling."""
import numpy as np
import pytest

import minissl as ms
from minissl.models.vae import VAE, gaussian_kl, reparameterize

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def test_kl_matches_monte_carlo():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated with 200k draws."""
    rng = np.random.default_rng(0)
    mu, logvar = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) * 0.5
    kl = gaussian_kl(ms.tensor(mu), ms.tensor(logvar)).numpy()
    sd = np.exp(0.5 * logvar)
    z = mu + sd * rng.standard_normal((200_000, 3, 4))
    log_q = -0.5 * (((z - mu) / sd) ** 2 + logvar + np.log(2 * np.pi))
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi))
    mc = (log_q - log_p).sum(-1).mean(0)
    np.testing.assert_allclose(kl, mc, atol=0.03)
    assert gaussian_kl(ms.zeros(2, 5), ms.zeros(2, 5)).numpy() == pytest.approx([0.0, 0.0])


def test_kl_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    mu, logvar = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    q = torch.distributions.Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * logvar)))
    p = torch.distributions.Normal(torch.zeros(5, 3, dtype=torch.float64), torch.ones(5, 3, dtype=torch.float64))
    want = torch.distributions.kl_divergence(q, p).sum(-1).numpy()
    np.testing.assert_allclose(gaussian_kl(ms.tensor(mu), ms.tensor(logvar)).numpy(), want, rtol=1e-10)


def test_kl_gradcheck():
    rng = np.random.default_rng(2)
    mu = ms.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    logvar = ms.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert ms.gradcheck(gaussian_kl, [mu, logvar])


def test_reparameterize_moments_and_gradients():
    mu = ms.tensor(np.full((50_000, 2), [1.0, -2.0]), requires_grad=True)
    logvar = ms.tensor(np.full((50_000, 2), [0.0, np.log(0.25)]), requires_grad=True)
    ms.manual_seed(0)
    z = reparameterize(mu, logvar)
    np.testing.assert_allclose(z.numpy().mean(0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(z.numpy().std(0), [1.0, 0.5], atol=0.02)
    z.sum().backward()
    eps = (z.numpy() - mu.numpy()) / np.exp(0.5 * logvar.numpy())
    np.testing.assert_allclose(npy(mu.grad), 1.0)                                      # dz/dμ = 1
    np.testing.assert_allclose(npy(logvar.grad), 0.5 * np.exp(0.5 * logvar.numpy()) * eps, rtol=1e-10)  # dz/dlogvar = ½σε


def test_vae_loss_gradcheck():
    model = VAE(5, latent_dim=2, hidden=(4,))
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    x = ms.tensor(np.random.default_rng(0).random((4, 5)))

    def f(*params):
        ms.manual_seed(3)  # the same ε in every evaluation
        return model.loss(x)
    assert ms.gradcheck(f, list(model.parameters()))


def test_vae_loss_is_bce_plus_kl_by_hand():
    model = VAE(5, latent_dim=2, hidden=(4,), beta=0.5)
    x = ms.rand(3, 5)
    ms.manual_seed(4)
    got = model.loss(x).item()
    with ms.no_grad():
        mu, logvar = model.encode(x)
        ms.manual_seed(4)
        z = reparameterize(mu, logvar)
        p = np.clip(model.decode(z).numpy().astype(np.float64), 1e-12, 1 - 1e-12)
    xs = x.numpy()
    bce = -(xs * np.log(p) + (1 - xs) * np.log(1 - p)).sum() / 3
    kl = gaussian_kl(mu, logvar).numpy().mean()
    assert got == pytest.approx(bce + 0.5 * kl, rel=1e-4)


def test_sample_from_prior():
    model = VAE(6, latent_dim=3, hidden=(4,))
    s = model.sample(7).numpy()
    assert s.shape == (7, 6) and s.min() >= 0 and s.max() <= 1
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        model.encode(ms.rand(2, 5))


def test_conv_vae_loss_gradcheck_and_samples():
    # the conv pair must give (μ, log σ²) of the latent size and a differentiable bound
    ms.manual_seed(0)
    model = VAE(64, latent_dim=2, arch="conv", channels=(2, 2))
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    x = ms.tensor(np.random.default_rng(0).random((3, 64)), dtype=ms.float64)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 2)

    def loss(*params):
        ms.manual_seed(1)  # the same ε in every evaluation
        return model.loss(x)
    assert ms.gradcheck(loss, list(model.decoder.parameters())[:2] + list(model.encoder.parameters())[-2:])
    assert model.sample(5).shape == (5, 64)
