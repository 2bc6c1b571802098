"""sum / mean / amax / var over drawn dims with keepdim: NumPy forward, float64 gradcheck."""
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import check_op, seeds, shape_and_dims, values  # noqa: E402

import minissl as ms  # noqa: E402

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def _np_axes(dim):
    return dim  # NumPy takes None, an int or a tuple, negative axes included


@pytest.mark.parametrize("name", ["sum", "mean", "amax"])
@given(sdk=shape_and_dims(), seed=seeds, method=st.booleans())
def test_reduction(name, sdk, seed, method):
    shape, dim, keepdim = sdk
    x = values(shape, seed, distinct=(name == "amax"))  # amax: no ties, so the gradient is unique
    ref = {"sum": np.sum, "mean": np.mean, "amax": np.max}[name]
    if method:
        op = lambda t: getattr(t, name)(dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        op = lambda t: getattr(ms, name)(t, dim, keepdim)  # noqa: E731
    out = check_op(op, lambda a: ref(a, axis=_np_axes(dim), keepdims=keepdim), [x])
    assert out.shape == np.asarray(ref(x, axis=dim, keepdims=keepdim)).shape


@given(sdk=shape_and_dims(), seed=seeds, correction=st.sampled_from([0, 1]))
def test_var(sdk, seed, correction):
    shape, dim, keepdim = sdk
    n = int(np.prod([shape[d] for d in (range(len(shape)) if dim is None else np.atleast_1d(dim))]))
    if n - correction <= 0:
        return  # var of a single value with n-1: undefined (PyTorch returns nan)
    x = values(shape, seed)
    check_op(lambda t: t.var(dim=dim, keepdim=keepdim, correction=correction),
             lambda a: np.var(a, axis=dim, keepdims=keepdim, ddof=correction), [x])


def test_var_unbiased_flag_matches_correction():
    x = ms.tensor([1.0, 2.0, 4.0])
    assert ms.var(x, unbiased=False).item() == pytest.approx(np.var([1, 2, 4]))
    assert ms.var(x).item() == pytest.approx(np.var([1, 2, 4], ddof=1))


def test_max_ties_split_the_gradient_evenly():
    # torch.amax: the gradient is shared equally between tied maxima
    x = ms.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.amax(dim=1).sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [[0, 0.5, 0.5], [1, 0, 0]])


def test_reduction_dim_out_of_range():
    with pytest.raises(IndexError, match="dimension 2 is out of range"):
        ms.randn(2, 3).sum(dim=2)
    with pytest.raises(TypeError, match="floating-point"):
        ms.arange(4).mean()


def test_sum_keeps_float32():
    x = ms.randn(3, 4, requires_grad=True)
    y = x.sum() * 2.0
    assert y.dtype == np.float32
    y.backward()
    assert npy(x.grad).dtype == np.float32
