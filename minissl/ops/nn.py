"""Fused neural-network ops: each a single node with a hand-derived backward.

Building softmax or layer norm out of exp/sum/div nodes would work, but would
keep many intermediate arrays alive and walk them all again in backward. A
fused op computes the result in one go, keeps only what its derivative needs,
and its backward is the formula written in the docstring.
"""
from __future__ import annotations

import math
import warnings

from .. import backend
from ..backend import xp
from ..tensor import Function, Tensor, as_array, broadcast_shapes


def _log_softmax(z, axis):
    """z - logsumexp(z), computed as (z - max) - log Σ exp(z - max).

    Subtracting the max first keeps z - max exact; adding log Σ to the max
    first would round it at the max's magnitude (at logits ~1e4 in float32
    that loses the third decimal of the loss).
    """
    if backend.fused.log_softmax and axis == z.ndim - 1:  # GPU: fused kernels (minissl/speedups.py)
        return backend.fused.log_softmax(z)
    s = z - z.max(axis=axis, keepdims=True)
    s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    return s


class Softmax(Function):
    """y = exp(z - max z) / Σ exp(z - max z);  dL/dz = y ⊙ (g - Σ_j g_j y_j)."""

    saves_inputs, saves_output = False, True

    def forward(self, z, dim):
        self.dim = dim
        if z.shape[dim] == 0:  # nothing to normalise over: an empty result, as PyTorch (max() would fail)
            self.y = z.copy()
            return self.y
        if backend.fused.softmax and dim == z.ndim - 1:  # GPU: fused kernels (minissl/speedups.py)
            self.y = backend.fused.softmax(z)
            return self.y
        e = z - z.max(axis=dim, keepdims=True)
        xp.exp(e, out=e)  # in place: each full-size temporary is another pass over memory
        e /= e.sum(axis=dim, keepdims=True)
        self.y = e
        return e

    def backward(self, g):
        y = self.y
        if backend.fused.softmax and self.dim == y.ndim - 1:
            return backend.fused.softmax_backward(g, y)
        gz = g - _rowdot(g, y, self.dim)
        gz *= y
        return gz


def _rowdot(a, b, axis):
    """Σ a⊙b along ``axis`` (keepdims) without materialising a⊙b when the axis is the last one."""
    if axis == a.ndim - 1 and a.shape == b.shape:
        return xp.einsum("...i,...i->...", a, b)[..., None]
    return (a * b).sum(axis=axis, keepdims=True)


class LogSoftmax(Function):
    """y = z - logsumexp(z);  dL/dz = g - softmax(z) Σ_j g_j."""

    saves_inputs, saves_output = False, True

    def forward(self, z, dim):
        self.dim = dim
        self.y = z.copy() if z.shape[dim] == 0 else _log_softmax(z, dim)  # empty dim: empty result
        return self.y

    def backward(self, g):
        return g - xp.exp(self.y) * g.sum(axis=self.dim, keepdims=True)


class CrossEntropy(Function):
    """Softmax cross-entropy on logits z (N, C) and class ids y (N,).

    With label smoothing ε the target distribution is q = (1-ε)·onehot(y) + ε/C, and

        loss_i = -Σ_c q_c log softmax(z_i)_c,        dloss_i/dz_i = softmax(z_i) - q.

    Rows whose target is ``ignore_index`` contribute nothing; ``mean`` divides
    by the number of rows that are not ignored (as PyTorch does). When every row
    is ignored that mean is 0/0 = NaN, but the gradient is exactly zero, as in
    PyTorch: no row took part, so no logit should move (a NaN here would reach
    every weight through the optimizer).
    """

    def forward(self, z, y, ignore_index, reduction, label_smoothing):
        n, c = z.shape
        keep = y != ignore_index
        safe_y = xp.where(keep, y, 0)
        logp = _log_softmax(z, 1)
        rows = xp.arange(n)
        nll = -logp[rows, safe_y]
        if label_smoothing:
            nll = (1 - label_smoothing) * nll - (label_smoothing / c) * logp.sum(axis=1)
        nll = nll * keep
        self.logp, self.y, self.keep, self.eps, self.reduction = logp, safe_y, keep, label_smoothing, reduction
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        self.count = keep.sum()
        # every row ignored: the mean is 0/0, NaN as in PyTorch, without NumPy's divide warning
        mean = xp.where(self.count > 0, nll.sum() / xp.maximum(self.count, 1), xp.nan)
        return mean.astype(z.dtype)  # an int count must not upcast float32

    def backward(self, g):
        n, c = self.logp.shape
        if self.reduction == "mean":
            # max(count, 1): with every row ignored, keep is all False and the
            # gradient is exactly 0 instead of (g/0)·0 = NaN
            scale = (g / xp.maximum(self.count, 1)) * self.keep
        else:
            scale = g * self.keep
        scale = scale.astype(self.logp.dtype, copy=False)
        if backend.fused.cross_entropy_backward:  # GPU: one fused kernel (minissl/speedups.py)
            return backend.fused.cross_entropy_backward(self.logp, self.y, scale, self.eps), None
        grad = xp.exp(self.logp)
        if self.eps:
            grad -= self.eps / c
        grad[xp.arange(n), self.y] -= 1 - self.eps
        grad *= scale[:, None]
        return grad, None


class BCEWithLogits(Function):
    """loss = max(z,0) - z·t + log(1 + exp(-|z|)) (stable);  dloss/dz = sigmoid(z) - t."""

    def forward(self, z, t, reduction):
        self.z, self.t, self.reduction = z, t, reduction
        loss = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return _reduce(loss, reduction)

    def backward(self, g):
        z = self.z
        e = xp.exp(-xp.abs(z))
        sig = xp.where(z >= 0, 1 / (1 + e), e / (1 + e))
        d = _unreduce_scale(g, z, self.reduction)
        gz = d * (sig - self.t)
        gt = -d * z if self.needs_grad[1] else None
        return gz, gt


class MSELoss(Function):
    """loss = (a - b)²;  dloss/da = 2 (a - b) = -dloss/db."""

    def forward(self, a, b, reduction):
        self.diff, self.reduction, self.sa, self.sb = a - b, reduction, a.shape, b.shape
        return _reduce(self.diff * self.diff, reduction)

    def backward(self, g):
        from ..tensor import sum_to
        d = 2 * _unreduce_scale(g, self.diff, self.reduction) * self.diff
        return sum_to(d, self.sa), (sum_to(-d, self.sb) if self.needs_grad[1] else None)


def _reduce(loss, reduction):
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def _unreduce_scale(g, like, reduction):
    return g / like.size if reduction == "mean" else g


class LayerNorm(Function):
    """y = (x - μ)/σ · w + b over the last ``k`` dims, σ = sqrt(var + eps).

    With x̂ = (x - μ)/σ and ĝ = g·w, the input gradient is
        dx = (ĝ - mean(ĝ) - x̂ · mean(ĝ ⊙ x̂)) / σ
    (means over the normalised dims), dw = Σ g ⊙ x̂ and db = Σ g over the rest.
    """

    def forward(self, x, w=None, b=None, k=1, eps=1e-5):
        # Work on (rows, D): the normalised dims flattened into one, so the
        # row reductions are plain dot products (einsum: no x⊙x temporary).
        self.shape = x.shape
        d = 1
        for n in x.shape[x.ndim - k:]:
            d *= n
        x2 = x.reshape(math.prod(x.shape[:x.ndim - k]), d)  # not -1: that is ambiguous when d == 0
        if d == 0:  # nothing to normalise (LayerNorm(0)): an empty result, as PyTorch
            self.xhat, self.w = x2, w
            return x.copy()
        if backend.fused.layer_norm and w is not None and b is not None:  # GPU: fused (minissl/speedups.py)
            y, self.xhat, self.rstd = backend.fused.layer_norm(x2, w.reshape(-1), b.reshape(-1), eps)
            self.w = w
            return y.reshape(x.shape)
        xhat = x2 - x2.mean(axis=1, keepdims=True)
        var = xp.einsum("ij,ij->i", xhat, xhat) / d
        self.rstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)[:, None]
        xhat *= self.rstd
        self.xhat, self.w = xhat, w
        y = xhat * w.reshape(-1) if w is not None else xhat.copy()
        if b is not None:
            y += b.reshape(-1)
        return y.reshape(x.shape)

    def backward(self, g):
        xhat, d = self.xhat, self.xhat.shape[1]
        g2 = g.reshape(xhat.shape)
        gw = gb = gx = None
        if d == 0:  # empty in, empty out: every gradient is empty too
            return (g.copy(),) + tuple(xp.zeros(self.w.shape, g.dtype) for _ in self.needs_grad[1:])
        if self.w is not None and self.needs_grad[1]:
            gw = xp.einsum("ij,ij->j", g2, xhat).reshape(self.w.shape)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = g2.sum(axis=0).reshape(self.w.shape)
        if self.needs_grad[0] and backend.fused.layer_norm and self.w is not None:
            gx = backend.fused.layer_norm_backward(g2, self.w.reshape(-1), xhat, self.rstd).reshape(self.shape)
        elif self.needs_grad[0]:
            gh = g2 * self.w.reshape(-1) if self.w is not None else g2
            proj = xp.einsum("ij,ij->i", gh, xhat)[:, None] / d   # mean(ĝ ⊙ x̂)
            gx = gh - gh.mean(axis=1, keepdims=True)
            tmp = xhat * proj
            gx -= tmp
            gx *= self.rstd
            gx = gx.reshape(self.shape)
        return gx, gw, gb


class RMSNorm(Function):
    """y = x · r · w over the last ``k`` dims, r = (mean(x²) + eps)^(-1/2) (one r per row).

    With x̂ = x·r and ĝ = g·w, and d(r)/dx = -r³ x / D (D = number of normalised features),
        dx = r (ĝ - x̂ · mean(ĝ ⊙ x̂))      (mean over the normalised dims)
    and dw = Σ g ⊙ x̂ over the other dims: LayerNorm's gradient without the mean terms.
    As PyTorch, y has x's dtype whatever w's, and half precision is computed in float32.
    """

    def forward(self, x, w=None, k=1, eps=1e-6):
        self.shape, self.dtype = x.shape, x.dtype
        d = math.prod(x.shape[x.ndim - k:])
        x2 = x.reshape(math.prod(x.shape[:x.ndim - k]), d)
        if x.dtype.itemsize < 4:  # float16 squares overflow from 256 on
            x2 = x2.astype(xp.float32)
        if d == 0:  # nothing to normalise (RMSNorm(0)): an empty result, as PyTorch
            self.rstd = xp.ones((x2.shape[0], 1), dtype=x2.dtype)
        else:  # a row's sum of squares as one dot product: no x⊙x temporary
            self.rstd = (xp.einsum("ij,ij->i", x2, x2)[:, None] / d + eps) ** -0.5
        xhat = x2 * self.rstd
        self.xhat, self.w = xhat, w
        if w is not None:
            y = xhat * w.reshape(-1)
        else:  # backward reads x̂: the output may change in place before it does
            y = xhat.copy() if self.tracking else xhat
        return y.reshape(x.shape).astype(x.dtype, copy=False)

    def backward(self, g):
        xhat, d = self.xhat, self.xhat.shape[1]
        g2 = g.reshape(xhat.shape)
        gx = gw = None
        if self.w is not None and self.needs_grad[1]:
            gw = xp.einsum("ij,ij->j", g2, xhat).reshape(self.w.shape).astype(self.w.dtype, copy=False)
        if self.needs_grad[0]:
            gh = g2 * self.w.reshape(-1) if self.w is not None else g2
            proj = xp.einsum("ij,ij->i", gh, xhat)[:, None] / max(d, 1)  # mean(ĝ ⊙ x̂)
            gx = ((gh - xhat * proj) * self.rstd).reshape(self.shape).astype(self.dtype, copy=False)
        return gx, gw


class BatchNorm(Function):
    """y = (x - μ_c)/σ_c · w_c + b_c per channel c (axis 1), σ = sqrt(var + eps).

    Training: μ, var (biased) are the batch's, over every axis but the channels; the
    gradient is LayerNorm's with the axes swapped: with x̂ = (x - μ)/σ and ĝ = g·w,
        dx = (ĝ - mean(ĝ) - x̂ · mean(ĝ ⊙ x̂)) / σ   (means over N and the spatial axes).
    Eval: μ, var are fixed (the running estimates), so dx = ĝ / σ. Both: dw = Σ g ⊙ x̂, db = Σ g.
    ``stats`` (training only) receives the batch mean and unbiased variance for the running estimates.
    """

    saves_inputs = False  # x̂ is its own array

    def forward(self, x, w=None, b=None, mean=None, var=None, eps=1e-5, stats=None):
        self.axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        self.training = mean is None
        if self.training:
            mean = x.mean(axis=self.axes, keepdims=True)
            xhat = x - mean
            var = xp.mean(xhat * xhat, axis=self.axes, keepdims=True)
            n = x.size // x.shape[1]
            stats.extend([mean.reshape(-1), var.reshape(-1) * (n / (n - 1))])
        else:
            mean, var = mean.reshape(shape), var.reshape(shape)
            xhat = x - mean
        self.rstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat *= self.rstd
        self.xhat, self.w = xhat, w
        y = xhat * w.reshape(shape) if w is not None else xhat.copy()
        if b is not None:
            y += b.reshape(shape)
        return y

    def backward(self, g):
        xhat, axes = self.xhat, self.axes
        gx = gw = gb = None
        if self.w is not None and self.needs_grad[1]:
            gw = (g * xhat).sum(axis=axes)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = g.sum(axis=axes)
        if self.needs_grad[0]:
            gh = g * self.w.reshape(self.rstd.shape) if self.w is not None else g.copy()
            if self.training:
                proj = xp.mean(gh * xhat, axis=axes, keepdims=True)
                gh -= gh.mean(axis=axes, keepdims=True)
                gh -= xhat * proj
            gh *= self.rstd
            gx = gh
        return gx, gw, gb


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """PyTorch's ``F.batch_norm``: normalise each channel (dim 1) of ``input`` (N, C, ...).

    ``training=True`` uses the batch's statistics and, where running buffers are given, updates them
    in place: running = (1 - momentum)·running + momentum·batch (unbiased variance, as PyTorch);
    ``training=False`` uses the running buffers."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, ...), got shape {tuple(input.shape)}")
    _float_input(input, "batch_norm")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input {tuple(input.shape)}, "
                             f"got {tuple(t.shape)}")
    if (weight is None) != (bias is None):  # one affine half given: the other is its identity (a constant)
        weight = weight if weight is not None else Tensor(xp.ones(c, dtype=input.dtype), _internal=True)
        bias = bias if bias is not None else Tensor(xp.zeros(c, dtype=input.dtype), _internal=True)
    args = (input,) if weight is None else (input, weight, bias)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        return BatchNorm.apply(*args, mean=running_mean.array, var=running_var.array, eps=eps)
    if input.numel() // max(c, 1) < 2:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                         f"shape {tuple(input.shape)}; use a larger batch or call .eval()")
    stats = []
    y = BatchNorm.apply(*args, eps=eps, stats=stats)
    for buf, new in ((running_mean, stats[0]), (running_var, stats[1])):
        if buf is not None:  # in place, as PyTorch: whoever holds the buffer sees the update
            buf.array *= 1 - momentum
            buf.array += momentum * new.astype(buf.dtype, copy=False)
            buf._version.n += 1
    return y


class Dropout(Function):
    """Zero each element with probability p and scale the rest by 1/(1-p), so the
    expected value is unchanged; backward applies the same mask."""

    def forward(self, x, p):
        keep = backend.rng().random(x.shape, dtype=xp.float32) >= p
        self.mask = keep.astype(x.dtype) * (1.0 / (1.0 - p))
        return x * self.mask

    def backward(self, g):
        return g * self.mask


class Embedding(Function):
    """out[...] = W[ids[...]]: a row lookup. Backward adds each output gradient
    into the row it came from (scatter-add: a word seen twice gets both)."""

    def forward(self, ids, w, padding_idx=None):
        self.ids, self.wshape, self.padding_idx = ids, w.shape, padding_idx
        return w[ids]

    def backward(self, g):
        gw = xp.zeros(self.wshape, dtype=g.dtype)
        backend.scatter_add(gw, self.ids.reshape(-1), g.reshape(-1, self.wshape[1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return None, gw


# ---------------------------------------------------------------- public functions
def _float_input(z, op, what="input"):
    if z.dtype.kind != "f":  # exp/log of integers would round every probability to 0 or 1
        raise TypeError(f"{op}: {what} must be floating point, got dtype {z.dtype}; convert with .float()")


def _check_reduction(reduction, op):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _dim_ok(z, dim, op):
    _float_input(z, op)
    if dim is None:
        raise TypeError(f"{op}() needs dim=: PyTorch's implicit choice of dimension is deprecated and picks "
                        "dim 0 or 1 by the tensor's rank; write e.g. dim=-1 for the last axis")
    if not -z.ndim <= dim < z.ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {z.shape}")
    return dim % z.ndim


def softmax(input, dim=None):
    return Softmax.apply(input, dim=_dim_ok(input, dim, "softmax"))


def log_softmax(input, dim=None):
    return LogSoftmax.apply(input, dim=_dim_ok(input, dim, "log_softmax"))


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``input`` (N, C) — or (N, C, d1, ...) — against class ids ``target`` (N[, d1, ...])."""
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:  # also refuses NaN
        raise RuntimeError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must hold class scores, shape (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    _float_input(input, "cross_entropy", "input (logits)")
    t = as_array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class ids, got dtype {t.dtype}")
    z = input
    if input.ndim > 2:  # (N, C, d...) -> (N·d..., C), as PyTorch accepts
        z = input.permute(0, *range(2, input.ndim), 1).reshape(-1, input.shape[1])
    elif input.ndim == 1:
        z = input.reshape(1, -1)
    expected = (input.shape[0],) + input.shape[2:] if input.ndim > 1 else ()
    if t.shape != expected:
        raise ValueError(f"cross_entropy: target shape {tuple(t.shape)} does not match input shape "
                         f"{input.shape} (expected target shape {expected})")
    t = t.reshape(-1)
    c = z.shape[1]
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bool(bad.any()):
        v = int(t[bad][0])
        raise IndexError(f"cross_entropy: target {v} is out of range for {c} classes "
                         f"(valid ids are 0..{c - 1}, or ignore_index={ignore_index})")
    out = CrossEntropy.apply(z, Tensor(t, _internal=True), ignore_index=ignore_index, reduction=reduction,
                             label_smoothing=float(label_smoothing))
    return out.reshape(expected) if reduction == "none" and input.ndim != 2 else out


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    if tuple(getattr(target, "shape", ())) != input.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target shape {getattr(target, 'shape', None)} "
                         f"differs from input shape {input.shape}")
    return BCEWithLogits.apply(input, target, reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    _check_reduction(reduction, "mse_loss")
    if isinstance(target, Tensor) and target.shape != input.shape:
        # PyTorch warns and broadcasts; a (N, 1) prediction against (N,) targets
        # becomes an (N, N) loss that still trains, just wrongly, so say so.
        both = broadcast_shapes(input.shape, target.shape)
        if both is None:
            raise ValueError(f"mse_loss: target shape {target.shape} does not broadcast with input shape "
                             f"{input.shape}; give the target the input's shape")
        warnings.warn(f"mse_loss: using a target size {target.shape} that is different to the input size "
                      f"{input.shape} will likely give wrong results, as broadcasting takes the loss over "
                      f"shape {both}; give both the same shape", UserWarning, stacklevel=2)
    return MSELoss.apply(input, target, reduction=reduction)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape:  # shape[-0:] would be the whole shape
        raise ValueError("layer_norm: normalized_shape must name at least one dimension, e.g. the last one, "
                         "input.shape[-1:]")
    if input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input shape {input.shape} does not end with normalized_shape {shape}")
    args = [input] + [t for t in (weight, bias) if t is not None]
    if weight is None and bias is not None:
        raise ValueError("layer_norm: a bias without a weight is not supported")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} shape {tuple(t.shape)} must equal normalized_shape {shape}")
    return LayerNorm.apply(*args, k=len(shape), eps=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square norm (RMSNorm; Llama's norm), as ``torch.nn.functional.rms_norm``.

        y = x / sqrt(mean(x²) + eps) · weight        mean over the last len(normalized_shape) dims

    LayerNorm without the mean subtraction and the bias: it only rescales. ``eps=None``
    takes the machine epsilon of the input's dtype (PyTorch's default)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(f"rms_norm: input shape {tuple(input.shape)} does not end with normalized_shape {shape}")
    if weight is not None and tuple(weight.shape) != shape:
        raise ValueError(f"rms_norm: weight shape {tuple(weight.shape)} must equal normalized_shape {shape}")
    eps = float(xp.finfo(input.dtype).eps) if eps is None else eps
    args = [input] if weight is None else [input, weight]
    return RMSNorm.apply(*args, k=len(shape), eps=eps)


def dropout(input, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return Dropout.apply(input, p=p)


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (V, D) picked by integer ids ``input`` (any shape) -> (*input.shape, D)."""
    ids = as_array(input)
    v = weight.shape[0]
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {ids.dtype} "
                        f"(e.g. value {ids.reshape(-1)[:1].tolist()}); convert with .long()")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= v):
        badv = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise IndexError(f"embedding: id {badv} is out of range for a vocabulary of size {v} (valid ids are 0..{v - 1})")
    return Embedding.apply(Tensor(ids, _internal=True), weight, padding_idx=padding_idx)


# ---------------------------------------------------------------- more activations, losses, pad, normalize
class SiLU(Function):
    """y = x·σ(x) (swish);  dy/dx = σ(x) + x·σ(x)(1 - σ(x)) = σ(x)(1 + x(1 - σ(x)))."""

    def forward(self, x):
        e = xp.exp(-xp.abs(x))  # σ without overflow, as Sigmoid does
        self.x, self.sig = x, xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return x * self.sig

    def backward(self, g):
        return g * self.sig * (1 + self.x * (1 - self.sig))


class LeakyReLU(Function):
    """y = x for x > 0, slope·x otherwise;  dy/dx = 1 or slope (slope at 0, as PyTorch)."""

    def forward(self, x, slope):
        self.pos, self.slope = x > 0, slope
        return xp.where(self.pos, x, x * xp.asarray(slope, dtype=x.dtype))

    def backward(self, g):
        return xp.where(self.pos, g, g * xp.asarray(self.slope, dtype=g.dtype))


class BinaryCrossEntropy(Function):
    """Probabilities p, targets t:  loss = -w (t·log p + (1 - t)·log(1 - p)), each log clamped at ≥ -100.

    dloss/dp = w (p - t) / max(p(1 - p), 1e-12)   (PyTorch's formula, finite at p = 0 or 1)
    dloss/dt = w (log(1 - p) - log p)            (unclamped, as PyTorch)
    """

    def forward(self, p, t, w, reduction):
        self.p, self.t, self.w, self.reduction = p, t, w, reduction
        with _quiet():
            loss = -(t * xp.maximum(xp.log(p), -100) + (1 - t) * xp.maximum(xp.log1p(-p), -100))
        return _reduce(loss * w, reduction)

    def backward(self, g):
        p, t, w = self.p, self.t, self.w
        d = _unreduce_scale(g, p, self.reduction) * w
        gp = d * (p - t) / xp.maximum(p * (1 - p), 1e-12)
        with _quiet():
            gt = d * (xp.log1p(-p) - xp.log(p)) if self.needs_grad[1] else None
        return gp, gt, None


def _quiet():
    """Silence NumPy's divide-by-zero warning where ±inf is the intended value (log 0)."""
    import contextlib
    return xp.errstate(divide="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


class SoftTargetCrossEntropy(Function):
    """Logits z (N, C) against class probabilities q (N, C), optional class weights w (C,):

        loss_i = -Σ_c w_c q_ic log softmax(z_i)_c,
        dloss_i/dz_i = (Σ_c w_c q_ic) softmax(z_i) - w ⊙ q_i,
        dloss_i/dq_ic = -w_c log softmax(z_i)_c.

    ``mean`` divides by N (PyTorch's rule for probability targets).
    """

    def forward(self, z, q, w, reduction):
        self.logp = _log_softmax(z, 1)
        self.wq, self.w, self.reduction = w * q, w, reduction
        loss = -(self.wq * self.logp).sum(axis=1)
        return _reduce(loss, reduction)

    def backward(self, g):
        scale = _unreduce_scale(g, self.logp[:, 0], self.reduction)
        scale = (scale[:, None] if getattr(scale, "ndim", 0) else scale)
        gz = scale * (self.wq.sum(axis=1, keepdims=True) * xp.exp(self.logp) - self.wq)
        gq = -scale * self.w * self.logp if self.needs_grad[1] else None
        # a float64 target with float32 logits gives a float64 loss (PyTorch's promotion); each
        # gradient keeps its own input's dtype
        return gz.astype(self.logp.dtype, copy=False), (None if gq is None else gq.astype(self.wq.dtype)), None


class Pad(Function):
    """Constant padding: out = value everywhere, with x copied into its region.

    A negative pad crops. Backward hands back the region of the gradient that x filled."""

    def forward(self, x, pad, value):
        out_shape, src, dst = list(x.shape), [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for i in range(len(pad) // 2):  # pairs from the last dim backwards, as PyTorch
            d = x.ndim - 1 - i
            lo, hi, n = pad[2 * i], pad[2 * i + 1], x.shape[d]
            out_shape[d] = n + lo + hi
            if out_shape[d] < 0:
                raise RuntimeError(f"pad: the padding {pad} would make dim {d} of an input of shape "
                                   f"{tuple(x.shape)} negative")
            src[d] = slice(max(-lo, 0), max(n - max(-hi, 0), max(-lo, 0)))
            kept = src[d].stop - src[d].start
            dst[d] = slice(max(lo, 0), max(lo, 0) + kept)
        self.src, self.dst, self.shape = tuple(src), tuple(dst), x.shape
        out = xp.full(out_shape, value, dtype=x.dtype)
        out[self.dst] = x[self.src]
        return out

    def backward(self, g):
        gx = xp.zeros(self.shape, dtype=g.dtype)
        gx[self.src] = g[self.dst]
        return gx


class Normalize(Function):
    """y = x / max(‖x‖₂, eps) along ``dim``.

    With n = ‖x‖ > eps:  dy/dx · g = (g - y (g·y)) / n  (the gradient's part along y is removed);
    with n ≤ eps the denominator is the constant eps:  g / eps."""

    def forward(self, x, dim, eps):
        n = xp.sqrt((x * x).sum(axis=dim, keepdims=True))
        self.dim, self.big, self.den = dim, n > eps, xp.maximum(n, eps)
        self.y = x / self.den
        return self.y

    def backward(self, g):
        proj = xp.where(self.big, (g * self.y).sum(axis=self.dim, keepdims=True), 0)
        return (g - self.y * proj) / self.den


def silu(input, inplace=False):
    return _maybe_inplace(input, inplace, SiLU.apply)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _maybe_inplace(input, inplace, lambda x: LeakyReLU.apply(x, slope=negative_slope))


def _maybe_inplace(x, inplace, fn):
    """``inplace=True`` writes the result into ``x`` itself (PyTorch's semantics, version counter included)."""
    return x._inplace(fn) if inplace else fn(x)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities ``input`` (after a sigmoid) against targets in [0, 1].

    Each log is clamped at -100 (PyTorch's rule), so p = 0 with t = 1 costs 100, not inf.
    For logits, :func:`binary_cross_entropy_with_logits` is the stable choice."""
    reduction = _legacy_reduction("binary_cross_entropy", size_average, reduce, reduction)
    t = target if isinstance(target, Tensor) else Tensor(xp.asarray(target, dtype=input.dtype), _internal=True)
    if t.shape != input.shape:
        raise ValueError(f"Using a target size ({t.shape}) that is different to the input size ({input.shape}) "
                         "is deprecated. Please ensure they have the same size.")
    p = input.array
    if p.size and not bool(((p >= 0) & (p <= 1)).all()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    w = _constant_weight("binary_cross_entropy", weight, input.dtype)
    if len(w.shape) > p.ndim or any(a not in (1, b) for a, b in zip(w.shape[::-1], p.shape[::-1])):
        raise RuntimeError(f"binary_cross_entropy: weight of shape {w.shape} does not broadcast to the input's "
                           f"shape {input.shape}")
    return BinaryCrossEntropy.apply(input, t, w, reduction=reduction)


def _legacy_reduction(op, size_average, reduce, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if size_average is not None or reduce is not None:
        raise TypeError(f"{op}: size_average= and reduce= are PyTorch's deprecated spellings; write "
                        "reduction='mean', 'sum' or 'none'")
    return reduction


def _constant_weight(op, weight, dtype):
    if weight is None:
        return Tensor(xp.ones((), dtype=dtype), _internal=True)
    if isinstance(weight, Tensor) and weight.requires_grad:
        raise NotImplementedError(f"{op}: a weight that requires grad is not supported (PyTorch has no "
                                  "derivative for it either); pass weight.detach()")
    return weight if isinstance(weight, Tensor) else Tensor(xp.asarray(weight, dtype=dtype), _internal=True)


def cross_entropy_probs(input, target, weight=None, reduction="mean", label_smoothing=0.0):
    """Cross-entropy against class probabilities ``target`` of ``input``'s shape ((N, C) or (N, C, d...))."""
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    q = target
    if label_smoothing:
        q = q * (1 - label_smoothing) + label_smoothing / c
    z = input
    if input.ndim > 2:  # (N, C, d...) -> (N·d..., C), the class axis last
        perm = (0, *range(2, input.ndim), 1)
        z, q = input.permute(*perm).reshape(-1, c), q.permute(*perm).reshape(-1, c)
    elif input.ndim == 1:
        z, q = input.reshape(1, -1), q.reshape(1, -1)
    w = _constant_weight("cross_entropy", weight, input.dtype)
    out = SoftTargetCrossEntropy.apply(z, q, w, reduction=reduction)
    if reduction == "none":
        return out.reshape((input.shape[0],) + input.shape[2:] if input.ndim > 1 else ())
    return out


def pad(input, pad, mode="constant", value=None):
    """Pad (or, with negative amounts, crop) the last ``len(pad) // 2`` dims:
    ``pad = (left, right)`` for the last dim, then ``(top, bottom)`` for the one before, ..."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got mode={mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    return Pad.apply(input, pad=pad, value=0 if value is None else value)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """Scale vectors along ``dim`` to unit L2 length: x / max(‖x‖₂, eps)."""
    if p != 2:
        raise NotImplementedError(f"normalize: only p=2 is implemented, got p={p}; for other p write "
                                  "x / x.abs().pow(p).sum(dim, keepdim=True).pow(1 / p).clamp(min=eps)")
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; assign the result instead")
    return Normalize.apply(input, dim=dim % input.ndim, eps=eps)
