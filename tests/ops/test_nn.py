"""Fused nn ops: softmax family, losses, layer and RMS norm, dropout, embedding.
Forward against NumPy written out from the definitions, float64 gradcheck,
and numerical stability at logits of ±1e4."""
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import broadcastable, check_op, nonscalar_shapes, seeds, values  # noqa: E402

import minissl as ms  # noqa: E402
import minissl.nn.functional as F  # noqa: E402

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def np_log_softmax(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


@given(shape=nonscalar_shapes, seed=seeds, data=st.data(), log=st.booleans())
def test_softmax_log_softmax(shape, seed, data, log):
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(shape, seed, low=-4, high=4)
    if log:
        check_op(lambda t: t.log_softmax(d), lambda z: np_log_softmax(z, d), [x])
    else:
        check_op(lambda t: F.softmax(t, dim=d), lambda z: np.exp(np_log_softmax(z, d)), [x])


def np_cross_entropy(z, y, ignore_index, reduction, eps):
    """PyTorch's definition, written independently: (N, C[, d...]) logits, class axis 1."""
    logp = np_log_softmax(z, 1)
    c = z.shape[1]
    keep = y != ignore_index
    safe = np.where(keep, y, 0)
    picked = np.take_along_axis(logp, np.expand_dims(safe, 1), axis=1).squeeze(1)
    loss = -(1 - eps) * picked - eps / c * logp.sum(axis=1)
    loss = np.where(keep, loss, 0.0)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / keep.sum()


@given(n=st.integers(1, 4), c=st.integers(2, 5), extra=st.lists(st.integers(1, 2), max_size=1), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), eps=st.sampled_from([0.0, 0.1]),
       ignore=st.booleans())
def test_cross_entropy(n, c, extra, seed, reduction, eps, ignore):
    shape = (n, c) + tuple(extra)
    z = values(shape, seed, low=-3, high=3)
    y = np.random.default_rng(seed).integers(0, c, size=(n,) + tuple(extra))
    ignore_index = -100
    if ignore:
        y.reshape(-1)[0] = ignore_index  # one ignored position (there is always at least one left when n*d > 1)
        if y.size == 1:
            return
    check_op(lambda t: F.cross_entropy(t, ms.tensor(y), ignore_index=ignore_index, reduction=reduction,
                                       label_smoothing=eps),
             lambda a: np_cross_entropy(a, y, ignore_index, reduction, eps), [z])


def test_cross_entropy_custom_ignore_index_and_1d_input():
    z = values((3, 4), 1)
    y = np.array([1, 7, 2])
    check_op(lambda t: F.cross_entropy(t, y, ignore_index=7), lambda a: np_cross_entropy(a, y, 7, "mean", 0.0), [z])
    z1 = values((5,), 2)
    out = F.cross_entropy(ms.tensor(z1), ms.tensor(3))
    assert out.item() == pytest.approx(-np_log_softmax(z1, 0)[3])


def test_cross_entropy_bad_targets():
    z = ms.randn(2, 3)
    with pytest.raises(IndexError, match="target 3 is out of range for 3 classes"):
        F.cross_entropy(z, ms.tensor([0, 3]))
    with pytest.raises(TypeError, match="integer class ids"):
        F.cross_entropy(z, ms.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target shape \(3,\)"):
        F.cross_entropy(z, ms.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(z, ms.tensor([0, 1]), reduction="avg")


@pytest.mark.filterwarnings("ignore:mse_loss")  # broadcasting on purpose: the gradient must undo it
@given(sh=broadcastable(2), seed=seeds, reduction=st.sampled_from(["mean", "sum", "none"]), both=st.booleans())
def test_mse_loss(sh, seed, reduction, both):
    (sa, sb), _ = sh
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    check_op(lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: red((a - b) ** 2),
             [values(sa, seed), values(sb, seed + 1)], grad=[True, both])


@given(shape=array_shapes(min_dims=1, max_dims=2, max_side=4), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), both=st.booleans())
def test_bce_with_logits(shape, seed, reduction, both):
    z = values(shape, seed, low=-5, high=5)
    t = np.random.default_rng(seed).uniform(0, 1, shape)  # soft targets, as PyTorch allows
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]

    def ref(z, t):
        p = 1 / (1 + np.exp(-z))
        return red(-(t * np.log(p) + (1 - t) * np.log(1 - p)))
    check_op(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), ref, [z, t],
             grad=[True, both], rtol=1e-9)


def test_bce_shape_mismatch():
    with pytest.raises(ValueError, match="target shape"):
        F.binary_cross_entropy_with_logits(ms.randn(3), ms.randn(2))


@given(lead=st.lists(st.integers(1, 3), max_size=2), norm=st.lists(st.integers(2, 4), min_size=1, max_size=2),
       affine=st.sampled_from(["none", "weight", "both"]), seed=seeds)
def test_layer_norm(lead, norm, affine, seed):
    shape, norm = tuple(lead) + tuple(norm), tuple(norm)
    axes = tuple(range(len(shape) - len(norm), len(shape)))
    x, w, b = values(shape, seed), values(norm, seed + 1), values(norm, seed + 2)

    def ref(x, w=None, b=None):
        y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
        return y * (1 if w is None else w) + (0 if b is None else b)
    arrays = {"none": [x], "weight": [x, w], "both": [x, w, b]}[affine]
    check_op(lambda *t: F.layer_norm(t[0], norm, *t[1:]), ref, arrays)


@given(lead=st.lists(st.integers(1, 3), max_size=2), norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       affine=st.booleans(), eps=st.sampled_from([1e-6, 0.5]), seed=seeds)
def test_rms_norm(lead, norm, affine, eps, seed):
    shape, norm = tuple(lead) + tuple(norm), tuple(norm)
    axes = tuple(range(len(shape) - len(norm), len(shape)))
    x, w = values(shape, seed), values(norm, seed + 1)

    def ref(x, w=None):
        return x / np.sqrt((x * x).mean(axes, keepdims=True) + eps) * (1 if w is None else w)
    check_op(lambda *t: F.rms_norm(t[0], norm, *t[1:], eps=eps), ref, [x, w] if affine else [x])


def test_norms_refuse_a_weight_or_bias_that_is_not_normalized_shape():
    """As PyTorch: a (1,) weight would broadcast in forward and fail in backward's reshape."""
    with pytest.raises(ValueError, match="weight shape"):
        F.rms_norm(ms.randn(2, 4), [4], ms.ones(1))
    with pytest.raises(ValueError, match="weight shape"):
        F.layer_norm(ms.randn(2, 4), [4], ms.ones(1), ms.zeros(4))
    with pytest.raises(ValueError, match="bias shape"):
        F.layer_norm(ms.randn(2, 4), [4], ms.ones(4), ms.zeros(1))


@pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")
def test_rms_norm_keeps_the_input_dtype_and_sums_half_precision_in_float32():
    """As torch.nn.functional.rms_norm: the result has the input's dtype (a float64 weight does not
    promote it), and float16 input is normalised in float32 (its squares overflow float16 at 256)."""
    torch = pytest.importorskip("torch")
    x16 = (np.arange(8, dtype=np.float16).reshape(2, 4) + 300)
    ours = F.rms_norm(ms.tensor(x16), [4])
    assert ours.dtype == np.float16
    np.testing.assert_array_equal(ours.numpy(), torch.nn.functional.rms_norm(torch.tensor(x16), [4]).numpy())
    x, w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32), np.linspace(0.5, 2, 4)
    a, b = ms.tensor(x, requires_grad=True), ms.tensor(w, requires_grad=True)
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y, ty = F.rms_norm(a, [4], b, eps=1e-5), torch.nn.functional.rms_norm(ta, [4], tb, eps=1e-5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    y.sum().backward(), ty.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_rms_norm_output_changed_in_place_before_backward_keeps_the_gradient(affine):
    """As PyTorch: backward reads x̂ = x·r, which must not be the output array handed out."""
    x = values((3, 4), 0).astype(np.float32)
    w = ms.tensor(np.linspace(0.5, 2, 4).astype(np.float32)) if affine else None
    grads = []
    for change in (False, True):
        a = ms.tensor(x, requires_grad=True)
        y = F.rms_norm(a, [4], w)
        if change:
            with ms.no_grad():
                y.mul_(3)
        y.backward(ms.ones(3, 4))
        grads.append(a.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])


def test_layer_norm_shape_error():
    with pytest.raises(ValueError, match="does not end with normalized_shape"):
        F.layer_norm(ms.randn(2, 3), 4)


@given(shape=nonscalar_shapes, seed=seeds, p=st.sampled_from([0.1, 0.5, 0.9]))
def test_dropout_train_mask_consistent(shape, seed, p):
    x = values(shape, seed, margin=0.1)

    def op(t):  # reseed so every forward of the gradient check draws the same mask
        ms.manual_seed(seed)
        return F.dropout(t, p, training=True)
    t = ms.tensor(x, requires_grad=True)
    out = op(t).numpy()
    kept = out != 0
    # kept elements are scaled by 1/(1-p), dropped ones are exactly 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-12)
    # backward applies the *same* mask and scale
    check_op(op, lambda a: np.where(kept, a / (1 - p), 0.0), [x])


def test_dropout_eval_identity_and_rate():
    x = ms.ones(200, 200)
    assert F.dropout(x, 0.3, training=False) is x
    out = F.dropout(x, 0.3).numpy()
    assert abs((out == 0).mean() - 0.3) < 0.01  # 40,000 draws: sd of the rate is 0.0023
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)
    assert (F.dropout(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


@given(v=st.integers(1, 6), d=st.integers(1, 3), ids_shape=array_shapes(min_dims=1, max_dims=2, max_side=4),
       seed=seeds, pad=st.booleans())
def test_embedding(v, d, ids_shape, seed, pad):
    ids = np.random.default_rng(seed).integers(0, v, ids_shape)  # small vocab: repeats are common
    w = values((v, d), seed)
    padding_idx = int(ids.reshape(-1)[0]) if pad else None
    if pad:
        out = check_op(lambda t: F.embedding(ids, t), lambda a: a[ids], [w])
        t = ms.tensor(w, requires_grad=True)
        F.embedding(ms.tensor(ids), t, padding_idx=padding_idx).sum().backward()
        assert (npy(t.grad)[padding_idx] == 0).all()
        counts = np.bincount(ids.reshape(-1), minlength=v).astype(float)
        counts[padding_idx] = 0
        np.testing.assert_array_equal(npy(t.grad), np.repeat(counts[:, None], d, 1))
    else:
        out = check_op(lambda t: F.embedding(ms.tensor(ids), t), lambda a: a[ids], [w])
    assert out.shape == ids_shape + (d,)


def test_embedding_bad_ids_name_value_and_vocab():
    w = ms.randn(10, 4)
    with pytest.raises(IndexError, match=r"id 12 is out of range for a vocabulary of size 10"):
        F.embedding(ms.tensor([1, 12]), w)
    with pytest.raises(IndexError, match=r"id -1 .* size 10"):
        F.embedding(ms.tensor([-1, 2]), w)
    with pytest.raises(TypeError, match=r"integers.*float.*2\.5"):
        F.embedding(ms.tensor([2.5, 1.0]), w)


# ------------------------------------------------------------------ stability
BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, -1e4]])


def test_softmax_family_at_extreme_logits():
    z = ms.tensor(BIG, requires_grad=True)
    p = F.softmax(z, -1)
    expected = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1)), 0]])
    np.testing.assert_allclose(p.numpy(), expected, atol=1e-15)
    (p * ms.tensor(np.arange(9.0).reshape(3, 3))).sum().backward()
    assert np.isfinite(npy(z.grad)).all()
    lz = ms.tensor(BIG, requires_grad=True)
    lp = F.log_softmax(lz, -1)
    np.testing.assert_allclose(lp.numpy()[0], [0, -2e4, -1e4])
    np.testing.assert_allclose(lp.numpy()[2, :2], [-np.log1p(np.exp(-1)), -1 - np.log1p(np.exp(-1))], rtol=1e-12)
    lp.sum().backward()
    assert np.isfinite(npy(lz.grad)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_at_extreme_logits(dtype, eps):
    z = ms.tensor(BIG.astype(dtype), requires_grad=True)
    y = ms.tensor([1, 0, 0])
    loss = F.cross_entropy(z, y, reduction="none", label_smoothing=eps)
    expected = np_cross_entropy(BIG, y.numpy(), -100, "none", eps)  # 2e4, log 3, log(1 + e^-1) (+ smoothing)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)
    assert loss.dtype == dtype
    loss.sum().backward()
    g = npy(z.grad)
    assert g.dtype == dtype and np.isfinite(g).all()
    np.testing.assert_allclose(g.sum(1), 0, atol=1e-6)  # softmax - q sums to 0 per row
    np.testing.assert_allclose(g[0], [1 - eps / 3, -(1 - eps) - eps / 3, -eps / 3], atol=1e-6)
