"""Views, indexing and joins: NumPy forward, float64 gradcheck (indexing with
repeated integer indices must add the gradient up, not overwrite it)."""
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, basic_indices

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import broadcastable, check_op, nonscalar_shapes, seeds, values  # noqa: E402

import minissl as ms  # noqa: E402

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

small = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3)


@given(shape=small, seed=seeds, data=st.data())
def test_reshape_and_view(shape, seed, data):
    n = int(np.prod(shape))
    new = data.draw(st.sampled_from([(n,), (1, n), (n, 1), tuple(reversed(shape))]))
    spell = data.draw(st.sampled_from(["tuple", "args", "view", "minus1"]))
    if spell == "tuple":
        op = lambda t: t.reshape(new)  # noqa: E731
    elif spell == "args":
        op = lambda t: t.reshape(*new)  # noqa: E731
    elif spell == "view":
        op = lambda t: t.view(new)  # noqa: E731
    else:
        op = lambda t: t.reshape(-1, *new[1:])  # noqa: E731
    check_op(op, lambda a: a.reshape(new), [values(shape, seed)])


@given(shape=small, seed=seeds, data=st.data())
def test_permute_and_transpose(shape, seed, data):
    nd = len(shape)
    perm = data.draw(st.permutations(range(nd)))
    check_op(lambda t: t.permute(*perm), lambda a: a.transpose(perm), [values(shape, seed)])
    i, j = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    check_op(lambda t: t.transpose(i, j), lambda a: np.swapaxes(a, i, j), [values(shape, seed)])


@given(shape=small, seed=seeds, data=st.data())
def test_unsqueeze_squeeze(shape, seed, data):
    nd = len(shape)
    d = data.draw(st.integers(-nd - 1, nd))
    check_op(lambda t: t.unsqueeze(d), lambda a: np.expand_dims(a, d), [values(shape, seed)])
    check_op(lambda t: t.squeeze(), lambda a: np.squeeze(a), [values(shape, seed)])
    s = data.draw(st.integers(-nd, nd - 1))
    ref = (lambda a: np.squeeze(a, s)) if shape[s] == 1 else (lambda a: a)
    check_op(lambda t: t.squeeze(s), ref, [values(shape, seed)])


@given(shape=small, seed=seeds, data=st.data())
def test_basic_indexing(shape, seed, data):
    idx = data.draw(basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    check_op(lambda t: t[idx], lambda a: a[idx], [values(shape, seed)])


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_integer_array_indexing_with_repeats(shape, seed, data):
    n0 = shape[0]
    # lists with repeated (and negative) ids: each repeat must add its gradient
    ids = data.draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=5))
    check_op(lambda t: t[ids], lambda a: a[ids], [values(shape, seed)])
    arr = ms.tensor(np.array(ids))
    check_op(lambda t: t[arr], lambda a: a[np.array(ids)], [values(shape, seed)])
    if len(shape) >= 2:  # mixed: integer arrays in two dims broadcast together
        j = data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=len(ids), max_size=len(ids)))
        check_op(lambda t: t[ids, j], lambda a: a[ids, j], [values(shape, seed)])
        check_op(lambda t: t[:, j], lambda a: a[:, j], [values(shape, seed)])


def test_repeated_index_gradient_counts_repeats():
    x = ms.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [3, 0, 1])


def test_boolean_mask_indexing():
    a = values((3, 4), 0)
    mask = a > 0
    check_op(lambda t: t[mask], lambda x: x[mask], [a])


@given(shape=nonscalar_shapes, n=st.integers(1, 3), seed=seeds, data=st.data())
def test_cat_stack(shape, n, seed, data):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    arrays = [values(shape[:d % nd] + (k,) + shape[d % nd + 1:], seed + i) for i, k in enumerate(sizes)]
    check_op(lambda *ts: ms.cat(list(ts), dim=d), lambda *a: np.concatenate(a, axis=d), arrays)
    sd = data.draw(st.integers(-nd - 1, nd))
    same = [values(shape, seed + i) for i in range(n)]
    check_op(lambda *ts: ms.stack(ts, dim=sd), lambda *a: np.stack(a, axis=sd), same)


@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_split(shape, seed, data):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    n = shape[d]
    size = data.draw(st.integers(1, n))
    bounds = list(range(size, n, size))
    # each chunk weighted differently so a mix-up of chunks shows in the gradient
    op = lambda t: ms.cat([c * (i + 1) for i, c in enumerate(t.split(size, dim=d))], dim=d)  # noqa: E731
    ref = lambda a: np.concatenate([c * (i + 1) for i, c in enumerate(np.split(a, bounds, axis=d))], axis=d)  # noqa: E731
    check_op(op, ref, [values(shape, seed)])
    parts = ms.split(ms.tensor(values(shape, seed)), [n - 1, 1] if n > 1 else [1], dim=d)
    assert sum(p.shape[d] for p in parts) == n


def test_split_bad_sizes():
    with pytest.raises(ValueError, match="add up to 4, but dimension 0 has 5"):
        ms.randn(5, 2).split([2, 2])


@given(sh=broadcastable(3), seed=seeds)
def test_where(sh, seed):
    (sc, sa, sb), _ = sh
    cond = values(sc, seed) > 0
    check_op(lambda a, b: ms.where(cond, a, b), lambda a, b: np.where(cond, a, b),
             [values(sa, seed + 1), values(sb, seed + 2)])
    check_op(lambda a, b: ms.where(ms.tensor(cond), a, b), lambda a, b: np.where(cond, a, b),
             [values(sa, seed + 1), values(sb, seed + 2)])


@given(sh=broadcastable(2), seed=seeds, value=st.sampled_from([0.0, -1e9, 2.5]))
def test_masked_fill(sh, seed, value):
    (sx, sm), out = sh
    if out != sx:
        return  # the mask broadcasts to the input, not the other way round
    mask = values(sm, seed) > 0
    check_op(lambda t: t.masked_fill(mask, value), lambda a: np.where(mask, value, a), [values(sx, seed + 1)])


def test_masked_fill_needs_bool_mask():
    with pytest.raises(TypeError, match="must be a bool tensor"):
        ms.randn(2).masked_fill(ms.tensor([1, 0]), 0.0)


def test_expand():
    check_op(lambda t: t.expand(2, -1, 3), lambda a: np.broadcast_to(a, (2, 4, 3)), [values((4, 1), 0)])


def test_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        ms.randn(2, 3).reshape(4)
    with pytest.raises(ValueError, match="not a permutation"):
        ms.randn(2, 3).permute(0, 0)
    with pytest.raises(IndexError, match="out of range"):
        ms.randn(2, 3).transpose(0, 2)
