"""Convolution and pooling on images (N, C, H, W): one matrix product each way.

**A convolution is one matrix product.** Output pixel (n, o, a, b) of
``conv2d`` is a dot product between the weight ``W[o]`` (C·kh·kw numbers) and
the input patch under the kernel at (a, b)::

    y[n, o, a, b] = Σ_{c,i,j} W[o, c, i, j] · x[n, c, a·s + i·d, b·s + j·d]   (+ bias[o])

Lay every patch out as a column of a matrix ``X_col`` (rows: c, i, j; columns:
n, a, b: the *im2col* matrix) and the whole layer is ``Y = W_mat @ X_col`` with
``W_mat = W.reshape(O, C·kh·kw)``: one GEMM, as fast as the BLAS. The patches
never need a Python loop: :func:`_windows` is a strided *view* of the padded
input, shape (N, C, kh, kw, Ho, Wo), whose element [n, c, i, j, a, b] sits at
the memory address of x[n, c, a·s + i·d, b·s + j·d]; one reshape copies it into
``X_col``. Groups split the channels into ``groups`` independent blocks: a
batch of ``groups`` GEMMs.

**Its backward is the transposed convolution.** ``Y = W_mat @ X_col`` gives
``dW_mat = dY @ X_colᵀ`` (a second GEMM, on the same ``X_col``) and
``dX_col = W_matᵀ @ dY``. Each input pixel appeared in several columns of
``X_col`` (once per kernel offset that covered it), so its gradient is the sum
over those copies: *col2im* (:func:`_col2im`) scatter-adds ``dX_col`` back,
one strided slice per kernel offset. That map, dY -> dX, is the adjoint
(transpose) of the convolution, and it is exactly ``conv_transpose2d``: the
layer decoders use to *upsample* is this backward run forward. So
``ConvTranspose2d.forward`` is conv2d's input gradient, and its backward is a
plain conv2d (plus the weight gradient with the roles of input and upstream
gradient swapped, by ⟨dY, Aᵀx⟩ = ⟨A dY, x⟩). One implementation, three uses.

Pooling reads the same window view: max pooling takes the max of each window
(gradient to the argmax, first one on ties, as PyTorch), average pooling its
mean; both backwards go through the same col2im. ``interpolate(mode="nearest")``
and ``adaptive_avg_pool2d`` are linear maps along each axis, so they are
matrix products too: y = R_h · x · R_wᵀ, with R a 0/1 selection (nearest) or
averaging matrix, and matmul's backward gives their gradients.
"""
from __future__ import annotations

import math
import operator

from .. import backend
from ..backend import xp
from ..tensor import Function, Tensor
from .math import matmul

_as_strided = xp.lib.stride_tricks.as_strided


# ---------------------------------------------------------------- arguments
def _pair(value, op, name, minimum=0):
    """An int or a pair of ints -> (h, w), each >= ``minimum``."""
    try:
        pair = (operator.index(value),) * 2 if not isinstance(value, (tuple, list)) else tuple(
            operator.index(v) for v in value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    if len(pair) == 1:
        pair = pair * 2
    if len(pair) != 2 or min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return pair


def _out_size(size, k, s, d, pad):
    """Windows of size d·(k-1)+1 at stride s that fit in ``size`` + ``pad`` (both sides) padded positions."""
    return (size + pad - d * (k - 1) - 1) // s + 1


def _check_rank(op, x, what="input"):
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) {what}, got shape {tuple(x.shape)}")


# ---------------------------------------------------------------- the three array helpers
def _pad(x, pads, value=0.0):
    """x (N, C, H, W) with pads = (top, bottom, left, right) rows/columns of ``value`` around it."""
    t, b, l, r = pads
    if not any(pads):
        return x
    n, c, h, w = x.shape
    out = xp.full((n, c, h + t + b, w + l + r), value, dtype=x.dtype)
    out[:, :, t:t + h, l:l + w] = x
    return out


def _windows(x, k, s, d, out_hw):
    """The view (N, C, kh, kw, Ho, Wo) with [n, c, i, j, a, b] = x[n, c, a·sh + i·dh, b·sw + j·dw]. No copy."""
    sn, sc, sh, sw = x.strides
    return _as_strided(x, shape=x.shape[:2] + tuple(k) + tuple(out_hw),
                       strides=(sn, sc, d[0] * sh, d[1] * sw, s[0] * sh, s[1] * sw))


def _col2im(piece, shape, dtype, k, s, d, out_hw, store=None):
    """The adjoint of :func:`_windows`: out[n, c, a·sh + i·dh, b·sw + j·dw] += cols[n, c, i, j, a, b].

    ``piece(i, j)`` gives cols[:, :, i, j], an (N, C, Ho, Wo) array (so a pooling backward never
    builds the whole cols array). One strided add per kernel offset; overlapping windows add up.
    Where windows never overlap each position is written once, and ``store(i, j, dst)``, if given,
    writes cols[:, :, i, j] straight into the strided view ``dst`` (no temporary, one pass fewer)."""
    out = xp.zeros(shape, dtype=dtype)
    ho, wo = out_hw
    disjoint = all(si >= di * (ki - 1) + 1 for si, di, ki in zip(s, d, k))  # windows that never overlap
    for i in range(k[0]):
        for j in range(k[1]):
            dst = (slice(None), slice(None), slice(i * d[0], i * d[0] + s[0] * (ho - 1) + 1, s[0]),
                   slice(j * d[1], j * d[1] + s[1] * (wo - 1) + 1, s[1]))
            if disjoint and store is not None:
                store(i, j, out[dst])
            elif disjoint:  # a store, not a read-add-store
                out[dst] = piece(i, j)
            else:
                out[dst] += piece(i, j)
    return out


# ---------------------------------------------------------------- convolution as a GEMM
# Layout: one GEMM per image (and group), X_col[n] of shape (C/groups·kh·kw, Ho·Wo). Stacked
# over n, NumPy's matmul calls the BLAS once per image: each product is small enough to stay in
# cache, and the result (N, O, Ho·Wo) is already the (N, O, Ho, Wo) output, with no transpose.
def _im2col(xpad, k, s, d, groups, out_hw):
    """X_col, shape (N, groups, C/groups·kh·kw, Ho·Wo): rows (c, i, j), columns (a, b); one copy."""
    n, c = xpad.shape[:2]
    return _windows(xpad, k, s, d, out_hw).reshape(n, groups, c // groups * k[0] * k[1], out_hw[0] * out_hw[1])


def _gemm_forward(cols, w, out_hw, bias=None, out=None):
    """Y[n] = W_mat @ X_col[n] per group, as an (N, O, Ho, Wo) array (written into ``out`` if given)."""
    o, groups = w.shape[0], cols.shape[1]
    y = xp.empty((cols.shape[0], o) + tuple(out_hw), dtype=cols.dtype) if out is None else out
    xp.matmul(w.reshape(groups, o // groups, -1), cols, out=y.reshape(cols.shape[0], groups, o // groups, -1))
    if bias is not None:
        y += bias[:, None, None]
    return y


def _grad_rows(g, groups):
    """dY (N, O, Ho, Wo) as (N, groups, O/groups, Ho·Wo), the layout of W_mat @ X_col."""
    n, o = g.shape[:2]
    return g.reshape(n, groups, o // groups, -1)


def _gemm_input_grad(g, w, padded_shape, s, d, groups):
    """dX (padded) = col2im(W_matᵀ @ dY): the transposed convolution of dY."""
    o, cg, kh, kw = w.shape
    n, ho, wo = g.shape[0], g.shape[2], g.shape[3]
    wm = w.reshape(groups, o // groups, cg * kh * kw)
    wt = xp.ascontiguousarray(wm.transpose(0, 2, 1))                   # small; contiguous for the BLAS
    dcols = (wt @ _grad_rows(g, groups)).reshape(n, cg * groups, kh, kw, ho, wo)   # W_matᵀ @ dY per image
    return _col2im(lambda i, j: dcols[:, :, i, j], padded_shape, dcols.dtype, (kh, kw), s, d, (ho, wo))


def _gemm_weight_grad(cols, g, w_shape):
    """dW_mat = Σ_n dY[n] @ X_col[n]ᵀ per group, computed as its transpose Σ_n X_col[n] @ dY[n]ᵀ:
    NumPy's stacked matmul calls the BLAS only for operands contiguous in their last axis, and
    dYᵀ is the small one to copy (X_colᵀ as a strided view was ~10x slower)."""
    gt = xp.ascontiguousarray(_grad_rows(g, cols.shape[1]).transpose(0, 1, 3, 2))   # (N, groups, Ho·Wo, O/groups)
    return (cols @ gt).sum(axis=0).transpose(0, 2, 1).reshape(w_shape)


def _crop(a, pads, hw):
    t, _, l, _ = pads
    return a if not any(pads) else xp.ascontiguousarray(a[:, :, t:t + hw[0], l:l + hw[1]])


# X_col is kh·kw times the input: for a whole batch it outgrows the CPU's caches, and every pass
# over it (im2col's copy, the GEMMs, col2im's adds) then runs at memory speed. A few images at a
# time keep each chunk's X_col in cache between the copy and the GEMMs that read it. On a GPU the
# whole batch is one chunk (large kernels are what it is fast at).
_CHUNK_BYTES = 1 << 20 if not backend.on_gpu else 1 << 62


def _chunks(n, per_image):
    """Slices of the batch axis, each holding about ``_CHUNK_BYTES`` of ``per_image`` bytes (at least one image)."""
    step = max(1, _CHUNK_BYTES // max(per_image, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


class Conv2d(Function):
    """y = W ⋆ x + b via im2col (see the module docstring for the derivation).

    dX = conv_transpose(dY, W) (col2im of W_matᵀ dY), dW = dY X_colᵀ, db = Σ_{n,a,b} dY.
    Both directions run over chunks of images (:data:`_CHUNK_BYTES`); backward rebuilds each
    chunk's X_col from the kept padded input instead of keeping the whole X_col."""

    def saved_inputs(self):  # backward reads W for dX and x (through its padded copy, or itself) for dW
        return [i for i, j in ((1, 0), (0, 1)) if self.needs_grad[j]]

    def forward(self, x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1, out_hw=None):
        xpad = _pad(x, pads)
        k, n, o = w.shape[2:], x.shape[0], w.shape[0]
        self.w, self.hw, self.pshape = w, x.shape[2:], xpad.shape
        self.opts = (stride, pads, dilation, groups, out_hw)
        self.xpad = xpad if self.needs_grad[1] else None
        y = xp.empty((n, o) + tuple(out_hw), dtype=x.dtype)
        per_image = x.dtype.itemsize * xpad.shape[1] * k[0] * k[1] * out_hw[0] * out_hw[1]
        for sl in _chunks(n, per_image):
            _gemm_forward(_im2col(xpad[sl], k, stride, dilation, groups, out_hw), w, out_hw, b, out=y[sl])
        return y

    def backward(self, g):
        stride, pads, dilation, groups, out_hw = self.opts
        w, n = self.w, g.shape[0]
        k = w.shape[2:]
        gx = xp.empty(self.pshape, dtype=g.dtype) if self.needs_grad[0] else None
        gw = xp.zeros(w.shape, dtype=g.dtype) if self.needs_grad[1] else None
        per_image = g.dtype.itemsize * self.pshape[1] * k[0] * k[1] * out_hw[0] * out_hw[1]
        for sl in _chunks(n, per_image):
            if gw is not None:
                gw += _gemm_weight_grad(_im2col(self.xpad[sl], k, stride, dilation, groups, out_hw), g[sl], w.shape)
            if gx is not None:
                gx[sl] = _gemm_input_grad(g[sl], w, gx[sl].shape, stride, dilation, groups)
        gb = g.sum(axis=(0, 2, 3)) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return (None if gx is None else _crop(gx, pads, self.hw)), gw, gb


class ConvTranspose2d(Function):
    """y = Aᵀx + b where A is conv2d with weight W: conv2d's input gradient, run forward.

    dX = A dY = conv2d(dY, W); dW = conv2d's weight gradient with dY as the input
    and x as the upstream gradient (⟨dY, Aᵀx⟩ = ⟨A dY, x⟩); db = Σ dY."""

    def saved_inputs(self):  # dX reads W, dW reads x
        return [i for i, j in ((1, 0), (0, 1)) if self.needs_grad[j]]

    def forward(self, x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1, out_hw=None):
        t, bo, l, r = pads
        padded = (x.shape[0], w.shape[1] * groups, out_hw[0] + t + bo, out_hw[1] + l + r)
        y = _crop(_gemm_input_grad(x, w, padded, stride, dilation, groups), pads, out_hw)
        if b is not None:
            y += b[:, None, None]
        self.x, self.w, self.opts = x, w, (stride, pads, dilation, groups)
        return y

    def backward(self, g):
        stride, pads, dilation, groups = self.opts
        n, _, h, w_ = self.x.shape
        cols = _im2col(_pad(g, pads), self.w.shape[2:], stride, dilation, groups, (h, w_))
        gx = _gemm_forward(cols, self.w, (h, w_)) if self.needs_grad[0] else None
        gw = _gemm_weight_grad(cols, self.x, self.w.shape) if self.needs_grad[1] else None
        gb = g.sum(axis=(0, 2, 3)) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb


def _batched(op, fn, x, *rest):
    """Run ``fn`` on a 4-D input; a 3-D (C, H, W) input is one unbatched image, as PyTorch."""
    _check_rank(op, x)
    if x.ndim == 3:
        return fn(x.unsqueeze(0), *rest).squeeze(0)
    return fn(x, *rest)


def _conv_checks(op, x, w, b, groups, in_ch, out_ch):
    if w.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D, got shape {tuple(w.shape)}")
    if groups < 1 or in_ch % groups or out_ch % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels ({in_ch}) and the output "
                         f"channels ({out_ch}); input {tuple(x.shape)}, weight {tuple(w.shape)}")
    if b is not None and tuple(b.shape) != (out_ch,):
        raise ValueError(f"{op}: bias must have shape ({out_ch},) for weight {tuple(w.shape)}, got {tuple(b.shape)}")
    if x.dtype != w.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ; convert one (x.float())")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch), weight (out, in/groups, kh, kw).

    ``padding``: an int, a pair, ``'valid'`` (0) or ``'same'`` (output size = input size; stride 1)."""
    op = "conv2d"
    s, d = _pair(stride, op, "stride", 1), _pair(dilation, op, "dilation", 1)
    k = tuple(weight.shape[2:]) if weight.ndim == 4 else (0, 0)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if padding == "same" and s != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        # 'same': total d·(k-1), the odd one extra at the bottom/right, as PyTorch
        tot = [di * (ki - 1) if padding == "same" else 0 for di, ki in zip(d, k)]
        pads = (tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2)
    else:
        p = _pair(padding, op, "padding")
        pads = (p[0], p[0], p[1], p[1])

    def run(x, w, b):
        _conv_checks(op, x, w, b, groups, x.shape[1], w.shape[0])
        if x.shape[1] != w.shape[1] * groups:
            raise ValueError(f"{op}: input {tuple(x.shape)} has {x.shape[1]} channels, but weight "
                             f"{tuple(w.shape)} with groups={groups} expects {w.shape[1] * groups} "
                             "(weight is (out_channels, in_channels/groups, kH, kW))")
        hw = tuple(x.shape[2:])
        out_hw = tuple(_out_size(hw[i], k[i], s[i], d[i], pads[2 * i] + pads[2 * i + 1]) for i in range(2))
        if min(out_hw) < 1:
            raise ValueError(f"{op}: kernel {k} (dilation {d}) is larger than the padded input "
                             f"({hw[0] + pads[0] + pads[1]}, {hw[1] + pads[2] + pads[3]}); input {tuple(x.shape)}, "
                             f"weight {tuple(w.shape)}")
        args = (x, w) if b is None else (x, w, b)
        return Conv2d.apply(*args, stride=s, pads=pads, dilation=d, groups=groups, out_hw=out_hw)
    return _batched(op, run, input, weight, bias)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transposed convolution (conv2d's input gradient), weight (in, out/groups, kh, kw).

    Output size: (H - 1)·s - 2·p + d·(k - 1) + output_padding + 1."""
    op = "conv_transpose2d"
    s, d = _pair(stride, op, "stride", 1), _pair(dilation, op, "dilation", 1)
    p, op_ = _pair(padding, op, "padding"), _pair(output_padding, op, "output_padding")
    if any(o >= max(si, di) for o, si, di in zip(op_, s, d)):
        raise ValueError(f"{op}: output_padding {op_} must be smaller than stride {s} or dilation {d}")

    def run(x, w, b):
        _conv_checks(op, x, w, b, groups, x.shape[1], w.shape[1] * groups)
        if x.shape[1] != w.shape[0]:
            raise ValueError(f"{op}: input {tuple(x.shape)} has {x.shape[1]} channels, but weight "
                             f"{tuple(w.shape)} expects {w.shape[0]} (weight is (in_channels, out_channels/groups, "
                             "kH, kW))")
        k = w.shape[2:]
        out_hw = tuple((x.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op_[i] + 1 for i in range(2))
        if min(out_hw) < 1:
            raise ValueError(f"{op}: padding {p} leaves an empty output {out_hw}; input {tuple(x.shape)}, "
                             f"weight {tuple(w.shape)}")
        args = (x, w) if b is None else (x, w, b)
        return ConvTranspose2d.apply(*args, stride=s, pads=(p[0], p[0], p[1], p[1]), dilation=d, groups=groups,
                                     out_hw=out_hw)
    return _batched(op, run, input, weight, bias)


# ---------------------------------------------------------------- pooling over the same windows
def _pool_geometry(op, x, k, s, p, d, ceil_mode):
    """Output size and the (top, bottom, left, right) padding, extended where ceil_mode's last window needs it."""
    if any(2 * pi > d_ * (ki - 1) + 1 for pi, ki, d_ in zip(p, k, d)):
        raise ValueError(f"{op}: padding {p} should be at most half of the kernel size {k} (dilation {d})")
    out, pads = [], []
    for size, ki, si, pi, di in zip(x.shape[2:], k, s, p, d):
        o = (size + 2 * pi - di * (ki - 1) - 1 + (si - 1 if ceil_mode else 0)) // si + 1
        if ceil_mode and (o - 1) * si >= size + pi:  # the last window must start inside the input or left pad
            o -= 1
        if o < 1:
            raise ValueError(f"{op}: kernel {tuple(k)} (dilation {tuple(d)}) is larger than the padded input "
                             f"of shape {tuple(x.shape)} with padding {tuple(p)}")
        out.append(o)
        pads += [pi, max(pi, (o - 1) * si + di * (ki - 1) + 1 - size - pi)]
    return tuple(out), tuple(pads)


def _first_hits(arrays, ref, inside=None):
    """One bool mask per array: True where that array is the one ``ref`` (their max) came from, as
    PyTorch's kernel picks it: the first equal to ``ref`` in list order, or the last NaN where ``ref``
    is NaN. ``inside`` (one bool mask per array, or None): where the array holds input rather than
    padding; a window of -inf then picks its first -inf inside the input, not the padding's.

    Without a NaN in ``ref`` there is none in the arrays, and the NaN pass is skipped."""
    def pick(hits):
        masks, seen = [], None
        for hit in hits:
            masks.append(hit if seen is None else hit & ~seen)
            seen = hit if seen is None else seen | hit
        return masks
    masks = pick([a == ref if inside is None else (a == ref) & m for a, m in zip(arrays, inside or arrays)])
    if bool(xp.isnan(ref).any()):  # a == NaN is False: those windows have no hit yet
        for m, last in zip(masks, pick([a != a for a in arrays[::-1]])[::-1]):
            m |= last
    return masks


class MaxPool2d(Function):
    """y = max over each window. dx: the gradient goes to the window's argmax as PyTorch picks it
    (its first max in row-major order inside the input; with NaN, its last NaN), summed where
    windows overlap (col2im of a one-hot per window).

    Both directions walk the kernel offsets (i, j): the window view's slice [:, :, i, j] is an
    (N, C, Ho, Wo) array, so each step is one vectorised compare over the output. Forward keeps
    only the max and the window view; backward finds each window's first max by comparing the
    offsets with it in order (evaluation never builds those masks, and they cost forward more
    than the max itself)."""

    def forward(self, x, k, s, d, pads, out_hw):
        win = _windows(_pad(x, pads, -xp.inf), k, s, d, out_hw)
        best = win[:, :, 0, 0].copy()
        for idx in range(1, k[0] * k[1]):
            xp.maximum(best, win[:, :, idx // k[1], idx % k[1]], out=best)   # NaN propagates, as in PyTorch
        if self.tracking:  # a copy of y: an in-place change to the output must not move the argmax
            self.win, self.best = win, best.copy()
        self.geom = (x.shape, k, s, d, pads)
        return best

    def backward(self, g):
        shape, k, s, d, pads = self.geom
        t, b, l, r = pads
        offsets = [(i, j) for i in range(k[0]) for j in range(k[1])]
        inside = None
        if any(pads) and bool((self.best == -xp.inf).any()):  # -inf padding ties with a window of -inf
            valid = _windows(_pad(xp.ones((1, 1) + tuple(shape[2:]), dtype=bool), pads, False), k, s, d, g.shape[2:])
            inside = [valid[:, :, i, j] for i, j in offsets]
        first = _first_hits([self.win[:, :, i, j] for i, j in offsets], self.best, inside)
        gx = _col2im(lambda i, j: g * first[i * k[1] + j], shape[:2] + (shape[2] + t + b, shape[3] + l + r), g.dtype,
                     k, s, d, g.shape[2:], store=lambda i, j, dst: xp.multiply(g, first[i * k[1] + j], out=dst))
        return _crop(gx, pads, shape[2:])


class AvgPool2d(Function):
    """y = (Σ over each window) / divisor. dx: each window's g/divisor spread over its window (col2im)."""

    saves_inputs = False

    def forward(self, x, k, s, pads, out_hw, count_include_pad, divisor_override):
        one = (1, 1)
        xpad = _pad(x, pads)
        y = _windows(xpad, k, s, one, out_hw).sum(axis=(2, 3))
        if divisor_override:
            div = xp.asarray(divisor_override, dtype=x.dtype)
        else:  # count, per window, the positions PyTorch divides by: padding included or not, never ceil overhang
            t, _, l, _ = pads
            h, w = x.shape[2:]
            mask = xp.zeros((1, 1) + xpad.shape[2:], dtype=x.dtype)
            if count_include_pad:
                mask[:, :, :h + 2 * t, :w + 2 * l] = 1
            else:
                mask[:, :, t:t + h, l:l + w] = 1
            div = _windows(mask, k, s, one, out_hw).sum(axis=(2, 3))
        y /= div
        self.div, self.geom = div, (x.shape, k, s, pads, xpad.shape)
        return y

    def backward(self, g):
        shape, k, s, pads, pshape = self.geom
        gd = g / self.div
        return _crop(_col2im(lambda i, j: gd, pshape, gd.dtype, k, s, (1, 1), gd.shape[2:]), pads, shape[2:])  # same g/div at each offset


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    op = "max_pool2d"
    if return_indices:
        raise NotImplementedError(f"{op}: return_indices=True is not implemented; the gradient already goes to "
                                  "the argmax, so most code does not need the indices")
    k = _pair(kernel_size, op, "kernel_size", 1)
    s = k if stride is None or stride == [] else _pair(stride, op, "stride", 1)
    p, d = _pair(padding, op, "padding"), _pair(dilation, op, "dilation", 1)

    def run(x):
        if x.dtype.kind != "f":
            raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype}")
        out_hw, pads = _pool_geometry(op, x, k, s, p, d, ceil_mode)
        return MaxPool2d.apply(x, k=k, s=s, d=d, pads=pads, out_hw=out_hw)
    return _batched(op, run, input)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    op = "avg_pool2d"
    k = _pair(kernel_size, op, "kernel_size", 1)
    s = k if stride is None or stride == [] else _pair(stride, op, "stride", 1)
    p = _pair(padding, op, "padding")
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")

    def run(x):
        if x.dtype.kind != "f":
            raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype}")
        out_hw, pads = _pool_geometry(op, x, k, s, p, (1, 1), ceil_mode)
        return AvgPool2d.apply(x, k=k, s=s, pads=pads, out_hw=out_hw, count_include_pad=count_include_pad,
                               divisor_override=divisor_override)
    return _batched(op, run, input)


# ---------------------------------------------------------------- resampling as matrix products
def _resample(x, mats):
    """y = R_h · x · R_wᵀ (one matrix per spatial axis, the last ``len(mats)`` axes of x)."""
    if len(mats) == 2:
        x = matmul(Tensor(mats[0].astype(x.dtype), _internal=True), x)
    return matmul(x, Tensor(mats[-1].T.astype(x.dtype), _internal=True))


def _adaptive_matrix(size, out):
    """R (out, size): row i averages x[floor(i·size/out) : ceil((i+1)·size/out)], PyTorch's windows."""
    i = xp.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    j = xp.arange(size)
    inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return inside / (end - start)[:, None]


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows (any input and output size; None keeps that size)."""
    op = "adaptive_avg_pool2d"
    _check_rank(op, input)
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    hw = input.shape[-2:]
    out = tuple(h if o is None else o for o, h in zip(sizes, hw))
    if min(out) < 1 or min(hw) < 1:
        raise ValueError(f"{op}: output size {out} and input {tuple(input.shape)} must be non-empty")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {input.dtype}")
    return _resample(input, [_adaptive_matrix(h, o) for h, o in zip(hw, out)])


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the last 1 (input (N, C, L)) or 2 (input (N, C, H, W)) axes; mode ``'nearest'`` only.

    Output index o reads input index min(floor(o · scale), in - 1), scale = 1/scale_factor when
    given (in float32, as PyTorch), else in/out."""
    op = "interpolate"
    if mode != "nearest":
        raise NotImplementedError(f"{op}: mode={mode!r} is not implemented, only 'nearest'")
    if align_corners is not None or antialias:
        raise ValueError(f"{op}: align_corners and antialias only apply to linear modes, not 'nearest'")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    dims = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size= and scale_factor=")
    spatial = input.shape[2:]
    if size is not None:
        out = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        scales = (None,) * dims
    else:
        sc = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
        if len(sc) != dims or min(sc) <= 0:
            raise ValueError(f"{op}: scale_factor must be positive, one per spatial axis, got {scale_factor!r}")
        out = tuple(int(math.floor(n * f)) for n, f in zip(spatial, sc))
        scales = (None,) * dims if recompute_scale_factor else sc
    if len(out) != dims or min(out) < 1:
        raise ValueError(f"{op}: output size {out} for input {tuple(input.shape)} must be positive, one per axis")
    mats = []
    for n, o, f in zip(spatial, out, scales):
        scale = xp.float32(1.0 / f) if f else xp.float32(n) / xp.float32(o)  # float32, as PyTorch
        src = xp.minimum(xp.floor(xp.arange(o, dtype=xp.float32) * scale).astype(xp.int64), n - 1)
        mats.append((src[:, None] == xp.arange(n)[None, :]).astype(input.dtype))
    return _resample(input, mats)
