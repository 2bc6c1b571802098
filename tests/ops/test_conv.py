"""Convolutions, pooling and resampling (minissl/ops/conv.py) and BatchNorm2d.

Forward against NumPy written out from the definitions (loops over kernel
offsets or output positions: no strided views, no im2col), float64 gradcheck
over shapes, strides, paddings, dilations and groups; then forward and
gradients against PyTorch in float32, BatchNorm2d's running statistics, state
dicts moved between the two, and bad input refused in one sentence."""
import math
import pathlib
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from strategies import check_op, seeds, values  # noqa: E402

import minissl as ms  # noqa: E402
import minissl.nn as nn  # noqa: E402
import minissl.nn.functional as F  # noqa: E402

npy = ms.backend.to_numpy

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = TF = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


# ---------------------------------------------------------------- NumPy references from the definitions
def np_conv2d(x, w, b=None, s=(1, 1), p=(0, 0), d=(1, 1), g=1):
    """y[n, o, a, b] = Σ_{c,i,j} w[o, c, i, j] x_pad[n, group(o)·Cg + c, a·s + i·d, b·s + j·d] + b[o]."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp_ = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    ho = (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    wo = (wd + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    y = np.zeros((n, o, ho, wo))
    og = o // g
    for grp in range(g):
        for i in range(kh):
            for j in range(kw):
                patch = xp_[:, grp * cg:(grp + 1) * cg, i * d[0]:i * d[0] + s[0] * (ho - 1) + 1:s[0],
                            j * d[1]:j * d[1] + s[1] * (wo - 1) + 1:s[1]]
                y[:, grp * og:(grp + 1) * og] += np.einsum("ncab,oc->noab", patch, w[grp * og:(grp + 1) * og, :, i, j])
    return y if b is None else y + b[None, :, None, None]


def np_conv_transpose2d(x, w, b=None, s=(1, 1), p=(0, 0), op=(0, 0), d=(1, 1), g=1):
    """Each input pixel scatters w[c, o, i, j]·x[n, c, a, b] to y_pad[n, o, a·s + i·d, b·s + j·d]; crop p."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    ho = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    wo = (wd - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    y = np.zeros((n, og * g, ho + 2 * p[0], wo + 2 * p[1]))
    cg = c // g
    for grp in range(g):
        for a in range(h):
            for bb in range(wd):
                for i in range(kh):
                    for j in range(kw):
                        y[:, grp * og:(grp + 1) * og, a * s[0] + i * d[0], bb * s[1] + j * d[1]] += \
                            x[:, grp * cg:(grp + 1) * cg, a, bb] @ w[grp * cg:(grp + 1) * cg, :, i, j]
    y = y[:, :, p[0]:p[0] + ho, p[1]:p[1] + wo]
    return y if b is None else y + b[None, :, None, None]


def _pool_size(size, k, s, p, d, ceil):
    o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    return o - 1 if ceil and (o - 1) * s >= size + p else o


def np_max_pool2d(x, k, s, p, d, ceil):
    n, c, h, w = x.shape
    ho, wo = _pool_size(h, k[0], s[0], p[0], d[0], ceil), _pool_size(w, k[1], s[1], p[1], d[1], ceil)
    y = np.full((n, c, ho, wo), -np.inf)
    for a in range(ho):
        for b in range(wo):
            for i in range(k[0]):
                for j in range(k[1]):
                    r, q = a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1]
                    if 0 <= r < h and 0 <= q < w:
                        y[:, :, a, b] = np.maximum(y[:, :, a, b], x[:, :, r, q])
    return y


def np_avg_pool2d(x, k, s, p, ceil, include_pad):
    """PyTorch's divisor: window clipped to the padded input (include_pad) or to the input."""
    n, c, h, w = x.shape
    ho, wo = _pool_size(h, k[0], s[0], p[0], 1, ceil), _pool_size(w, k[1], s[1], p[1], 1, ceil)
    y = np.zeros((n, c, ho, wo))
    for a in range(ho):
        for b in range(wo):
            h0, w0 = a * s[0] - p[0], b * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
            y[:, :, a, b] = total / (size if include_pad else (h1 - h0) * (w1 - w0))
    return y


def np_adaptive_avg(x, out):
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + out)
    for a in range(out[0]):
        for b in range(out[1]):
            h0, h1 = a * h // out[0], math.ceil((a + 1) * h / out[0])
            w0, w1 = b * w // out[1], math.ceil((b + 1) * w / out[1])
            y[:, :, a, b] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def np_nearest(x, out):
    idx = [np.minimum((np.arange(o) * np.float32(n) / np.float32(o)).astype(np.int64), n - 1)
           for n, o in zip(x.shape[2:], out)]
    return x[:, :, idx[0]][:, :, :, idx[1]]


# ---------------------------------------------------------------- gradchecks (float64)
pairs = st.tuples(st.integers(1, 2), st.integers(1, 2))


@st.composite
def conv_cases(draw, transposed=False):
    g = draw(st.integers(1, 2))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    s, d = draw(pairs), draw(pairs)
    p = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    if transposed:
        p = tuple(min(pi, di * (ki - 1)) for pi, di, ki in zip(p, d, k))  # keep the output non-empty
    # the smallest input with at least one output position, plus a little
    hw = tuple(max(1, di * (ki - 1) + 1 - 2 * pi) + draw(st.integers(0, 3)) for di, ki, pi in zip(d, k, p))
    if transposed:
        hw = tuple(min(n, 3) for n in hw)
    return dict(g=g, cin=cin, cout=cout, k=k, s=s, d=d, p=p, hw=hw, n=draw(st.integers(1, 2)),
                bias=draw(st.booleans()))


@given(c=conv_cases(), seed=seeds)
def test_conv2d_gradcheck(c, seed):
    x = values((c["n"], c["cin"]) + c["hw"], seed)
    w = values((c["cout"], c["cin"] // c["g"]) + c["k"], seed + 1)
    b = values((c["cout"],), seed + 2)
    kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"])
    ref = dict(s=c["s"], p=c["p"], d=c["d"], g=c["g"])
    if c["bias"]:
        check_op(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: np_conv2d(x, w, b, **ref), [x, w, b])
    else:
        check_op(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: np_conv2d(x, w, **ref), [x, w])


@pytest.mark.parametrize("chunk_bytes,n_chunks", [(1, 3), (12288, 2)], ids=["one image a chunk", "two images a chunk"])
def test_conv2d_over_chunks_of_images_matches_the_definition(monkeypatch, chunk_bytes, n_chunks):
    """Conv2d runs im2col and its GEMMs a few images at a time; chunk edges must not show: forward,
    dX, dW and db as the unchunked definition (three images, so the last chunk is a short one)."""
    from minissl.ops import conv
    monkeypatch.setattr(conv, "_CHUNK_BYTES", chunk_bytes)
    x, w, b = values((3, 4, 7, 6), 0), values((6, 2, 3, 2), 1), values((6,), 2)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    # X_col per image: 8 bytes × 4 channels × 3·2 offsets × 4·8 output positions = 6144 bytes
    assert len(conv._chunks(3, 8 * 4 * 3 * 2 * 4 * 8)) == n_chunks
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kw),
             lambda x, w, b: np_conv2d(x, w, b, s=(2, 1), p=(1, 2), d=(1, 2), g=2), [x, w, b])


@given(c=conv_cases(transposed=True), seed=seeds, data=st.data())
def test_conv_transpose2d_gradcheck(c, seed, data):
    op = tuple(data.draw(st.integers(0, max(si, di) - 1)) for si, di in zip(c["s"], c["d"]))
    x = values((c["n"], c["cin"]) + c["hw"], seed)
    w = values((c["cin"], c["cout"] // c["g"]) + c["k"], seed + 1)
    b = values((c["cout"],), seed + 2)
    kw = dict(stride=c["s"], padding=c["p"], output_padding=op, groups=c["g"], dilation=c["d"])
    ref = dict(s=c["s"], p=c["p"], op=op, d=c["d"], g=c["g"])
    if c["bias"]:
        check_op(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                 lambda x, w, b: np_conv_transpose2d(x, w, b, **ref), [x, w, b])
    else:
        check_op(lambda x, w: F.conv_transpose2d(x, w, **kw), lambda x, w: np_conv_transpose2d(x, w, **ref), [x, w])


@st.composite
def pool_cases(draw, dilation=True):
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    s = draw(pairs)
    d = draw(pairs) if dilation else (1, 1)
    p = tuple(draw(st.integers(0, (di * (ki - 1) + 1) // 2)) for ki, di in zip(k, d))
    hw = tuple(max(1, di * (ki - 1) + 1 - 2 * pi) + draw(st.integers(0, 3)) for di, ki, pi in zip(d, k, p))
    return dict(k=k, s=s, d=d, p=p, hw=hw, ceil=draw(st.booleans()), shape=(draw(st.integers(1, 2)), 2) + hw)


@given(c=pool_cases(), seed=seeds)
def test_max_pool2d_gradcheck(c, seed):
    x = values(c["shape"], seed, distinct=True)  # no ties: the argmax is unique, the max differentiable
    check_op(lambda t: F.max_pool2d(t, c["k"], c["s"], c["p"], c["d"], c["ceil"]),
             lambda a: np_max_pool2d(a, c["k"], c["s"], c["p"], c["d"], c["ceil"]), [x])


@given(c=pool_cases(dilation=False), seed=seeds, include=st.booleans())
def test_avg_pool2d_gradcheck(c, seed, include):
    x = values(c["shape"], seed)
    check_op(lambda t: F.avg_pool2d(t, c["k"], c["s"], c["p"], c["ceil"], include),
             lambda a: np_avg_pool2d(a, c["k"], c["s"], c["p"], c["ceil"], include), [x])


@given(hw=st.tuples(st.integers(1, 7), st.integers(1, 7)), out=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       seed=seeds)
def test_adaptive_avg_pool2d_gradcheck(hw, out, seed):
    x = values((2, 2) + hw, seed)
    check_op(lambda t: F.adaptive_avg_pool2d(t, out), lambda a: np_adaptive_avg(a, out), [x])


@given(hw=st.tuples(st.integers(1, 5), st.integers(1, 5)), out=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       seed=seeds)
def test_interpolate_nearest_gradcheck(hw, out, seed):
    x = values((2, 2) + hw, seed)
    check_op(lambda t: F.interpolate(t, size=out), lambda a: np_nearest(a, out), [x])


# ---------------------------------------------------------------- against PyTorch (float32)
def _vs_torch(fn, tfn, arrays, atol=1e-5, rtol=1e-4):
    """Same float32 inputs and upstream gradient: outputs and every input gradient agree; max |diff|."""
    ours = [ms.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    y, ty = fn(*ours), tfn(*theirs)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float32
    u = np.random.default_rng(5).standard_normal(y.shape).astype(np.float32)
    y.backward(ms.tensor(u))
    ty.backward(torch.tensor(u))
    worst = float(np.abs(npy(y.array) - ty.detach().numpy()).max())
    np.testing.assert_allclose(npy(y.array), ty.detach().numpy(), atol=atol, rtol=rtol)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(npy(a.grad.array), t.grad.numpy(), atol=atol, rtol=rtol)
        worst = max(worst, float(np.abs(npy(a.grad.array) - t.grad.numpy()).max()))
    return worst


R = np.random.default_rng(0)
CONV = [dict(), dict(stride=2, padding=1), dict(padding=(2, 0), dilation=(2, 1)), dict(groups=2, padding=1),
        dict(stride=(1, 2), padding="same"), dict(padding="same", dilation=2), dict(padding="valid", groups=4),
        dict(stride=3, padding=2, dilation=2, groups=2)]


@needs_torch
@pytest.mark.parametrize("kw", CONV, ids=str)
def test_conv2d_matches_torch(kw):
    if kw.get("padding") == "same" and kw.get("stride", 1) != 1:
        with pytest.raises(ValueError, match="same"):
            F.conv2d(ms.randn(1, 4, 5, 5), ms.randn(4, 4, 3, 3), **kw)
        return
    g = kw.get("groups", 1)
    x, w, b = R.standard_normal((3, 4, 11, 10)), R.standard_normal((6 if g != 4 else 8, 4 // g, 3, 4)), None
    b = R.standard_normal(w.shape[0])
    _vs_torch(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b])


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, output_padding=1), dict(groups=2, dilation=2),
                                dict(stride=(2, 3), padding=(0, 2), output_padding=(1, 2), dilation=(1, 2))], ids=str)
def test_conv_transpose2d_matches_torch(kw):
    g = kw.get("groups", 1)
    x, w, b = R.standard_normal((2, 4, 6, 7)), R.standard_normal((4, 6 // g, 3, 3)), R.standard_normal(6)
    _vs_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
              [x, w, b])


@needs_torch
@pytest.mark.parametrize("name,fn,tfn", [
    ("max2", lambda t: F.max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2)),
    ("max3s2p1", lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1)),
    ("max_ceil_dil", lambda t: F.max_pool2d(t, 2, 2, 1, 2, True), lambda t: TF.max_pool2d(t, 2, 2, 1, 2, True)),
    ("avg2", lambda t: F.avg_pool2d(t, 2), lambda t: TF.avg_pool2d(t, 2)),
    ("avg3s2p1_ceil", lambda t: F.avg_pool2d(t, 3, 2, 1, True), lambda t: TF.avg_pool2d(t, 3, 2, 1, True)),
    ("avg_nopad", lambda t: F.avg_pool2d(t, 3, 2, 1, True, False), lambda t: TF.avg_pool2d(t, 3, 2, 1, True, False)),
    ("avg_div", lambda t: F.avg_pool2d(t, 2, divisor_override=3), lambda t: TF.avg_pool2d(t, 2, divisor_override=3)),
    ("adaptive1", lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: TF.adaptive_avg_pool2d(t, 1)),
    ("adaptive_uneven", lambda t: F.adaptive_avg_pool2d(t, (3, None)), lambda t: TF.adaptive_avg_pool2d(t, (3, None))),
    ("nearest_x2", lambda t: F.interpolate(t, scale_factor=2), lambda t: TF.interpolate(t, scale_factor=2)),
    ("nearest_1.7", lambda t: F.interpolate(t, scale_factor=1.7), lambda t: TF.interpolate(t, scale_factor=1.7)),
    ("nearest_size", lambda t: F.interpolate(t, size=(5, 13)), lambda t: TF.interpolate(t, size=(5, 13))),
    ("nearest_down", lambda t: F.interpolate(t, size=4), lambda t: TF.interpolate(t, size=4)),
])
def test_pools_and_interpolate_match_torch(name, fn, tfn):
    x = R.standard_normal((2, 3, 9, 8))
    x[0, 0, :2, :2] = 1.5  # a tie: both libraries send the gradient to the first maximum
    _vs_torch(fn, tfn, [x])


@needs_torch
def test_unbatched_input_and_1d_interpolate_match_torch():
    x, w = R.standard_normal((3, 6, 6)), R.standard_normal((4, 3, 3, 3))
    _vs_torch(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1), [x, w])
    _vs_torch(lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [x])
    _vs_torch(lambda x: F.interpolate(x, scale_factor=3), lambda x: TF.interpolate(x, scale_factor=3), [x])


def np_max_pool2d_grad(x, g, k, s, p, d):
    """dx as PyTorch's kernel: each window sends g to its first max in row-major order among the
    positions inside the input (its last NaN, if any)."""
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    for a in range(g.shape[2]):
        for b in range(g.shape[3]):
            for nn_ in range(n):
                for cc in range(c):
                    cells = [(r, q) for i in range(k[0]) for j in range(k[1])
                             for r, q in [(a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1])]
                             if 0 <= r < h and 0 <= q < w]
                    vals = np.array([x[nn_, cc, r, q] for r, q in cells])
                    pick = np.flatnonzero(np.isnan(vals))[-1] if np.isnan(vals).any() else int(np.argmax(vals))
                    dx[(nn_, cc) + cells[pick]] += g[nn_, cc, a, b]
    return dx


MAXPOOL_GEOMETRIES = [((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1)), ((2, 3), (1, 2), (1, 0), (1, 1)),
                      ((2, 2), (1, 1), (1, 1), (2, 1)), ((3, 2), (3, 2), (0, 0), (1, 1))]


@pytest.mark.parametrize("k,s,p,d", MAXPOOL_GEOMETRIES, ids=str)
def test_max_pool2d_ties_negatives_nan_and_inf_send_the_gradient_where_torch_does(k, s, p, d):
    """Small integers (many ties, most windows negative): the gradient goes to each window's first
    max in row-major order, as PyTorch; with NaN, to its last NaN (PyTorch's kernel keeps the last
    value that is greater or NaN); a window of -inf sends it to its first position inside the input,
    not to the -inf padding."""
    x = np.random.default_rng(1).integers(-3, 1, (2, 3, 9, 8)).astype(np.float32)
    x[1, 2, 4, 3] = x[1, 2, 4, 4] = x[1, 2, 5, 3] = x[0, 1, 0, 0] = np.nan
    x[0, 0] = -np.inf
    t = ms.tensor(x, requires_grad=True)
    y = F.max_pool2d(t, k, s, p, d)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    y.backward(ms.tensor(g))
    np.testing.assert_array_equal(npy(y.array), np_max_pool2d(x, k, s, p, d, False).astype(np.float32))
    np.testing.assert_allclose(npy(t.grad.array), np_max_pool2d_grad(x, g, k, s, p, d), rtol=1e-5, atol=1e-6)
    if torch is not None:
        tx = torch.tensor(x, requires_grad=True)
        TF.max_pool2d(tx, k, s, p, d).backward(torch.tensor(g))
        np.testing.assert_allclose(npy(t.grad.array), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


@needs_torch
def test_max_pool2d_output_changed_in_place_keeps_the_argmax_and_input_change_is_refused():
    """As PyTorch: the output may change in place before backward; the input may not (backward reads it)."""
    x = R.standard_normal((2, 3, 6, 6)).astype(np.float32)
    ours, theirs = ms.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.max_pool2d(ours * 1, 2), TF.max_pool2d(theirs * 1, 2)
    with ms.no_grad():
        y.mul_(-1)
    with torch.no_grad():
        ty.mul_(-1)
    y.sum().backward(), ty.sum().backward()
    np.testing.assert_array_equal(npy(ours.grad.array), theirs.grad.numpy())
    a = ms.tensor(x, requires_grad=True) * 1
    y = F.max_pool2d(a, 3, 1, 1)
    with ms.no_grad():
        a.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        y.sum().backward()


# ---------------------------------------------------------------- modules, state dicts, BatchNorm2d
def _to_torch(ours, theirs):
    theirs.load_state_dict({k: torch.tensor(npy(v.array)) for k, v in ours.state_dict().items()})


@needs_torch
def test_small_cnn_state_dict_moves_to_torch_and_trains_alike():
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
                              lib.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1), lib.Upsample(
                                  scale_factor=2), lib.AvgPool2d(2), lib.AdaptiveAvgPool2d(2), lib.Flatten(),
                              lib.Linear(8, 3))
    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _to_torch(ours, theirs)
    x = R.standard_normal((4, 1, 8, 8)).astype(np.float32)
    for step in range(2):  # train mode twice (running stats move), then eval
        y, ty = ours(ms.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(npy(y.array), ty.detach().numpy(), atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    for (k, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(npy(p.grad.array), tp.grad.numpy(), atol=1e-5, err_msg=k)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(npy(ours.state_dict()[k].array), v.numpy(), atol=1e-6, err_msg=k)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(npy(ours(ms.tensor(x)).array), theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(affine=False, momentum=0.3),
                                dict(track_running_stats=False)], ids=str)
def test_batchnorm2d_matches_torch_train_and_eval(kw):
    ours, theirs = nn.BatchNorm2d(3, **kw), torch.nn.BatchNorm2d(3, **kw)
    if ours.weight is not None:
        with ms.no_grad():
            ours.weight.copy_(ms.tensor([0.5, 2.0, -1.0])), ours.bias.copy_(ms.tensor([0.1, 0.0, 3.0]))
        _to_torch(ours, theirs)
    for i in range(3):
        x = (R.standard_normal((4, 3, 5, 6)) * (i + 1) + i).astype(np.float32)
        worst = _vs_torch(ours, theirs, [x])
        assert worst < 1e-4
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(npy(ours.state_dict()[k].array), v.numpy(), rtol=1e-5, err_msg=k)
    ours.eval(), theirs.eval()
    _vs_torch(ours, theirs, [R.standard_normal((2, 3, 4, 4))])


def test_conv_init_is_pytorch_default_bound():
    """kaiming_uniform(a=√5) is U(±1/√fan_in); fan_in = weight.shape[1]·kh·kw for both layouts."""
    for m, fan_in in ((nn.Conv2d(6, 64, 3, groups=2), 3 * 9), (nn.ConvTranspose2d(6, 64, 3, groups=2), 32 * 9)):
        bound = 1 / math.sqrt(fan_in)
        for p in (m.weight, m.bias):
            a = npy(p.array)
            assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
    assert nn.Conv2d(6, 64, (3, 5), groups=2).weight.shape == (64, 3, 3, 5)
    assert nn.ConvTranspose2d(6, 64, (3, 5), groups=2).weight.shape == (6, 32, 3, 5)


def test_conv_weight_changed_in_place_before_backward_is_refused():
    w = ms.randn(2, 1, 3, 3, requires_grad=True)
    y = F.conv2d(ms.randn(1, 1, 5, 5, requires_grad=True), w)
    with ms.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        y.sum().backward()


def test_conv_input_changed_in_place_before_backward_is_refused_as_in_torch():
    """The weight gradient reads the input again in backward (PyTorch saves it too)."""
    x = ms.randn(1, 1, 5, 5)
    y = F.conv2d(x, ms.randn(2, 1, 3, 3, requires_grad=True))
    with ms.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        y.sum().backward()
    if torch is not None:
        tx = torch.randn(1, 1, 5, 5)
        ty = TF.conv2d(tx, torch.randn(2, 1, 3, 3, requires_grad=True))
        tx.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace"):
            ty.sum().backward()


# ---------------------------------------------------------------- bad input
BAD = [
    ("groups", lambda: F.conv2d(ms.randn(1, 3, 5, 5), ms.randn(4, 1, 3, 3), groups=2),
     lambda: TF.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 1, 3, 3), groups=2), ["conv2d", "groups=2", "(3)"]),
    ("channels", lambda: F.conv2d(ms.randn(1, 3, 5, 5), ms.randn(4, 2, 3, 3)),
     lambda: TF.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 2, 3, 3)), ["conv2d", "(1, 3, 5, 5)", "(4, 2, 3, 3)"]),
    ("kernel", lambda: F.conv2d(ms.randn(1, 1, 2, 5), ms.randn(1, 1, 3, 3), padding=0),
     lambda: TF.conv2d(torch.randn(1, 1, 2, 5), torch.randn(1, 1, 3, 3)), ["conv2d", "larger", "(1, 1, 2, 5)"]),
    ("rank", lambda: F.conv2d(ms.randn(3, 5), ms.randn(1, 1, 3, 3)),
     lambda: TF.conv2d(torch.randn(3, 5), torch.randn(1, 1, 3, 3)), ["conv2d", "(3, 5)"]),
    ("T channels", lambda: F.conv_transpose2d(ms.randn(1, 3, 5, 5), ms.randn(2, 4, 3, 3)),
     lambda: TF.conv_transpose2d(torch.randn(1, 3, 5, 5), torch.randn(2, 4, 3, 3)),
     ["conv_transpose2d", "(1, 3, 5, 5)", "(2, 4, 3, 3)"]),
    ("T groups", lambda: F.conv_transpose2d(ms.randn(1, 3, 5, 5), ms.randn(3, 2, 3, 3), groups=2),
     lambda: TF.conv_transpose2d(torch.randn(1, 3, 5, 5), torch.randn(3, 2, 3, 3), groups=2),
     ["conv_transpose2d", "groups=2"]),
    ("pool kernel", lambda: F.max_pool2d(ms.randn(1, 1, 2, 2), 3),
     lambda: TF.max_pool2d(torch.randn(1, 1, 2, 2), 3), ["max_pool2d", "larger", "(1, 1, 2, 2)"]),
    ("pool pad", lambda: F.avg_pool2d(ms.randn(1, 1, 6, 6), 2, padding=2),
     lambda: TF.avg_pool2d(torch.randn(1, 1, 6, 6), 2, padding=2), ["avg_pool2d", "half"]),
    ("pool rank", lambda: F.max_pool2d(ms.randn(6, 6), 2), lambda: TF.max_pool2d(torch.randn(6, 6), 2),
     ["max_pool2d", "(6, 6)"]),
    ("bn rank", lambda: nn.BatchNorm2d(3)(ms.randn(2, 3, 4)), lambda: torch.nn.BatchNorm2d(3)(torch.randn(2, 3, 4)),
     ["BatchNorm2d(3)", "(N, 3, H, W)"]),
    ("Conv2d groups", lambda: nn.Conv2d(3, 4, 3, groups=2), lambda: torch.nn.Conv2d(3, 4, 3, groups=2),
     ["Conv2d", "groups=2"]),
    ("interp mode", lambda: F.interpolate(ms.randn(1, 1, 4, 4), scale_factor=2, mode="bicubic"), None,
     ["interpolate", "bicubic"]),
]


@pytest.mark.parametrize("what,call,torch_call,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_in_one_sentence(what, call, torch_call, words):
    with pytest.raises((ValueError, TypeError, NotImplementedError)) as info:
        call()
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{what}: {w!r} missing from {msg!r}"
    assert "\n" not in msg
    if torch_call is not None and torch is not None:  # never refuse what PyTorch accepts
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(Exception):
                torch_call()
