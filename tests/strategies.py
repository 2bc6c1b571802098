"""Shared test helpers: Hypothesis strategies for shapes/axes and the one op check.

Imported by test files with ``sys.path`` pointing at ``tests/`` (pytest runs in
importlib mode, so tests are not a package)::

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from strategies import check_op, shapes, values

Values come from a drawn seed rather than element-by-element strategies: the
gradient check costs O(n) forward passes, so what Hypothesis should explore is
the *structure* (shapes, broadcasting, axes, flags); the numbers just have to
be generic and kept away from kinks and ties.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minissl as ms
from minissl import backend

# Small shapes: gradcheck does 2 forward passes per input element.
shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def shares_memory(a, b):
    """Do two backend arrays overlap? NumPy's exact answer; on a GPU, whether their byte ranges overlap.

    CuPy's ``shares_memory`` answered True for two separately allocated 0-d arrays
    (CuPy 14.2 on an H100), so on the GPU the device addresses decide."""
    data = getattr(a, "data", None)
    if not (backend.on_gpu and hasattr(data, "ptr")):
        return bool(ms.xp.shares_memory(a, b))

    def span(x):  # [first byte, one past the last byte] that x's elements touch
        lo = sum(min(0, (n - 1) * s) for n, s in zip(x.shape, x.strides))
        hi = sum(max(0, (n - 1) * s) for n, s in zip(x.shape, x.strides)) + x.itemsize
        return x.data.ptr + lo, x.data.ptr + hi
    if a.size == 0 or b.size == 0:
        return False
    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 < b1 and b0 < a1


def broadcastable(num_shapes=2, max_dims=3, max_side=3):
    """``num_shapes`` input shapes that broadcast together (Hypothesis's own generator)."""
    return mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=0, max_dims=max_dims, max_side=max_side)


@st.composite
def shape_and_dims(draw, min_dims=1, max_dims=3, max_side=4, allow_none=True):
    """(shape, dim, keepdim) with ``dim`` None, one axis (maybe negative) or a tuple of axes."""
    shape = draw(array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side))
    n = len(shape)
    kinds = ["int", "tuple"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-n, n - 1))
    else:
        axes = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        dim = tuple(a - n if draw(st.booleans()) else a for a in axes)  # mix negative spellings
    return shape, dim, draw(st.booleans())


def values(shape, seed, low=-2.0, high=2.0, margin=0.0, distinct=False):
    """float64 NumPy values of ``shape`` from ``seed``.

    ``margin`` keeps every value at least that far from 0 (kinks of relu/abs);
    ``distinct`` makes all values differ by at least 0.05 (no ties for max).
    """
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    if distinct:
        x = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(0.0, 0.05, n)
        x = x + np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, 0.0)
        return x.reshape(shape)
    x = rng.uniform(low, high, n)
    if margin:
        x = np.sign(x + 1e-300) * (margin + np.abs(x))
    return x.reshape(shape)


def to_numpy(a):
    return backend.to_numpy(a.array if isinstance(a, ms.Tensor) else a)


def check_op(fn, ref, arrays, grad=None, rtol=1e-10, atol=1e-12, grad_atol=1e-6, grad_rtol=1e-5):
    """The property every differentiable op must have, in float64.

    * forward equals the NumPy reference ``ref(*arrays)``;
    * the analytic backward (random upstream gradient) equals central
      differences (``ms.gradcheck``);
    * the inputs are not mutated by forward, backward or the check;
    * each gradient has its input's shape and dtype, is writable and shares
      memory with no other gradient.

    ``grad`` says which inputs require grad (default: every float array).
    """
    arrays = [np.asarray(a) for a in arrays]
    grad = [a.dtype.kind == "f" for a in arrays] if grad is None else grad
    originals = [a.copy() for a in arrays]
    ts = [ms.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    out = fn(*ts)
    expected = ref(*arrays)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=rtol, atol=atol, err_msg="forward != NumPy reference")
    assert out.dtype == np.asarray(expected).dtype or np.asarray(expected).dtype == np.float64
    if any(grad):
        ms.gradcheck(fn, ts, atol=grad_atol, rtol=grad_rtol)
        grads = [t.grad.array for t, g in zip(ts, grad) if g]
        for t, g in zip(ts, grad):
            if g:
                assert t.grad is not None, "an input that requires grad got no gradient"
                assert t.grad.shape == t.array.shape and t.grad.dtype == t.array.dtype
                if not backend.on_gpu:
                    assert t.grad.array.flags.writeable
        for i in range(len(grads)):
            for j in range(i + 1, len(grads)):
                assert not shares_memory(grads[i], grads[j]), "two gradients share memory"
    for t, a, o in zip(ts, arrays, originals):
        np.testing.assert_array_equal(a, o, err_msg="the op mutated its NumPy input")
        np.testing.assert_array_equal(to_numpy(t), o, err_msg="the op mutated its tensor input")
    return out
