"""Reductions: sum, mean, max, var over any dims, with ``keepdim`` as in PyTorch.

The backward of a reduction spreads the gradient back over the reduced axes:
``sum`` copies it to every element, ``mean`` copies it divided by the count,
``max`` sends it to the element(s) that were the maximum (split evenly on ties,
as ``torch.amax``), ``var`` uses d var/dx_i = 2 (x_i - mean) / (n - correction).
"""
from __future__ import annotations

import builtins
from collections import namedtuple

from ..backend import xp
from ..tensor import Function, Tensor

# what torch.max(x, dim) returns: a named pair, so both `values, indices = ...` and `.indices` work
MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _axes(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -ndim <= d < builtins.max(ndim, 1):
            raise IndexError(f"dimension {d} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(d % builtins.max(ndim, 1) for d in dims))


def _nonempty(a, axes, name):
    """max/min/argmax/argmin have no answer over an empty dimension (sum and mean do: 0 and NaN)."""
    if builtins.any(a.shape[d] == 0 for d in axes):
        raise IndexError(f"{name}(): cannot reduce over an empty dimension of a tensor of shape {a.shape}; "
                         "give dim= a dimension of non-zero size")
    return axes


def _unreduce(g, shape, axes, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if not keepdim:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g


class Sum(Function):
    saves_inputs = False
    def forward(self, a, axes, keepdim):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, g):
        return xp.broadcast_to(_unreduce(g, self.shape, self.axes, self.keepdim), self.shape).copy()


class Mean(Function):
    saves_inputs = False
    def forward(self, a, axes, keepdim):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.n = 1
        for ax in axes:
            self.n *= a.shape[ax]
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, g):
        g = _unreduce(g, self.shape, self.axes, self.keepdim) / self.n
        return xp.broadcast_to(g, self.shape).copy()


class Max(Function):
    sign = 1

    def forward(self, a, axes, keepdim):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        m = a.max(axis=axes, keepdims=True) if self.sign > 0 else a.min(axis=axes, keepdims=True)
        self.hit = a == m
        return m if keepdim else m.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def backward(self, g):
        hit = self.hit
        count = hit.sum(axis=self.axes, keepdims=True)
        return _unreduce(g, self.shape, self.axes, self.keepdim) * hit / count


class Min(Max):
    sign = -1


class Var(Function):
    def forward(self, a, axes, keepdim, correction):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        n = 1
        for ax in axes:
            n *= a.shape[ax]
        self.denom = builtins.max(n - correction, 0)
        self.centered = a - a.mean(axis=axes, keepdims=True)
        return (self.centered ** 2).sum(axis=axes, keepdims=keepdim) / self.denom

    def backward(self, g):
        return _unreduce(g, self.shape, self.axes, self.keepdim) * (2 / self.denom) * self.centered


def sum(a, dim=None, keepdim=False):  # noqa: A001 - mirrors torch.sum
    return Sum.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


def mean(a, dim=None, keepdim=False):
    if a.dtype.kind != "f":
        raise TypeError(f"mean needs a floating-point tensor, got {a.dtype}; call .float() first")
    return Mean.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim)


def amax(a, dim=None, keepdim=False):
    """The maximum over ``dim`` (one or several dims); on ties the gradient is split evenly."""
    return Max.apply(a, axes=_nonempty(a, _axes(dim, a.ndim), "max"), keepdim=keepdim)


def amin(a, dim=None, keepdim=False):
    return Min.apply(a, axes=_nonempty(a, _axes(dim, a.ndim), "min"), keepdim=keepdim)


def _max_min(a, dim, keepdim, other, largest):
    name = "max" if largest else "min"
    if isinstance(dim, Tensor) or other is not None:  # torch.max(a, b): element-wise
        from .math import maximum, minimum
        return (maximum if largest else minimum)(a, dim if other is None else other)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): keepdim needs dim=")
        return amax(a) if largest else amin(a)
    if not isinstance(dim, int):
        raise TypeError(f"{name}(dim) takes one int dim, got {dim!r}; for several dims use amax/amin")
    _nonempty(a, _axes(dim, a.ndim), name)
    idx = (argmax if largest else argmin)(a, dim, keepdim=True)
    from .shape import gather, squeeze
    values = gather(a, dim, idx)  # the gradient goes to the one picked element, as in PyTorch
    if not keepdim:
        values, idx = squeeze(values, dim), squeeze(idx, dim)
    return MaxMin(values, idx)


def max(a, dim=None, keepdim=False, *, other=None):  # noqa: A001
    """``max(a)``: the largest value; ``max(a, dim)``: a named pair ``(values, indices)``;
    ``max(a, b)``: the element-wise maximum. As ``torch.max``."""
    return _max_min(a, dim, keepdim, other, True)


def min(a, dim=None, keepdim=False, *, other=None):  # noqa: A001
    return _max_min(a, dim, keepdim, other, False)


def _arg(a, dim, keepdim, f, name):
    _nonempty(a, _axes(dim, a.ndim), name)
    if dim is None:  # an index into the flattened tensor
        return Tensor(xp.asarray(f(a.array)).reshape((1,) * a.ndim if keepdim else ()), _internal=True)
    return Tensor(f(a.array, axis=_axes(dim, a.ndim)[0], keepdims=keepdim), _internal=True)


def argmax(a, dim=None, keepdim=False):
    """Index of the (first) largest value over ``dim``, or in the flattened tensor when ``dim`` is None."""
    return _arg(a, dim, keepdim, xp.argmax, "argmax")


def argmin(a, dim=None, keepdim=False):
    return _arg(a, dim, keepdim, xp.argmin, "argmin")


def all(a, dim=None, keepdim=False):  # noqa: A001
    return Tensor(xp.asarray(a.array.astype(bool).all(axis=None if dim is None else _axes(dim, a.ndim),
                                                     keepdims=keepdim)), _internal=True)


def any(a, dim=None, keepdim=False):  # noqa: A001
    return Tensor(xp.asarray(a.array.astype(bool).any(axis=None if dim is None else _axes(dim, a.ndim),
                                                     keepdims=keepdim)), _internal=True)


def var(a, dim=None, keepdim=False, correction=1, unbiased=None):
    """Variance; ``correction=1`` (the default, as in PyTorch) divides by n - 1."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return Var.apply(a, axes=_axes(dim, a.ndim), keepdim=keepdim, correction=correction)
