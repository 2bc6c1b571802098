"""Layers and a small MLP training step against PyTorch."""
import numpy as np
import pytest

import minissl as ms
import minissl.nn.functional as F
from minissl import nn, optim

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

torch = pytest.importorskip("torch")


def _copy_to_torch(ours, theirs):
    with torch.no_grad():
        for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert n == tn and p.shape == tuple(tp.shape)
            tp.copy_(torch.tensor(p.numpy()))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)], ids=["float64", "float32"])
def test_mlp_training_step_with_adamw_matches_torch(dtype, tol):
    """Three AdamW steps of a Linear-GELU-LayerNorm-Linear classifier: loss and every parameter match."""
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    ours = nn.Sequential(nn.Linear(6, 16, dtype=dtype), nn.GELU(), nn.LayerNorm(16, dtype=dtype),
                         nn.Dropout(0.0), nn.Linear(16, 4, dtype=dtype))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.LayerNorm(16),
                                 torch.nn.Dropout(0.0), torch.nn.Linear(16, 4)).to(tdt)
    _copy_to_torch(ours, theirs)
    o1 = optim.AdamW(optim.param_groups_for_decay(ours, 0.1), lr=1e-2)
    decay = [p for p in theirs.parameters() if p.ndim >= 2]
    rest = [p for p in theirs.parameters() if p.ndim < 2]
    o2 = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, y = rng.normal(size=(8, 6)).astype(dtype), rng.integers(0, 4, 8)
        loss = F.cross_entropy(ours(ms.tensor(x)), ms.tensor(y))
        t_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        assert loss.dtype == dtype
        assert loss.item() == pytest.approx(t_loss.item(), rel=tol, abs=tol)
        o1.zero_grad()
        o2.zero_grad()
        loss.backward()
        t_loss.backward()
        o1.step()
        o2.step()
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=tol, atol=tol)


def test_linear_init_and_shapes_follow_torch():
    lin = nn.Linear(100, 50)
    assert lin.weight.shape == (50, 100) and lin.bias.shape == (50,) and lin.weight.dtype == np.float32
    bound = 1 / 10
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.005  # U(-b, b) has sd b/√3
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError, match=r"input has 4 features .*\(2, 4\).*\(50, 100\)"):
        lin(ms.randn(2, 4))


def test_embedding_layer_and_padding():
    emb = nn.Embedding(10, 3, padding_idx=0)
    assert (emb.weight.numpy()[0] == 0).all()
    out = emb(ms.tensor([[0, 5, 5]]))
    assert out.shape == (1, 3, 3)
    out.sum().backward()
    assert (npy(emb.weight.grad)[0] == 0).all() and (npy(emb.weight.grad)[5] == 2).all()


@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 3)])
def test_batchnorm1d_matches_torch_train_and_eval(shape):
    x = np.random.default_rng(0).normal(size=shape)
    ours, theirs = nn.BatchNorm1d(4, dtype=np.float64), torch.nn.BatchNorm1d(4).double()
    xt = torch.tensor(x, requires_grad=True)
    xm = ms.tensor(x, requires_grad=True)
    for _ in range(2):
        out, ref = ours(xm), theirs(xt)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = np.random.default_rng(1).normal(size=shape)
    out.backward(ms.tensor(u))
    ref.backward(torch.tensor(u))
    np.testing.assert_allclose(npy(xm.grad), xt.grad.numpy() / 1, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(xm).numpy(), theirs(xt).detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="expects input"):
        ours(ms.randn(2, 5))


def test_dropout_module_respects_mode():
    d = nn.Dropout(0.5)
    x = ms.ones(100)
    assert (d(x).numpy() == 0).any()
    d.eval()
    assert d(x) is x


def test_activation_modules():
    x = ms.tensor([-1.0, 0.5])
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), [0, 0.5])
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh([-1, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(nn.GELU("tanh")(x).numpy(), F.gelu(x, approximate="tanh").numpy())
    assert nn.Identity()(x) is x


@pytest.mark.parametrize("shape,eps,affine", [(6, None, True), ((3, 6), 1e-5, True), (6, 1e-6, False)])
def test_rms_norm_matches_torch_and_gradchecks(shape, eps, affine):
    torch = pytest.importorskip("torch")
    norm_shape = (shape,) if isinstance(shape, int) else shape
    x = np.random.default_rng(0).standard_normal((2, 3, 6)) * 3
    ours = nn.RMSNorm(shape, eps=eps, elementwise_affine=affine)
    ref = torch.nn.RMSNorm(shape, eps=eps, elementwise_affine=affine, dtype=torch.float64)
    if affine:
        w = np.random.default_rng(1).standard_normal(norm_shape)
        ours.weight.array = ms.tensor(w, dtype=ms.float64).array
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(w))
    xm = ms.tensor(x, dtype=ms.float64, requires_grad=True)
    np.testing.assert_allclose(ours(xm).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    ms.gradcheck(ours, [xm])
    if affine:
        ms.gradcheck(lambda w: ours(xm.detach()), [ours.weight])
    assert (ours.weight is None) == (not affine)


def test_rms_norm_refuses_a_shape_the_input_does_not_end_with():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.RMSNorm(4)(ms.randn(2, 3))


def test_skip_init_allocates_without_drawing_random_numbers():
    ms.manual_seed(0)
    want = nn.Linear(3, 4).weight.numpy()
    ms.manual_seed(0)
    m = nn.utils.skip_init(nn.Embedding, 5, 2)
    assert m.weight.shape == (5, 2) and m.weight.dtype == ms.float32
    np.testing.assert_array_equal(nn.Linear(3, 4).weight.numpy(), want)  # the generator did not move
    assert nn.utils.skip_init(nn.Linear, 3, 4).weight.shape == (4, 3)
    ms.manual_seed(1)
    a = nn.Linear(3, 4).weight.numpy()  # and initialisation is back to normal afterwards
    ms.manual_seed(1)
    np.testing.assert_array_equal(nn.Linear(3, 4).weight.numpy(), a)


def test_tied_linear_shares_the_embedding_parameter_like_torch_and_draws_nothing():
    ms.manual_seed(0)
    emb = nn.Embedding(7, 3)
    after = nn.Linear(2, 2).weight.numpy()
    ms.manual_seed(0)
    emb = nn.Embedding(7, 3)
    head = nn.utils.tied_linear(emb)
    np.testing.assert_array_equal(nn.Linear(2, 2).weight.numpy(), after)  # the generator did not move
    assert head.weight is emb.weight and head.bias is None and (head.in_features, head.out_features) == (3, 7)
    t_emb = torch.nn.Embedding(7, 3)
    t_head = torch.nn.Linear(3, 7, bias=False)
    t_head.weight = t_emb.weight  # PyTorch's way of tying
    with torch.no_grad():
        t_emb.weight.copy_(torch.from_numpy(emb.weight.numpy()))
    ids = np.array([[1, 4, 4, 6]])
    up = np.random.default_rng(0).standard_normal((1, 4, 7)).astype(np.float32)
    out = head(emb(ids))
    (out * ms.tensor(up)).sum().backward()
    t_out = t_head(t_emb(torch.from_numpy(ids)))
    (t_out * torch.from_numpy(up)).sum().backward()
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(emb.weight.grad.numpy(), t_emb.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
