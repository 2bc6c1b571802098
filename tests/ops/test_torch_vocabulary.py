"""Gradients of the PyTorch vocabulary added for real programs: clamp, maximum/minimum, gather,
max(dim), sort/topk values, index assignment, roll, tril/triu, repeat, clone, std.

Each is checked as every op is (tests/strategies.check_op): NumPy forward, float64
central differences, no mutation, fresh gradients.
"""
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import check_op, seeds, values  # noqa: E402

import minissl as ms  # noqa: E402

small = st.tuples(st.integers(1, 4), st.integers(2, 5))


@settings(max_examples=15, deadline=None)
@given(shape=small, seed=seeds)
def test_clamp(shape, seed):
    x = values(shape, seed, margin=0.05)  # away from the kinks at -0.5 and 0.5
    x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, x + 0.1, x)
    check_op(lambda t: t.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), [x])


@settings(max_examples=15, deadline=None)
@given(shape=small, seed=seeds)
def test_maximum_minimum(shape, seed):
    a, b = values(shape, seed), values(shape, seed + 1)
    b = np.where(np.abs(a - b) < 1e-3, b + 0.01, b)
    check_op(lambda s, t: ms.maximum(s, t), np.maximum, [a, b])
    check_op(lambda s, t: ms.minimum(s, t), np.minimum, [a, b])


@settings(max_examples=15, deadline=None)
@given(shape=small, seed=seeds, dim=st.sampled_from([0, 1, -1]))
def test_max_dim_values_and_sort_values(shape, seed, dim):
    x = values(shape, seed, distinct=True)
    check_op(lambda t: t.max(dim).values, lambda a: a.max(dim), [x])
    check_op(lambda t: t.min(dim, keepdim=True).values, lambda a: a.min(dim, keepdims=True), [x])
    check_op(lambda t: t.sort(dim, descending=True).values, lambda a: -np.sort(-a, axis=dim), [x])
    k = min(2, shape[dim])
    check_op(lambda t: t.topk(k, dim).values, lambda a: np.take(-np.sort(-a, axis=dim), range(k), axis=dim), [x])


@settings(max_examples=15, deadline=None)
@given(shape=small, seed=seeds)
def test_gather(shape, seed):
    x = values(shape, seed)
    idx = np.random.default_rng(seed).integers(0, shape[1], size=(shape[0], 3))
    check_op(lambda t: ms.gather(t, 1, ms.tensor(idx)), lambda a: np.take_along_axis(a, idx, 1), [x])


@settings(max_examples=15, deadline=None)
@given(shape=small, seed=seeds)
def test_index_assignment(shape, seed):
    a, v = values(shape, seed), values((shape[1],), seed + 1)

    def f(s, u):
        y = s * 1
        y[0] = u * 2
        return y

    def ref(s, u):
        y = s.copy()
        y[0] = u * 2
        return y
    check_op(f, ref, [a, v])


@settings(max_examples=15, deadline=None)
@given(shape=small, seed=seeds, shift=st.integers(-3, 3))
def test_roll_tril_triu_repeat_clone_std(shape, seed, shift):
    x = values(shape, seed)
    check_op(lambda t: ms.roll(t, shift, 1), lambda a: np.roll(a, shift, 1), [x])
    check_op(lambda t: ms.tril(t, 1), lambda a: np.tril(a, 1), [x])
    check_op(lambda t: ms.triu(t), np.triu, [x])
    check_op(lambda t: t.repeat(2, 3), lambda a: np.tile(a, (2, 3)), [x])
    check_op(lambda t: t.clone(), lambda a: a.copy(), [x])
    if shape[1] > 1:
        check_op(lambda t: t.std(1), lambda a: a.std(1, ddof=1), [x])


def test_max_dim_gradient_goes_to_the_picked_element():
    # torch.max(x, dim): all of the gradient to the index it returns (amax splits ties instead)
    x = ms.tensor([[3.0, 3.0, 1.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 0]])


def test_integer_ops_without_gradient_refuse_inputs_that_need_one():
    x = ms.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient"):
        x // 2
