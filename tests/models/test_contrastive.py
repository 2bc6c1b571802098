"""SimCLR / BYOL: the fused NT-Xent loss, augmentations (crop, flip), the CNN encoder, the EMA target, the collapse monitor."""
import math

import numpy as np
import pytest

import minissl as ms
from minissl import optim
from minissl.models.augment import Augment, affine_warp, fashion_augment
from minissl.models.cnn import cnn_encoder
from minissl.models.contrastive import BYOL, SimCLR, byol_tau, collapse_std, normalize, nt_xent, pretrain
from minissl.probe import linear_probe

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def t64(a, grad=True):
    return ms.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---------------------------------------------------------------- NT-Xent
@pytest.mark.parametrize("n,d,temp", [(2, 3, 0.5), (4, 5, 0.1), (5, 2, 1.0)])
def test_nt_xent_gradcheck(n, d, temp):
    rng = np.random.default_rng(n)
    z1, z2 = t64(rng.standard_normal((n, d))), t64(rng.standard_normal((n, d)))
    assert ms.gradcheck(lambda a, b: nt_xent(a, b, temp), [z1, z2])


def test_nt_xent_identical_embeddings_give_log_2n_minus_1():
    # every similarity equal: the positive is one of 2N-1 equally likely candidates
    for n in (2, 5, 16):
        e = ms.tensor(np.full((n, 7), 0.3, dtype=np.float32))
        assert nt_xent(e, e, 0.2).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)


def test_nt_xent_orthogonal_pairs_closed_form():
    # z1 = z2 = distinct unit axes: s_pos = 1/τ, every negative 0 -> ℓ = -1/τ + log(e^{1/τ} + 2N - 2)
    n, temp = 4, 0.25
    e = ms.tensor(np.eye(n, 6) * 3.0)
    expected = -1 / temp + math.log(math.exp(1 / temp) + 2 * n - 2)
    assert nt_xent(e, e, temp).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_matches_torch_cross_entropy_formulation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    z1, z2 = t64(a), t64(b)
    loss = nt_xent(z1, z2, 0.3)
    loss.backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    u = torch.nn.functional.normalize(torch.cat([ta, tb]), dim=1)
    s = (u @ u.T / 0.3).fill_diagonal_(-float("inf"))
    target = torch.cat([torch.arange(6, 12), torch.arange(6)])
    ref = torch.nn.functional.cross_entropy(s, target)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10)
    np.testing.assert_allclose(npy(z1.grad), ta.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(npy(z2.grad), tb.grad.numpy(), atol=1e-12)


def test_nt_xent_bad_input_is_named():
    z = ms.randn(4, 3)
    with pytest.raises(ValueError, match="z1 and z2"):
        nt_xent(z, ms.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(ms.randn(1, 3), ms.randn(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, 0.0)


# ---------------------------------------------------------------- augmentations
def test_affine_warp_identity_and_integer_shift():
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    eye = np.tile(np.eye(2, dtype=np.float32), (3, 1, 1))
    np.testing.assert_array_equal(npy(affine_warp(x, eye, np.zeros((3, 2), np.float32))), x)
    y = npy(affine_warp(x, eye, np.array([[1, 0], [0, -1], [2, 1]], np.float32)))
    np.testing.assert_allclose(y[0, :-1], x[0, 1:], atol=1e-6)  # reads one row down: the picture moves up
    np.testing.assert_allclose(y[0, -1], 0, atol=1e-6)          # what came in from outside is blank
    np.testing.assert_allclose(y[1, :, 1:], x[1, :, :-1], atol=1e-6)
    np.testing.assert_allclose(y[1, :, 0], 0, atol=1e-6)
    np.testing.assert_allclose(y[2, :-2, :-1], x[2, 2:, 1:], atol=1e-6)


def test_affine_warp_half_pixel_is_bilinear_average_and_rotation_quarter_turn():
    x = np.random.default_rng(1).random((1, 8, 8)).astype(np.float32)
    y = npy(affine_warp(x, np.eye(2, dtype=np.float32)[None], np.array([[0.5, 0.5]], np.float32)))
    avg = (x[0, :-1, :-1] + x[0, 1:, :-1] + x[0, :-1, 1:] + x[0, 1:, 1:]) / 4
    np.testing.assert_allclose(y[0, :-1, :-1], avg, atol=1e-6)
    rot = np.array([[[0, -1], [1, 0]]], np.float32)  # reads (r, c) at (3.5-(c-3.5), r): a 90° turn
    np.testing.assert_allclose(npy(affine_warp(x, rot, np.zeros((1, 2), np.float32)))[0], np.rot90(x[0], -1), atol=1e-5)


def test_cutout_zeroes_one_square_and_noise_has_its_std():
    ones = np.ones((50, 8, 8), np.float32)
    off = dict(shift=0, scale=(1, 1), rotate=0, noise=0, brightness=0, contrast=0)
    y = npy(Augment(cutout=3, cutout_p=1.0, **off)(ones))
    assert ((y == 0).sum(axis=(1, 2)) == 9).all()
    for img in y:  # the zeros form one 3×3 block
        r, c = np.nonzero(img == 0)
        assert r.max() - r.min() == 2 and c.max() - c.min() == 2
    z = npy(Augment(cutout=0, noise=0.1, **{k: v for k, v in off.items() if k != "noise"})(np.zeros((400, 64), np.float32)))
    assert z.shape == (400, 64) and z.dtype == np.float32
    assert z.std() == pytest.approx(0.1, rel=0.05)


def test_brightness_contrast_is_affine_per_image():
    x = np.random.default_rng(2).random((20, 8, 8)).astype(np.float32)
    y = npy(Augment(shift=0, scale=(1, 1), rotate=0, cutout=0, noise=0, brightness=0.3, contrast=0.5)(x))
    for a, b in zip(x, y):  # b = c·a + const with c in [0.5, 1.5]
        c = np.polyfit(a.ravel(), b.ravel(), 1)[0]
        np.testing.assert_allclose(b, c * a + (b - c * a).mean(), atol=1e-5)
        assert 0.5 <= c <= 1.5


def test_augment_is_seeded_batched_and_rejects_bad_shapes():
    x = np.random.default_rng(3).random((10, 64)).astype(np.float32)
    ms.manual_seed(5)
    a = npy(Augment()(x))
    ms.manual_seed(5)
    b = npy(Augment()(x))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1] - x[1] + x[0])  # each image draws its own transform
    with pytest.raises(ValueError, match="not square"):
        Augment()(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="scale"):
        Augment(scale=(1.2, 0.8))


# ---------------------------------------------------------------- SimCLR / BYOL
def test_collapse_std_healthy_and_collapsed():
    rng = np.random.default_rng(0)
    d = 64
    assert collapse_std(ms.tensor(rng.standard_normal((4000, d)))) == pytest.approx(1 / math.sqrt(d), rel=0.03)
    assert collapse_std(ms.tensor(np.tile(rng.standard_normal((1, d)), (100, 1)))) < 1e-6


def test_simclr_loss_trains_down():
    x = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    model = SimCLR(hidden=64, proj_dim=16, temperature=0.2)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    aug = Augment(shift=0, scale=(1, 1), rotate=0, cutout=0, noise=0.05, brightness=0.1, contrast=0.1)
    losses = []
    for _ in range(30):
        loss = model.loss(ms.tensor(aug(x)), ms.tensor(aug(x)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] < math.log(127)  # below chance: views of one image already look alike
    floor = math.log(1 + 126 * math.exp(-1 / 0.2))  # positives at cos 1, negatives at cos 0
    assert np.mean(losses[-5:]) < floor + 0.3 * (losses[0] - floor)


def test_byol_tau_schedule():
    assert byol_tau(0, 100, 0.99) == pytest.approx(0.99)
    assert byol_tau(50, 100, 0.99) == pytest.approx(0.995)
    assert byol_tau(100, 100, 0.99) == pytest.approx(1.0)
    assert byol_tau(25, 100, 0.9) == pytest.approx(1 - 0.1 * (math.cos(math.pi / 4) + 1) / 2)


def test_byol_no_gradient_into_target_and_ema_update():
    model = BYOL(hidden=32, proj_dim=8, pred_hidden=16, tau_base=0.9)
    target_ids = {id(p) for p in model.target.parameters()}
    assert target_ids and not target_ids & {id(p) for p in model.parameters()}  # the optimiser never sees them
    before = [npy(p.array).copy() for p in model.target.parameters()]
    x = ms.tensor(np.random.default_rng(0).random((16, 64)).astype(np.float32))
    opt = optim.SGD(model.parameters(), lr=0.5)
    loss = model.loss(x, ms.tensor(x.numpy()[::-1].copy()))
    loss.backward()
    assert all(p.grad is None for p in model.target.parameters())
    assert all(p.grad is not None for p in model.predictor.parameters())
    opt.step()
    for b, p in zip(before, model.target.parameters()):
        np.testing.assert_array_equal(npy(p.array), b)  # the optimiser step leaves the target alone
    online = [npy(p.array).copy() for p in list(model.encoder.parameters()) + list(model.projector.parameters())]
    tau = model.update_target(0, 10)
    assert tau == pytest.approx(0.9)
    for b, o, p in zip(before, online, model.target.parameters()):
        np.testing.assert_allclose(npy(p.array), 0.9 * b + 0.1 * o, rtol=1e-5, atol=1e-7)


def test_byol_loss_is_symmetric_two_minus_two_cos():
    model = BYOL(hidden=16, proj_dim=4, pred_hidden=8)
    model.eval()  # batch statistics out of the way: compare with a direct computation
    model.target.eval()
    x1 = ms.tensor(np.random.default_rng(0).random((5, 64)).astype(np.float32))
    x2 = ms.tensor(np.random.default_rng(1).random((5, 64)).astype(np.float32))

    def cos(a, b):
        a, b = normalize(a).numpy(), normalize(b).numpy()
        return (a * b).sum(1)

    with ms.no_grad():
        q1, q2 = (model.predictor(model.projector(model.encoder(v))) for v in (x1, x2))
        t1, t2 = model.target(x1), model.target(x2)
        expected = np.mean(2 - 2 * cos(q1, t2)) + np.mean(2 - 2 * cos(q2, t1))
        assert model.loss(x1, x2).item() == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- linear probe
def test_pretrain_byol_logs_history_and_moves_target():
    x = np.random.default_rng(0).random((70, 64)).astype(np.float32)
    model = BYOL(hidden=32, proj_dim=8, pred_hidden=16)
    before = [npy(p.array).copy() for p in model.target.parameters()]
    hist = pretrain(model, x, Augment(), epochs=3, batch_size=32, lr=1e-2, progress=False)
    assert len(hist["loss"]) == 3 and len(hist["collapse_std"]) == 3
    assert all(0 < s <= 1 / math.sqrt(8) * 1.5 for s in hist["collapse_std"])
    assert any(not np.allclose(b, npy(p.array)) for b, p in zip(before, model.target.parameters()))
    assert not model.training  # handed back ready for feature extraction


@pytest.mark.slow
def test_simclr_on_digits_beats_raw_pixels():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(x))
    tr, va, te = idx[:1000], idx[1000:1300], idx[1300:]
    model = SimCLR(hidden=256)
    pretrain(model, x[np.concatenate([tr, va])], Augment(), epochs=30, progress=False)
    with ms.no_grad():
        f = model(ms.tensor(x)).numpy()
    raw = linear_probe((x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]))[0]
    ssl = linear_probe((f[tr], y[tr]), (f[va], y[va]), (f[te], y[te]))[0]
    assert ssl > max(raw, 0.975)


# ---------------------------------------------------------------- 28×28 images: crop, flip, CNN encoder
OFF = dict(rotate=0, cutout=0, noise=0, brightness=0, contrast=0)


def test_flip_mirrors_columns_exactly():
    # a flip that acted on rows, or on only some images, would leave a mismatch here
    x = np.random.default_rng(4).random((6, 28, 28)).astype(np.float32)
    y = npy(Augment(crop_area=(1, 1), ratio=(1, 1), flip=1.0, **OFF)(x))
    np.testing.assert_allclose(y, x[:, :, ::-1], atol=1e-5)


def test_random_resized_crop_scale_and_stays_inside():
    # image = column index: a crop keeping a quarter of the area (ratio 1) shows half the columns,
    # so the slope along a row is 0.5; an area/side mix-up would give 0.25, and a box shifted
    # past the border would read zeros from outside the picture
    x = np.tile(np.arange(28, dtype=np.float32), (40, 28, 1))
    y = npy(Augment(crop_area=(0.25, 0.25), ratio=(1, 1), **OFF)(x))
    np.testing.assert_allclose(np.diff(y, axis=2), 0.5, atol=1e-4)
    ones = np.ones((200, 28, 28), np.float32)
    z = npy(Augment(crop_area=(0.2, 1.0), **OFF)(ones))
    np.testing.assert_allclose(z, 1.0, atol=1e-5)


def test_fashion_augment_views_differ_and_bad_settings_are_named():
    x = np.random.default_rng(5).random((8, 784)).astype(np.float32)
    a, b = npy(fashion_augment()(x)), npy(fashion_augment()(x))
    assert a.shape == (8, 784) and a.dtype == np.float32 and not np.allclose(a, b)
    with pytest.raises(ValueError, match="crop_area"):
        Augment(crop_area=(0.0, 1.0))
    with pytest.raises(ValueError, match="flip"):
        Augment(flip=1.5)


def test_cnn_encoder_shapes_and_simclr_on_it():
    enc = cnn_encoder()
    x = np.random.default_rng(6).random((4, 784)).astype(np.float32)
    assert enc(ms.tensor(x)).shape == (4, enc.feature_dim) == (4, 256)
    assert enc(ms.tensor(x.reshape(4, 1, 28, 28))).shape == (4, 256)
    with pytest.raises(ValueError, match="28x28"):
        enc(ms.tensor(np.zeros((4, 100), np.float32)))
    model = SimCLR(encoder=enc, hidden=32, proj_dim=8)
    loss = model.loss(ms.tensor(x), ms.tensor(x))
    loss.backward()
    assert np.isfinite(loss.item()) and np.abs(npy(enc[1].weight.grad)).sum() > 0  # the first conv learns
    with pytest.raises(ValueError, match="feature_dim"):
        SimCLR(encoder=ms.nn.Linear(3, 3))
