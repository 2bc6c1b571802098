"""Auto-encoder, denoising, PCA, discrete codes, disentanglement, ROC-AUC."""
import numpy as np
import pytest

import minissl as ms
from minissl.metrics import roc_auc
from minissl.models.autoencoder import PCA, AutoEncoder, corrupt, fit, reconstruction_error
from minissl.models.discrete import DiscreteAutoEncoder, binary_code, gumbel_softmax, straight_through
from minissl.models.disentangle import DisentangledAutoEncoder

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def to64(model):
    for p in model.parameters():
        p.array = p.array.astype(np.float64)
    return model


def x64(n=6, d=5, seed=0):
    return ms.tensor(np.random.default_rng(seed).random((n, d)), dtype=ms.float64)


# ---------------------------------------------------------------- auto-encoder
@pytest.mark.parametrize("noise,level", [(None, 0.0), ("gaussian", 0.3), ("mask", 0.4)])
def test_autoencoder_loss_gradcheck(noise, level):
    model = to64(AutoEncoder(5, 2, hidden=(4,), activation="tanh"))
    x = x64()

    def f(*params):
        ms.manual_seed(1)  # the same corruption in every evaluation
        return model.loss(x, noise, level)
    assert ms.gradcheck(f, list(model.parameters()))


def test_denoising_loss_compares_with_clean_input():
    model = AutoEncoder(5, 2, hidden=(4,))
    x = ms.rand(8, 5)
    ms.manual_seed(3)
    got = model.loss(x, "mask", 0.5).item()
    ms.manual_seed(3)
    xn = corrupt(x, "mask", 0.5)
    with ms.no_grad():
        want = ((model(xn).numpy() - x.numpy()) ** 2).mean()
    assert got == pytest.approx(want, rel=1e-6)
    assert not np.allclose(xn.numpy(), x.numpy())


def test_corrupt_statistics_and_errors():
    x = ms.ones(200, 50)
    masked = corrupt(x, "mask", 0.3).numpy()
    assert set(np.unique(masked)) <= {0.0, 1.0}
    assert abs((masked == 0).mean() - 0.3) < 0.02
    noisy = corrupt(x, "gaussian", 0.5).numpy() - 1
    assert abs(noisy.std() - 0.5) < 0.02 and abs(noisy.mean()) < 0.02
    with pytest.raises(ValueError, match="unknown noise"):
        corrupt(x, "salt", 0.1)
    with pytest.raises(ValueError, match="probability"):
        corrupt(x, "mask", 1.5)


def test_autoencoder_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        AutoEncoder(5, 2)(ms.rand(3, 4))


def test_pca_error_equals_discarded_variance():
    """Eckart–Young: the rank-k reconstruction error is the sum of the discarded
    eigenvalues of the scatter matrix (computed here with numpy's eigh)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)) @ rng.standard_normal((6, 6))
    for k in (1, 3, 5):
        pca = PCA(k).fit(ms.tensor(x))
        xc = x - x.mean(0)
        eig = np.sort(np.linalg.eigvalsh(xc.T @ xc))[::-1]
        assert pca.reconstruction_error(ms.tensor(x)).sum() == pytest.approx(eig[k:].sum(), rel=1e-4)
        comp = ms.backend.to_numpy(pca.components_)
        np.testing.assert_allclose(comp @ comp.T, np.eye(k), atol=1e-5)
    with pytest.raises(ValueError, match="n_components"):
        PCA(7).fit(ms.tensor(x))


def test_linear_autoencoder_reaches_pca():
    """A trained linear AE spans the PCA subspace: same training error (within 2%)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((200, 3)) @ rng.standard_normal((3, 8)) + 0.1 * rng.standard_normal((200, 8)))
    x = ms.tensor(x.astype(np.float32))
    pca_err = PCA(2).fit(x).reconstruction_error(x).mean()
    model = AutoEncoder(8, 2, hidden=(), activation=None, output="linear")
    fit(model, x, epochs=150, batch_size=50, lr=1e-2)
    ae_err = reconstruction_error(model, x).mean()
    assert ae_err <= pca_err * 1.02


def test_fit_reduces_loss_and_checks_input():
    model = AutoEncoder(6, 2, hidden=(8,))
    hist = fit(model, ms.rand(64, 6), epochs=30, batch_size=16, lr=1e-2)
    assert hist[-1] < hist[0]
    with pytest.raises(TypeError, match="ms.tensor"):
        fit(model, np.zeros((4, 6)))


# ---------------------------------------------------------------- ROC-AUC
def test_roc_auc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels = rng.random(60) < 0.4
        scores = rng.integers(0, 8, 60).astype(float)  # many ties
        pos, neg = scores[labels], scores[~labels]
        pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        assert roc_auc(labels, scores) == pytest.approx(pairs / (len(pos) * len(neg)))


# ---------------------------------------------------------------- discrete codes
def test_straight_through_value_is_hard_gradient_is_soft():
    logits = ms.tensor([[0.3, -1.2, 2.0]], requires_grad=True)
    b = binary_code(logits)
    np.testing.assert_array_equal(b.numpy(), [[1, 0, 1]])
    up = np.array([[0.5, -2.0, 1.5]], np.float32)
    b.backward(ms.tensor(up))
    s = 1 / (1 + np.exp(-logits.numpy()))
    np.testing.assert_allclose(npy(logits.grad), up * s * (1 - s), rtol=1e-5)

    soft = ms.tensor([[0.2, 0.8]], requires_grad=True)
    h = straight_through(ms.tensor([[0.0, 1.0]]), soft)
    np.testing.assert_array_equal(h.numpy(), [[0.0, 1.0]])
    h.backward(ms.tensor([[3.0, -1.0]]))
    np.testing.assert_array_equal(npy(soft.grad), [[3.0, -1.0]])  # identity Jacobian


def test_gumbel_softmax_hard_is_one_hot_with_soft_gradient():
    logits = ms.tensor(np.random.default_rng(0).standard_normal((4, 5)), dtype=ms.float64, requires_grad=True)
    up = ms.tensor(np.random.default_rng(1).standard_normal((4, 5)))
    ms.manual_seed(7)
    hard = gumbel_softmax(logits, tau=0.7, hard=True)
    hard.backward(up)
    g_hard = npy(logits.grad).copy()
    assert np.all(hard.numpy().sum(1) == 1) and set(np.unique(hard.numpy())) == {0.0, 1.0}
    logits.grad = None
    ms.manual_seed(7)
    soft = gumbel_softmax(logits, tau=0.7, hard=False)
    soft.backward(up)
    np.testing.assert_allclose(g_hard, npy(logits.grad))
    np.testing.assert_array_equal(hard.numpy().argmax(1), soft.numpy().argmax(1))


def test_gumbel_argmax_samples_the_softmax():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    ms.manual_seed(0)
    draws = gumbel_softmax(ms.tensor(np.tile(logits, (20000, 1))), hard=True).numpy().mean(0)
    np.testing.assert_allclose(draws, [0.5, 0.3, 0.15, 0.05], atol=0.015)


@pytest.mark.parametrize("kind,balance", [("binary", 0.0), ("onehot", 0.0), ("onehot", 0.5)])
def test_discrete_autoencoder_loss_gradcheck(kind, balance):
    """Decoder weights see a smooth function (the code is fixed under tiny
    perturbations); the balance term is smooth in the encoder weights."""
    model = to64(DiscreteAutoEncoder(5, 3, kind, hidden=(4,), balance=balance)).eval()
    x = x64()
    params = list(model.decoder.parameters())
    assert ms.gradcheck(lambda *p: model.loss(x), params)
    if balance:
        import minissl.nn.functional as F

        def mutual_information_term(*p):
            q = F.softmax(model.encoder(x), dim=-1)
            q_bar = q.mean(dim=0)
            return (q_bar * q_bar.log()).sum() - (q * q.log()).sum(dim=-1).mean()
        assert ms.gradcheck(mutual_information_term, list(model.encoder.parameters()))


def test_onehot_balance_is_log_k_minus_mutual_information():
    """The term equals log K - [H(p̄) - mean H(p_i)]: 0 for confident, evenly used codes, and
    log K for an encoder that gives every input the same uniform p (the collapse it prevents)."""
    model = to64(DiscreteAutoEncoder(5, 3, "onehot", hidden=(4,), balance=1.0)).eval()
    x = x64()
    plain = to64(DiscreteAutoEncoder(5, 3, "onehot", hidden=(4,), balance=0.0)).eval()
    plain.load_state_dict(model.state_dict())
    p = F_np_softmax(model.encoder(x).numpy())
    p_bar = p.mean(0)
    expected = np.log(3) + (p_bar * np.log(p_bar + 1e-8)).sum() - (p * np.log(p + 1e-8)).sum(1).mean()
    assert model.loss(x).item() - plain.loss(x).item() == pytest.approx(expected, abs=1e-9)
    for prm in model.encoder.parameters():  # a constant encoder: every input gets uniform p
        prm.array = prm.array * 0
    plain.load_state_dict(model.state_dict())
    assert model.loss(x).item() - plain.loss(x).item() == pytest.approx(np.log(3), abs=1e-6)


def F_np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---------------------------------------------------------------- disentanglement
def test_disentangled_losses_gradcheck_and_player_separation():
    model = to64(DisentangledAutoEncoder(5, num_classes=3, style_dim=2, hidden=(4,)))
    x, y = x64(), ms.tensor([0, 1, 2, 0, 1, 2])
    dec = list(model.decoder.parameters())
    assert ms.gradcheck(lambda *p: model.losses(x, y)["rec"], dec)
    assert ms.gradcheck(lambda *p: model.losses(x, y)["adv"], list(model.adversary.parameters()))
    assert ms.gradcheck(lambda *p: model.losses(x, y)["confuse"], list(model.style_encoder.parameters()))
    # the adversary's loss must not move the style encoder, the confusion loss not the adversary
    model.zero_grad()
    model.losses(x, y)["adv"].backward()
    assert all(p.grad is None for p in model.style_encoder.parameters())
    model.zero_grad()
    model.losses(x, y)["confuse"].backward()
    assert all(p.grad is None for p in model.adversary.parameters())


def test_confusion_loss_is_cross_entropy_to_uniform():
    model = DisentangledAutoEncoder(5, num_classes=3, style_dim=2, hidden=(4,))
    x, y = ms.rand(4, 5), ms.tensor([0, 1, 2, 0])
    with ms.no_grad():
        logits = model.adversary(model.style(x)).numpy()
        got = model.losses(x, y)["confuse"].item()
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert got == pytest.approx(-logp.mean(), rel=1e-5)


def test_swap_uses_content_of_first_and_style_of_second():
    model = DisentangledAutoEncoder(5, num_classes=3, style_dim=2, hidden=(4,))
    a, b = ms.rand(3, 5), ms.rand(3, 5)
    with ms.no_grad():
        want = model.decode(model.content(a)[1], model.style(b)).numpy()
        np.testing.assert_allclose(model.swap(a, b).numpy(), want)


# ---------------------------------------------------------------- convolutional auto-encoders
def test_conv_autoencoder_shapes_and_gradcheck():
    # 8×8 images with 2 and 3 channels keep the float64 gradcheck small; a wrong transposed-conv
    # geometry would fail the shape check, a wrong backward the gradcheck
    model = to64(AutoEncoder(64, 3, arch="conv", channels=(2, 3)))
    x = ms.tensor(np.random.default_rng(0).random((3, 64)), dtype=ms.float64)
    assert model.encode(x).shape == (3, 3) and model(x).shape == (3, 64)
    assert ms.gradcheck(lambda *p: model.loss(x), list(model.parameters())[:4] + list(model.decoder.parameters())[-2:])


def test_conv_decoder_makes_28x28_and_coders_refuse_other_inputs():
    model = AutoEncoder(784, 8, arch="conv")
    x = ms.tensor(np.random.default_rng(1).random((2, 784)).astype(np.float32))
    out = model(x).numpy()
    assert out.shape == (2, 784) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="square images"):
        AutoEncoder(30, 2, arch="conv")
    with pytest.raises(ValueError, match="unknown arch"):
        AutoEncoder(64, 2, arch="resnet")


def test_conv_autoencoder_learns_better_than_the_mean_image():
    # 200 steps on 8×8 crosses: an AE that did not train (a broken optimiser path through the
    # convolutions) would stay at the error of predicting the mean image
    rng = np.random.default_rng(2)
    imgs = np.zeros((128, 8, 8), np.float32)
    for i, (r, c) in enumerate(rng.integers(0, 8, (128, 2))):
        imgs[i, r, :] = imgs[i, :, c] = 1.0
    imgs = imgs.reshape(128, 64)
    x = ms.tensor(imgs)
    ms.manual_seed(0)
    model = AutoEncoder(64, 8, arch="conv", channels=(8, 16))
    fit(model, x, epochs=25, batch_size=16, lr=3e-3)
    base = ((imgs - imgs.mean(0)) ** 2).mean()
    with ms.no_grad():
        mse = ((model(x).numpy() - x.numpy()) ** 2).mean()
    assert mse < 0.5 * base
