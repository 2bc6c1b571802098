"""Fused scaled dot-product attention: NumPy reference, float64 gradcheck,
masks (bool / additive / causal), fully masked rows and dropout."""
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import check_op, seeds, values  # noqa: E402

import minissl as ms  # noqa: E402
import minissl.nn.functional as F  # noqa: E402

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def np_attention(q, k, v, mask=None, causal=False, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    allowed = np.ones(s.shape, bool)
    if mask is not None and mask.dtype == bool:
        allowed = allowed & mask
    elif mask is not None:
        s = s + mask
    if causal:
        allowed = allowed & np.tril(np.ones(s.shape[-2:], bool))
    s = np.where(allowed, s, -np.inf)
    rows = allowed.any(-1)  # a query with nothing to attend to gets zero weights
    e = np.exp(s - np.where(rows[..., None], s, 0).max(-1, keepdims=True), where=allowed, out=np.zeros(s.shape))
    p = np.where(rows[..., None], e / np.where(rows, e.sum(-1), 1)[..., None], 0.0)
    return p @ v


@given(b=st.integers(1, 2), lq=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 3), dv=st.integers(1, 2),
       kind=st.sampled_from(["none", "bool", "float", "causal"]), seed=seeds,
       which=st.sampled_from(["q", "k", "v", "all"]))
def test_attention(b, lq, s, d, dv, kind, seed, which):
    q, k, v = values((b, lq, d), seed), values((b, s, d), seed + 1), values((b, s, dv), seed + 2)
    mask = None
    if kind == "bool":
        mask = np.random.default_rng(seed).random((lq, s)) > 0.3  # rows may be fully masked
    elif kind == "float":
        mask = values((b, 1, s), seed + 3)  # additive, broadcast over queries
    causal = kind == "causal"
    grad = [which in ("q", "all"), which in ("k", "all"), which in ("v", "all")]
    check_op(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal),
             lambda q, k, v: np_attention(q, k, v, mask, causal), [q, k, v], grad=grad)


def test_fully_masked_row_gives_zeros_not_nan():
    q, k, v = (ms.randn(1, 3, 4, requires_grad=True) for _ in range(3))
    mask = ms.tensor(np.array([[True, True, False], [False, False, False], [True, False, True]]))
    out, w = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, need_weights=True)
    assert np.isfinite(out.numpy()).all() and (out.numpy()[0, 1] == 0).all()
    np.testing.assert_array_equal(w.numpy()[0, 1], 0)
    np.testing.assert_allclose(w.numpy()[0].sum(-1), [1, 0, 1], rtol=1e-6)
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(npy(t.grad)).all()
    assert (npy(q.grad)[0, 1] == 0).all()  # the masked query influenced nothing


def test_attention_dropout_is_consistent_between_forward_and_backward():
    q, k, v = values((2, 3, 2), 0), values((2, 3, 2), 1), values((2, 3, 2), 2)

    def op(q, k, v):
        ms.manual_seed(3)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    ms.gradcheck(op, [ms.tensor(a, requires_grad=True) for a in (q, k, v)])


def test_attention_shape_error():
    with pytest.raises(ValueError, match="do not fit"):
        F.scaled_dot_product_attention(ms.randn(1, 2, 3), ms.randn(1, 2, 4), ms.randn(1, 2, 4))
