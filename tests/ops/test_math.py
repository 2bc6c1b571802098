"""Element-wise math and matrix products: forward vs NumPy, float64 gradcheck,
no input mutation, gradient shape/dtype (see ``strategies.check_op``)."""
import math
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import broadcastable, check_op, seeds, shapes, values  # noqa: E402

import minissl as ms  # noqa: E402
import minissl.nn.functional as F  # noqa: E402

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

BINARY = {
    "add": (lambda a, b: a + b, np.add, {}),
    "sub": (lambda a, b: a - b, np.subtract, {}),
    "mul": (lambda a, b: a * b, np.multiply, {}),
    "div": (lambda a, b: a / b, np.divide, {"b_margin": 0.5}),
    "pow": (lambda a, b: a ** b, np.power, {"a_low": 0.5}),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(sh=broadcastable(2), seed=seeds, which=st.sampled_from(["both", "a", "b"]))
def test_binary_broadcast(name, sh, seed, which):
    op, ref, opt = BINARY[name]
    (sa, sb), _ = sh
    a = values(sa, seed)
    b = values(sb, seed + 1, margin=opt.get("b_margin", 0.0))
    if "a_low" in opt:  # a ** b needs a > 0 (log a in the exponent's gradient)
        a = np.abs(a) + opt["a_low"]
    check_op(op, ref, [a, b], grad=[which != "b", which != "a"])


@pytest.mark.parametrize("scalar", [2, 0.5, -1.5])
@given(shape=shapes, seed=seeds)
def test_binary_with_python_scalar(scalar, shape, seed):
    a = values(shape, seed, margin=0.5)
    check_op(lambda t: t * scalar + scalar, lambda x: x * scalar + scalar, [a])
    check_op(lambda t: scalar - t / scalar, lambda x: scalar - x / scalar, [a])
    check_op(lambda t: scalar / t, lambda x: scalar / x, [a])
    check_op(lambda t: abs(t) ** scalar, lambda x: np.abs(x) ** scalar, [a])


UNARY = {
    "neg": (lambda t: -t, np.negative, {}),
    "exp": (ms.exp, np.exp, {}),
    "log": (ms.log, np.log, {"positive": True}),
    "sqrt": (ms.sqrt, np.sqrt, {"positive": True}),
    "abs": (ms.abs, np.abs, {"margin": 0.1}),
    "tanh": (ms.tanh, np.tanh, {}),
    "sigmoid": (ms.sigmoid, lambda x: 1 / (1 + np.exp(-x)), {}),
    "relu": (ms.relu, lambda x: np.maximum(x, 0), {"margin": 0.1}),
    "gelu": (F.gelu, lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))), {}),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), {}),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    op, ref, opt = UNARY[name]
    x = values(shape, seed, margin=opt.get("margin", 0.0), low=-3, high=3)
    if opt.get("positive"):
        x = np.abs(x) + 0.2
    check_op(op, ref, [x])


def test_unary_methods_match_functions():
    x = ms.tensor([0.3, -1.2, 2.0])
    for name in ["exp", "tanh", "sigmoid", "relu", "abs"]:
        np.testing.assert_array_equal(getattr(x, name)().numpy(), getattr(ms, name)(x).numpy())
    np.testing.assert_allclose(x.abs().sqrt().numpy(), np.sqrt(np.abs([0.3, -1.2, 2.0])), rtol=1e-6)


def test_sigmoid_and_gelu_extremes_are_finite():
    x = ms.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    y = ms.sigmoid(x)
    np.testing.assert_allclose(y.numpy(), [0, 1.9287498e-22, 0.5, 1, 1], rtol=1e-6, atol=0)
    y.sum().backward()
    assert np.isfinite(npy(x.grad)).all() and npy(x.grad)[0] == 0 and npy(x.grad)[2] == 0.25
    for approx in ("none", "tanh"):
        x2 = ms.tensor([-1e4, -10.0, 10.0, 1e4], requires_grad=True)
        F.gelu(x2, approximate=approx).sum().backward()
        np.testing.assert_allclose(npy(x2.grad), [0, 0, 1, 1], atol=1e-6)


def test_gelu_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        F.gelu(ms.tensor([1.0]), approximate="fast")


@st.composite
def matmul_shapes(draw):
    """Shapes for a @ b: 1-D or batched with broadcast batch dims."""
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    (ba, bb), _ = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=2))
    a = (k,) if draw(st.integers(0, 4)) == 0 else ba + (m, k)
    b = (k,) if draw(st.integers(0, 4)) == 0 else bb + (k, n)
    return a, b


@given(sh=matmul_shapes(), seed=seeds, which=st.sampled_from(["both", "a", "b"]))
def test_matmul_batched_broadcast(sh, seed, which):
    sa, sb = sh
    check_op(lambda a, b: a @ b, np.matmul, [values(sa, seed), values(sb, seed + 1)],
             grad=[which != "b", which != "a"])


@given(lead=st.lists(st.integers(1, 3), max_size=2), fin=st.integers(1, 3), fout=st.integers(1, 3),
       bias=st.booleans(), seed=seeds)
def test_linear(lead, fin, fout, bias, seed):
    x, w, b = values(tuple(lead) + (fin,), seed), values((fout, fin), seed + 1), values((fout,), seed + 2)
    if bias:
        check_op(F.linear, lambda x, w, b: x @ w.T + b, [x, w, b])
    else:
        check_op(F.linear, lambda x, w: x @ w.T, [x, w])


def test_cast_backward_returns_source_dtype():
    x = ms.tensor(np.array([1.5, -2.0], dtype=np.float64), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert npy(x.grad).dtype == np.float64 and npy(x.grad).tolist() == [2.0, 2.0]


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        ms.randn(2, 3) @ ms.randn(4, 5)
    with pytest.raises(ValueError, match="at least one dimension"):
        ms.matmul(ms.tensor(2.0), ms.randn(3))


def test_linear_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 7\)"):
        F.linear(ms.randn(4, 3), ms.randn(5, 7))
