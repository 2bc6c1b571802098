"""silu, leaky_relu, binary_cross_entropy, cross_entropy with class probabilities and with
class weights, pad, normalize, one_hot: forward against NumPy written from the definitions,
float64 gradcheck (Hypothesis), and the same calls under torch where installed."""
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import check_op, nonscalar_shapes, seeds, values  # noqa: E402

import minissl as ms  # noqa: E402
import minissl.nn.functional as F  # noqa: E402
from minissl import nn  # noqa: E402

try:
    import torch
    TF = torch.nn.functional
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
npy = ms.backend.to_numpy


def np_log_softmax(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def _reduce(loss, reduction, denom=None):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / (loss.size if denom is None else denom)


@given(shape=nonscalar_shapes, seed=seeds)
def test_silu(shape, seed):
    check_op(F.silu, lambda x: x / (1 + np.exp(-x)), [values(shape, seed, low=-5, high=5)])


@given(shape=nonscalar_shapes, seed=seeds, slope=st.sampled_from([0.01, 0.2, -0.5]))
def test_leaky_relu(shape, seed, slope):
    x = values(shape, seed, margin=1e-3)  # away from the kink at 0
    check_op(lambda t: F.leaky_relu(t, slope), lambda a: np.where(a > 0, a, slope * a), [x])


@given(shape=nonscalar_shapes, seed=seeds, reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans())
def test_binary_cross_entropy(shape, seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    p, t = rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2, shape[-1:]) if weighted else None
    ref_w = 1.0 if w is None else w

    def ref(p, t):
        return _reduce(-ref_w * (t * np.log(p) + (1 - t) * np.log1p(-p)), reduction)
    check_op(lambda a, b: F.binary_cross_entropy(a, b, weight=None if w is None else ms.tensor(w),
                                                 reduction=reduction), ref, [p, t])


@given(n=st.integers(1, 4), c=st.integers(2, 5), extra=st.lists(st.integers(1, 2), max_size=1), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), eps=st.sampled_from([0.0, 0.1]),
       weighted=st.booleans())
def test_cross_entropy_with_probability_targets(n, c, extra, seed, reduction, eps, weighted):
    shape = (n, c) + tuple(extra)
    rng = np.random.default_rng(seed)
    z = values(shape, seed, low=-3, high=3)
    q = rng.uniform(0.1, 1, shape)
    q /= q.sum(axis=1, keepdims=True)
    w = rng.uniform(0.5, 2, c) if weighted else np.ones(c)
    wshape = (1, c) + (1,) * len(extra)

    def ref(z, q):
        qs = q * (1 - eps) + eps / c
        loss = -(w.reshape(wshape) * qs * np_log_softmax(z, 1)).sum(axis=1)
        return _reduce(loss, reduction, denom=loss.size)  # mean divides by N·d..., not by the weights
    check_op(lambda a, b: F.cross_entropy(a, b, weight=ms.tensor(w) if weighted else None, reduction=reduction,
                                          label_smoothing=eps), ref, [z, q])


@given(n=st.integers(1, 5), c=st.integers(2, 5), seed=seeds, reduction=st.sampled_from(["mean", "sum", "none"]),
       eps=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_with_class_weights(n, c, seed, reduction, eps):
    rng = np.random.default_rng(seed)
    z = values((n, c), seed, low=-3, high=3)
    y = rng.integers(0, c, n)
    if n > 1:
        y[0] = -100  # one ignored row
    w = rng.uniform(0.5, 2, c)

    def ref(z):
        logp = np_log_softmax(z, 1)
        keep = y != -100
        safe = np.where(keep, y, 0)
        nll = -logp[np.arange(n), safe] * w[safe]
        smooth = -(logp * w).sum(1) / c
        loss = np.where(keep, (1 - eps) * nll + eps * smooth, 0.0)
        return _reduce(loss, reduction, denom=(w[safe] * keep).sum())
    check_op(lambda a: F.cross_entropy(a, ms.tensor(y), weight=ms.tensor(w), reduction=reduction,
                                       label_smoothing=eps), ref, [z])


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_pad(shape, seed, data):
    k = data.draw(st.integers(1, len(shape)))
    pads = tuple(data.draw(st.integers(-(shape[len(shape) - 1 - i // 2] // 2), 2)) for i in range(2 * k))
    value = data.draw(st.sampled_from([0.0, -1.5]))

    def ref(x):
        for i in range(k):  # pad with np.pad, then crop the negative amounts
            d = x.ndim - 1 - i
            lo, hi = pads[2 * i], pads[2 * i + 1]
            width = [(0, 0)] * x.ndim
            width[d] = (max(lo, 0), max(hi, 0))
            x = np.pad(x, width, constant_values=value)
            idx = [slice(None)] * x.ndim
            idx[d] = slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
            x = x[tuple(idx)]
        return x
    check_op(lambda t: F.pad(t, pads, value=value), ref, [values(shape, seed)])


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_normalize(shape, seed, data):
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(shape, seed, margin=0.1)
    check_op(lambda t: F.normalize(t, dim=d),
             lambda a: a / np.maximum(np.sqrt((a * a).sum(axis=d, keepdims=True)), 1e-12), [x])


def test_normalize_of_a_zero_vector_is_zero_with_gradient_one_over_eps():
    x = ms.zeros(2, 3, dtype=ms.float64, requires_grad=True)
    y = F.normalize(x, dim=1)
    y.sum().backward()
    assert (npy(y) == 0).all() and np.allclose(npy(x.grad), 1e12)


def test_bce_clamps_log_at_minus_100_and_checks_its_input():
    loss = F.binary_cross_entropy(ms.tensor([0.0, 1.0]), ms.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(npy(loss), [100.0, 100.0])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(ms.tensor([1.5]), ms.tensor([1.0]))
    with pytest.raises(ValueError, match="same size"):
        F.binary_cross_entropy(ms.tensor([0.5]), ms.tensor([[1.0]]))


# ---------------------------------------------------------------- the same calls in torch
def _both(fn, *arrays, grad=True):
    """fn(lib, *tensors) in both libraries: values, dtypes and input gradients must agree."""
    ts = [ms.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    tt = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ours, theirs = fn(ms, *ts), fn(torch, *tt)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "") and ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(npy(ours), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    if grad and theirs.requires_grad:
        g = np.random.default_rng(1).standard_normal(ours.shape).astype(arrays[0].dtype)
        ours.backward(ms.tensor(g))
        theirs.backward(torch.tensor(g))
        for a, b in zip(ts, tt):
            if b.grad is not None:
                np.testing.assert_allclose(npy(a.grad), b.grad.numpy(), rtol=1e-5, atol=1e-6)


R = np.random.default_rng(0)
Z = R.standard_normal((4, 5, 3)).astype(np.float32)
Q = np.exp(R.standard_normal((4, 5, 3))).astype(np.float32)
Q /= Q.sum(1, keepdims=True)
P = R.uniform(0.01, 0.99, (4, 5)).astype(np.float32)
T = (R.random((4, 5)) > 0.5).astype(np.float32)
Y = np.array([0, 4, -100, 2])


def _fn(lib):
    return lib.nn.functional


TORCH_CASES = {
    "silu": (lambda lib, x: _fn(lib).silu(x), [Z]),
    "leaky_relu": (lambda lib, x: _fn(lib).leaky_relu(x, 0.2), [Z]),
    "leaky_relu at 0": (lambda lib, x: _fn(lib).leaky_relu(x, 0.2), [np.zeros(3, np.float32)]),
    "bce": (lambda lib, p, t: _fn(lib).binary_cross_entropy(p, t), [P, T]),
    "bce weighted sum": (lambda lib, p, t: _fn(lib).binary_cross_entropy(p, t, lib.tensor(P[0]), reduction="sum"),
                         [P, T]),
    "bce at 0 and 1": (lambda lib, p, t: _fn(lib).binary_cross_entropy(p, t, reduction="none"),
                       [np.array([0.0, 1.0, 0.0], np.float32), np.array([1.0, 0.0, 0.0], np.float32)]),
    "ce probs": (lambda lib, z, q: _fn(lib).cross_entropy(z, q), [Z, Q]),
    "ce probs none smoothed": (lambda lib, z, q: _fn(lib).cross_entropy(z, q, reduction="none",
                                                                         label_smoothing=0.1), [Z, Q]),
    "ce probs f64 target": (lambda lib, z, q: _fn(lib).cross_entropy(z, q), [Z, Q.astype(np.float64)]),
    "ce probs weighted": (lambda lib, z, q: _fn(lib).cross_entropy(z, q, lib.tensor(np.arange(1.0, 6.0, dtype=np.float32))),
                          [Z, Q]),
    "ce weight positional": (lambda lib, z: _fn(lib).cross_entropy(z, lib.tensor(Y), lib.tensor([1.0, 2, 3, 4, 5])),
                             [Z[:, :, 0]]),
    "ce weight smoothed": (lambda lib, z: _fn(lib).cross_entropy(z, lib.tensor(Y), weight=lib.tensor([1.0, 2, 3, 4, 5]),
                                                                 label_smoothing=0.1), [Z[:, :, 0]]),
    "ce weight sum": (lambda lib, z: _fn(lib).cross_entropy(z, lib.tensor(Y), weight=lib.tensor([1.0, 2, 3, 4, 5]),
                                                            reduction="sum"), [Z[:, :, 0]]),
    "pad": (lambda lib, x: _fn(lib).pad(x, (1, -1, 2, 0), value=5.0), [Z]),
    "pad int": (lambda lib, x: _fn(lib).pad(x, (2, 1)), [np.arange(6).reshape(2, 3)]),
    "normalize": (lambda lib, x: _fn(lib).normalize(x, dim=1), [Z]),
    "normalize last": (lambda lib, x: _fn(lib).normalize(x, dim=-1), [Z]),
    "one_hot": (lambda lib, x: _fn(lib).one_hot(x, 6), [np.array([[0, 5], [2, 2]])]),
    "bce with logits weight": (lambda lib, z, t: _fn(lib).binary_cross_entropy_with_logits(z, t, lib.tensor(P[1])),
                               [Z[:, :, 0], T]),
}


@needs_torch
@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_matches_torch(name):
    fn, arrays = TORCH_CASES[name]
    _both(fn, *arrays)


MODULES = {
    "Sigmoid": lambda lib: lib.nn.Sigmoid(),
    "SiLU": lambda lib: lib.nn.SiLU(),
    "LeakyReLU": lambda lib: lib.nn.LeakyReLU(0.1),
    "Softmax": lambda lib: lib.nn.Softmax(dim=1),
    "LogSoftmax": lambda lib: lib.nn.LogSoftmax(dim=-1),
    "Flatten": lambda lib: lib.nn.Flatten(),
    "Flatten(0, 1)": lambda lib: lib.nn.Flatten(0, 1),
    "Unflatten": lambda lib: lib.nn.Unflatten(1, (5, 1)),
}


MODULES["ReLU(inplace) after an op"] = lambda lib: lambda x: lib.nn.ReLU(inplace=True)(x * 2)


@needs_torch
def test_inplace_relu_over_a_saved_output_fails_at_backward_in_both():
    for lib in (ms, torch):
        x = lib.tensor(Z, requires_grad=True)
        y = lib.nn.Sequential(lib.nn.Tanh(), lib.nn.ReLU(inplace=True))(x)  # tanh keeps its output for backward
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


@needs_torch
@pytest.mark.parametrize("name", list(MODULES))
def test_modules_match_torch(name):
    _both(lambda lib, x: MODULES[name](lib)(x), Z)


@needs_torch
def test_loss_modules_match_torch():
    w = np.arange(1.0, 6.0, dtype=np.float32)
    _both(lambda lib, z: lib.nn.CrossEntropyLoss(weight=lib.tensor(w), label_smoothing=0.05)(z, lib.tensor(Y)),
          Z[:, :, 0])
    _both(lambda lib, z, q: lib.nn.CrossEntropyLoss()(z, q), Z, Q)
    _both(lambda lib, p, t: lib.nn.BCELoss(reduction="sum")(p, t), P, T)
    _both(lambda lib, z, t: lib.nn.BCEWithLogitsLoss()(z, t), P, T)
    _both(lambda lib, a, b: lib.nn.MSELoss()(a, b), P, T)


@needs_torch
@pytest.mark.parametrize("call", [
    lambda lib, F: F.pad(lib.ones(2, 3), (1,)),
    lambda lib, F: F.pad(lib.ones(2, 3), (1, 1, 1, 1, 1, 1)),
    lambda lib, F: F.cross_entropy(lib.ones(3, 4), lib.ones(3, 4), ignore_index=1),
    lambda lib, F: F.cross_entropy(lib.ones(3, 4), lib.tensor([0, 1, 2]), weight=lib.ones(3)),
    lambda lib, F: F.cross_entropy(lib.ones(3, 4), lib.tensor([0, 1, 2]), label_smoothing=1.5),
    lambda lib, F: F.binary_cross_entropy(lib.tensor([1.5]), lib.tensor([1.0])),
])
def test_errors_match_torch(call):
    with pytest.raises(Exception) as theirs:
        call(torch, TF)
    with pytest.raises(Exception) as ours:
        call(ms, F)
    # same exception type as torch (so `except RuntimeError` behaves the same), one sentence of ours
    assert type(ours.value) is type(theirs.value) and "\n" not in str(ours.value) and str(ours.value)


def test_inplace_activation_writes_into_its_input():
    x = ms.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 2.0]
    y = ms.tensor([-1.0, 2.0])
    assert F.leaky_relu(y, 0.5, inplace=True) is y and y.tolist() == [-0.5, 2.0]
    leaf = ms.tensor([-1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        nn.ReLU(inplace=True)(leaf)


def test_softmax_module_without_dim_says_to_pass_one():
    with pytest.raises(TypeError, match="dim="):
        nn.Softmax()(ms.ones(2, 3))


def test_deprecated_reduction_spellings_are_refused():
    with pytest.raises(TypeError, match="reduction="):
        F.mse_loss(ms.ones(2), ms.ones(2), size_average=False)
