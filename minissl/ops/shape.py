"""Ops that move values around without computing new ones.

Their backward passes move the gradient back the same way: a reshape is undone
by reshaping, a transpose by the inverse permutation, indexing by scattering
(adding) the gradient into a zero array at the same indices, concatenation by
slicing.
"""
from __future__ import annotations

from .. import backend
from ..backend import xp
from ..tensor import Function, Tensor


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view shape {tuple(a.shape)} ({a.size} elements) as {tuple(shape)}") from None

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    def forward(self, a, dims):
        self.dims = dims
        return a.transpose(dims)

    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.transpose(inverse)


class Expand(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return xp.broadcast_to(a, shape)

    def backward(self, g):
        from ..tensor import sum_to
        return sum_to(g, self.shape)


def _has_array(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(backend.is_array(p) or isinstance(p, (list, Tensor)) for p in parts)


def _plain_index(idx):
    """Turn Tensors and lists inside an index into backend arrays."""
    def conv(p):
        if isinstance(p, Tensor):
            return p.data
        if isinstance(p, list):
            return xp.asarray(p)
        return p
    return tuple(conv(p) for p in idx) if isinstance(idx, tuple) else conv(idx)


class GetItem(Function):
    """out = a[idx]; backward scatters: grad[idx] += g (repeated indices add up)."""

    def forward(self, a, idx):
        self.shape, self.dtype, self.idx = a.shape, a.dtype, idx
        return a[idx]

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        if _has_array(self.idx):
            backend.scatter_add(out, self.idx, g)
        else:  # basic slicing never repeats an element: plain assignment
            out[self.idx] = g
        return out


class Cat(Function):
    def forward(self, *arrays, dim):
        self.dim, self.sizes = dim, [a.shape[dim] for a in arrays]
        return xp.concatenate(arrays, axis=dim)

    def backward(self, g):
        bounds = [sum(self.sizes[:i + 1]) for i in range(len(self.sizes) - 1)]
        return tuple(xp.split(g, bounds, axis=self.dim))


class Stack(Function):
    def forward(self, *arrays, dim):
        self.dim = dim
        return xp.stack(arrays, axis=dim)

    def backward(self, g):
        return tuple(xp.moveaxis(g, self.dim, 0))


class Where(Function):
    """out = cond ? a : b. The gradient goes to whichever side was picked."""

    def forward(self, cond, a, b):
        self.cond, self.sa, self.sb = cond, a.shape, b.shape
        return xp.where(cond, a, b)

    def backward(self, g):
        from ..tensor import sum_to
        zero = xp.zeros((), dtype=g.dtype)
        ga = sum_to(xp.where(self.cond, g, zero), self.sa) if self.needs_grad[1] else None
        gb = sum_to(xp.where(self.cond, zero, g), self.sb) if self.needs_grad[2] else None
        return None, ga, gb


# ---------------------------------------------------------------- public functions
def reshape(a, *shape):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(a, shape=tuple(shape))


def _dim(d, ndim, op):
    if not -ndim <= d < max(ndim, 1):
        raise IndexError(f"{op}: dimension {d} is out of range for a tensor with {ndim} dimensions")
    return d % max(ndim, 1)


def permute(a, *dims):
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    if sorted(_dim(d, a.ndim, "permute") for d in dims) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} dimensions of shape {a.shape}")
    return Permute.apply(a, dims=tuple(_dim(d, a.ndim, "permute") for d in dims))


def transpose(a, dim0, dim1):
    dims = list(range(a.ndim))
    i, j = _dim(dim0, a.ndim, "transpose"), _dim(dim1, a.ndim, "transpose")
    dims[i], dims[j] = dims[j], dims[i]
    return Permute.apply(a, dims=tuple(dims))


def unsqueeze(a, dim):
    d = dim if dim >= 0 else dim + a.ndim + 1
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def squeeze(a, dim=None):
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    d = _dim(dim, a.ndim, "squeeze")
    return a if a.shape[d] != 1 else reshape(a, a.shape[:d] + a.shape[d + 1:])


def expand(a, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    shape = tuple(n if s == -1 else s for s, n in zip(shape, (1,) * (len(shape) - a.ndim) + a.shape))
    return Expand.apply(a, shape=shape)


def getitem(a, idx):
    return GetItem.apply(a, idx=_plain_index(idx))


def cat(tensors, dim=0):
    tensors = list(tensors)
    return Cat.apply(*tensors, dim=_dim(dim, tensors[0].ndim, "cat"))


def stack(tensors, dim=0):
    tensors = list(tensors)
    return Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def split(a, split_size_or_sections, dim=0):
    """Split along ``dim`` into chunks of a given size (or a list of sizes), as torch.split."""
    d = _dim(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, but dimension {dim} has {n}")
    out, start = [], 0
    for s in sizes:
        idx = (slice(None),) * d + (slice(start, start + s),)
        out.append(getitem(a, idx))
        start += s
    return tuple(out)


def _mask(cond):
    return cond.data if isinstance(cond, Tensor) else xp.asarray(cond)


def where(condition, input, other):
    return Where.apply(Tensor(_mask(condition), _internal=True), input, other)


def masked_fill(a, mask, value):
    """Copy of ``a`` with ``value`` where ``mask`` is True (mask broadcasts to a)."""
    m = _mask(mask)
    if m.dtype != xp.bool_:
        raise TypeError(f"masked_fill: the mask must be boolean, got {m.dtype}")
    fill = xp.asarray(value, dtype=a.dtype)
    return Where.apply(Tensor(m, _internal=True), Tensor(fill, _internal=True), a)
