"""Ops that move values around without computing new ones.

Their backward passes move the gradient back the same way: a reshape is undone
by reshaping, a transpose by the inverse permutation, indexing by scattering
(adding) the gradient into a zero array at the same indices, concatenation by
slicing.
"""
from __future__ import annotations

from collections import namedtuple

from .. import backend
from ..backend import xp
from ..tensor import Function, Tensor, as_array, broadcast_shapes


class Reshape(Function):
    saves_inputs, is_view = False, True

    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view shape {tuple(a.shape)} ({a.size} elements) as {tuple(shape)}") from None

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    saves_inputs, is_view = False, True

    def forward(self, a, dims):
        self.dims = dims
        return a.transpose(dims)

    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.transpose(inverse)


class Expand(Function):
    saves_inputs, is_view = False, True

    def forward(self, a, shape):
        self.shape = a.shape
        return xp.broadcast_to(a, shape)

    def backward(self, g):
        from ..tensor import sum_to
        return sum_to(g, self.shape)


def _has_array(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(backend.is_array(p) or isinstance(p, (list, Tensor)) for p in parts)


class _TwoSteps:
    """An index that mixes integers with advanced (array) indices, applied as PyTorch does.

    NumPy counts an integer as an advanced index, so in ``x[0, :, [0, 1]]`` the two are
    "separated by a slice" and the result's advanced dimension goes first: shape (2, 3).
    PyTorch first takes the integers away (``x[0]``, a view) and then indexes the rest:
    ``x[0][:, [0, 1]]``, shape (3, 2). ``first`` is that basic step (arrays replaced by
    full slices), ``second`` the advanced step on its result (integers gone, every other
    entry a full slice)."""

    def __init__(self, parts):
        first, second = [], []
        for p in parts:
            if backend.is_array(p):
                first += [slice(None)] * (p.ndim if p.dtype == bool else 1)
                second.append(p)
            elif p is None:
                first.append(None)
                second.append(slice(None))
            elif p is Ellipsis:
                first.append(p)
                second.append(p)
            elif isinstance(p, slice):
                first.append(p)
                second.append(slice(None))
            else:  # an integer: gone after the first step
                first.append(p)
        self.first, self.second = tuple(first), tuple(second)


def _get(a, idx):
    return a[idx.first][idx.second] if isinstance(idx, _TwoSteps) else a[idx]


def _set(a, idx, v):
    """``a[idx] = v`` in place (the first of two steps is a view of ``a``, so the second writes into it)."""
    if isinstance(idx, _TwoSteps):
        a[idx.first][idx.second] = v
    else:
        a[idx] = v


def _plain_index(idx):
    """Turn Tensors and lists inside an index into backend arrays, with PyTorch's rules where NumPy's differ."""
    def conv(p):
        if isinstance(p, Tensor):
            p = p.array
        elif isinstance(p, list):
            p = xp.asarray(p)
        if backend.is_array(p) and p.ndim == 0 and p.dtype.kind in "iu":
            return p.item()  # a 0-d integer tensor indexes like an int, as in PyTorch (a view, not a copy)
        return p
    if not isinstance(idx, tuple):
        return conv(idx)
    parts = tuple(conv(p) for p in idx)
    has_int = has_array = False
    for p in parts:
        if backend.is_array(p):
            has_array = True
        elif isinstance(p, (int, backend.numpy.integer)) and not isinstance(p, bool):
            has_int = True
    return _TwoSteps(parts) if has_int and has_array else parts


class GetItem(Function):
    """out = a[idx]; backward scatters: grad[idx] += g (repeated indices add up)."""

    saves_inputs, is_view = False, True

    def forward(self, a, idx):
        self.shape, self.dtype, self.idx = a.shape, a.dtype, idx
        out = _get(a, idx)
        if isinstance(out, backend.numpy.generic):
            # one element picked by integers: NumPy copies it out as a scalar, PyTorch gives a 0-d
            # view (x[0] += 1 changes x); a trailing ... makes NumPy return that view too
            out = a[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
        return out

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        idx = self.idx
        if isinstance(idx, _TwoSteps):
            backend.scatter_add(out[idx.first], idx.second, g)
        elif _has_array(idx):
            backend.scatter_add(out, idx, g)
        else:  # basic slicing never repeats an element: plain assignment
            out[idx] = g
        return out


class Cat(Function):
    saves_inputs = False

    def forward(self, *arrays, dim, skip=()):
        # skip[i]: a legacy 1-D empty input that takes no part (see cat); its gradient is empty
        self.dim, self.skip = dim, skip or (False,) * len(arrays)
        if skip:
            arrays = [a for a, s in zip(arrays, skip) if not s]
        self.sizes = [a.shape[dim] for a in arrays]
        return xp.concatenate(arrays, axis=dim)

    def backward(self, g):
        bounds = [sum(self.sizes[:i + 1]) for i in range(len(self.sizes) - 1)]
        parts = iter(xp.split(g, bounds, axis=self.dim))
        return tuple(xp.zeros((0,), g.dtype) if s else next(parts) for s in self.skip)


class Stack(Function):
    saves_inputs = False

    def forward(self, *arrays, dim):
        self.dim = dim
        return xp.stack(arrays, axis=dim)

    def backward(self, g):
        return tuple(xp.moveaxis(g, self.dim, 0))


class IndexPut(Function):
    """out = a with out[idx] = v. The gradient of ``a`` is g with the written places zeroed;
    ``v`` gets g[idx] (summed back over broadcasting)."""

    saves_inputs = False

    def forward(self, a, v, idx):
        self.idx, self.sv = idx, v.shape
        # PyTorch drops a value's leading dims of size 1 first (x[0, 0] = ones(1) works; NumPy refuses)
        lead = 0
        while lead < v.ndim and v.shape[lead] == 1:
            lead += 1
        self.stripped = v.shape[lead:]
        out = a.copy()
        _set(out, idx, v.reshape(self.stripped) if lead else v)
        return out

    def backward(self, g):
        ga = None
        if self.needs_grad[0]:
            ga = g.copy()
            _set(ga, self.idx, 0)
        gv = None
        if self.needs_grad[1]:
            from ..tensor import sum_to
            gv = sum_to(_get(g, self.idx), self.stripped).reshape(self.sv)
        return ga, gv


class Gather(Function):
    """out[i][j][k] = a[i][index[i][j][k]][k] along ``dim`` (``torch.gather``); backward scatters g back."""

    def forward(self, a, index, dim):
        self.shape, self.dim = a.shape, dim
        self.full = _along(index, dim)
        return a[self.full]

    def backward(self, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        backend.scatter_add(out, self.full, g)
        return out, None


def _along(index, dim):
    """The advanced index that picks ``index``'s entries along ``dim`` and keeps every other axis."""
    parts = []
    for ax, n in enumerate(index.shape):
        if ax == dim:
            parts.append(index)
        else:
            parts.append(xp.arange(n).reshape([-1 if a == ax else 1 for a in range(index.ndim)]))
    return tuple(parts)


class Where(Function):
    """out = cond ? a : b. The gradient goes to whichever side was picked."""

    def saved_inputs(self):  # backward reads the condition only: a and b may change in place afterwards
        return (0,)

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
    if not -a.ndim - 1 <= dim <= a.ndim:  # the new axis may go anywhere from 0 to ndim
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of shape {a.shape} "
                         f"(valid: {-a.ndim - 1}..{a.ndim})")
    d = dim % (a.ndim + 1)
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def squeeze(a, dim=None):
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    d = _dim(dim, a.ndim, "squeeze")
    return a if a.shape[d] != 1 else reshape(a, a.shape[:d] + a.shape[d + 1:])


def expand(a, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    asked = shape
    shape = tuple(n if s == -1 else s for s, n in zip(shape, (1,) * (len(shape) - a.ndim) + a.shape))
    if len(shape) < a.ndim or broadcast_shapes(a.shape, shape) != shape:
        raise ValueError(f"expand: cannot expand shape {a.shape} to {tuple(asked)}; only dimensions of size 1 can "
                         "grow (new ones go in front), and -1 keeps a size")
    return Expand.apply(a, shape=shape)


def getitem(a, idx):
    return GetItem.apply(a, idx=_plain_index(idx))


def _joinable(tensors, op):
    """The checks torch.cat/stack make before joining: a non-empty list of
    tensors, brought to one dtype by PyTorch's promotion (NumPy's would turn
    float32 + int64 into float64)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}(): expected a non-empty list of Tensors")
    dtypes = set()
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected a list of Tensors, but element {i} is a {type(t).__name__}")
        dtypes.add(t.array.dtype)
    if len(dtypes) > 1:
        from .math import _as, result_type
        dtype = result_type(*tensors)
        tensors = [_as(t, dtype) for t in tensors]
    return tensors


def cat(tensors, dim=0):
    tensors = _joinable(tensors, "cat")
    shapes = [t.array.shape for t in tensors]  # read once: cat runs per token in a KV cache
    r, skip = 0, ()
    if (0,) in shapes:
        # PyTorch's legacy rule: a 1-D empty tensor may join a cat of any rank and adds nothing
        r = next((i for i, sh in enumerate(shapes) if sh != (0,)), 0)
        skip = tuple(sh == (0,) and len(shapes[r]) != 1 for sh in shapes)
    ref = shapes[r]
    if not ref:
        raise ValueError(f"cat(): zero-dimensional tensor (at position {r}) cannot be concatenated; "
                         "use stack, or unsqueeze(0) each tensor first")
    d = _dim(dim, len(ref), "cat")
    rest = ref[:d] + ref[d + 1:]
    for i, sh in enumerate(shapes):
        if (len(sh) != len(ref) or sh[:d] + sh[d + 1:] != rest) and not (skip and skip[i]):
            raise ValueError(f"cat(): tensor {i} has shape {sh} but tensor {r} has shape {ref}; "
                             f"all dimensions except dim {d} must match")
    return Cat.apply(*tensors, dim=d, skip=skip if any(skip) else ())


def stack(tensors, dim=0):
    tensors = _joinable(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack(): tensor {i} has shape {t.shape} but tensor 0 has shape {tensors[0].shape}; "
                             "stack needs tensors of equal shape")
    return Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def split(a, split_size_or_sections, dim=0):
    """Split along ``dim`` into chunks of a given size (or a list of sizes), as torch.split."""
    d = _dim(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        k = split_size_or_sections
        if k < 0 or (k == 0 and n > 0):
            raise ValueError(f"split: split_size must be a positive integer, got {k} for dimension {dim} of size {n}")
        sizes = [min(k, n - i) for i in range(0, n, k)] if n else [0]  # an empty dim gives one empty piece
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
    return as_array(cond)


def _bool_mask(cond, op):
    m = _mask(cond)
    if m.dtype != xp.bool_:
        raise TypeError(f"{op}: the mask/condition must be a bool tensor, got dtype {m.dtype}; "
                        "compare first, e.g. mask == 0 or mask.bool()")
    return m


def where(condition, input, other):
    """input where condition is True, else other (PyTorch's dtype promotion between the two)."""
    from .math import _as, result_type
    dtype = result_type(input, other)
    cond, input, other = _bool_mask(condition, "where"), _as(input, dtype), _as(other, dtype)
    if broadcast_shapes(cond.shape, input.shape, other.shape) is None:
        raise ValueError(f"where: condition {cond.shape}, input {input.shape} and other {other.shape} "
                         "do not broadcast; each dimension, counted from the last, must be equal or 1")
    # the caller's mask Tensor itself, so that changing it in place before backward is caught
    return Where.apply(_mask_tensor(condition, cond), input, other)


def _mask_tensor(given, array):
    return given if isinstance(given, Tensor) else Tensor(array, _internal=True)


def index_put(a, idx, value):
    return IndexPut.apply(a, value, idx=_plain_index(idx))


def gather(input, dim, index):
    ix = as_array(index)
    if ix.dtype.kind not in "iu" or ix.ndim != input.ndim:
        raise TypeError(f"gather: index must be an integer tensor with as many dims as the input ({input.ndim}), "
                        f"got dtype {ix.dtype} and {ix.ndim} dims")
    return Gather.apply(input, Tensor(ix, _internal=True), dim=_dim(dim, input.ndim, "gather"))


def masked_fill(a, mask, value):
    """Copy of ``a`` with ``value`` where ``mask`` is True (mask broadcasts to a)."""
    m = _bool_mask(mask, "masked_fill")
    if broadcast_shapes(m.shape, a.shape) != a.shape:  # the result keeps a's shape, as in PyTorch
        raise ValueError(f"masked_fill: mask shape {m.shape} does not broadcast to the tensor's shape {a.shape}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, got shape {value.shape}")
        fill = value if value.dtype == a.dtype else value.to(a.dtype)
    else:
        fill = Tensor(xp.asarray(value, dtype=a.dtype), _internal=True)
    return Where.apply(_mask_tensor(mask, m), fill, a)


# ---------------------------------------------------------------- more of PyTorch's shape vocabulary
class Clone(Function):
    """A copy that stays in the graph: d clone(a) / da = 1."""

    saves_inputs = False

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


def clone(a):
    return Clone.apply(a)


def contiguous(a):
    """``a`` itself when its memory is already in C order, else a C-ordered copy (in the graph)."""
    return a if a.array.flags.c_contiguous else Clone.apply(a)


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = _dim(start_dim, a.ndim, "flatten"), _dim(end_dim, a.ndim, "flatten")
    n = 1
    for k in a.shape[s:e + 1]:
        n *= k
    return reshape(a, a.shape[:s] + (n,) + a.shape[e + 1:])


def chunk(a, chunks, dim=0):
    """Split into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (the last may be smaller), as torch.chunk."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be greater than 0, got {chunks}")
    n = a.shape[_dim(dim, a.ndim, "chunk")]
    return split(a, max(1, -(-n // chunks)), dim)


def repeat(a, *sizes):
    """Tile ``a`` ``sizes[i]`` times along each dim (torch.Tensor.repeat), built from expand + reshape."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(sizes) < a.ndim:
        raise RuntimeError(f"repeat: give at least {a.ndim} sizes for a {a.ndim}-d tensor, got {sizes}")
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    x = reshape(a, tuple(v for n in shape for v in (1, n)))
    x = expand(x, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(x, tuple(r * n for r, n in zip(sizes, shape)))


def _tri(a, diagonal, upper):
    if a.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: input needs at least 2 dims, got shape {a.shape}")
    r, c = a.shape[-2:]
    keep = (xp.arange(c)[None, :] - xp.arange(r)[:, None])
    keep = keep >= diagonal if upper else keep <= diagonal
    return where(Tensor(keep, _internal=True), a, Tensor(xp.zeros((), dtype=a.dtype), _internal=True))


def tril(a, diagonal=0):
    """Lower triangle (elements with column - row <= diagonal), zeros above."""
    return _tri(a, diagonal, upper=False)


def triu(a, diagonal=0):
    return _tri(a, diagonal, upper=True)


class Roll(Function):
    saves_inputs = False

    def forward(self, a, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return xp.roll(a, shifts, axis=dims)

    def backward(self, g):
        neg = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return xp.roll(g, neg, axis=self.dims)


def roll(a, shifts, dims=None):
    if isinstance(shifts, list):
        shifts = tuple(shifts)
    if isinstance(dims, list):
        dims = tuple(dims)
    return Roll.apply(a, shifts=shifts, dims=dims)


SortResult = namedtuple("SortResult", ["values", "indices"])


def sort(a, dim=-1, descending=False, stable=False):
    """Values sorted along ``dim`` and where they came from; the values' gradient goes back through gather."""
    d = _dim(dim, a.ndim, "sort")
    key = -a.array if descending and a.dtype.kind != "b" else a.array
    idx = xp.argsort(key, axis=d, kind="stable")
    if descending and a.dtype.kind == "b":
        idx = xp.flip(xp.argsort(a.array, axis=d, kind="stable"), axis=d)
    return SortResult(gather(a, d, Tensor(idx, _internal=True)), Tensor(idx, _internal=True))


def argsort(a, dim=-1, descending=False, stable=False):
    return sort(a, dim, descending, stable).indices


def topk(a, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's argument name
    """The ``k`` largest (or smallest) values along ``dim`` with their indices, largest first."""
    d = _dim(dim, a.ndim, "topk")
    if not 0 <= k <= a.shape[d]:
        raise RuntimeError(f"topk: k={k} is out of range for dimension {dim} of size {a.shape[d]}")
    values, idx = sort(a, d, descending=largest)
    sl = (slice(None),) * d + (slice(0, k),)
    return SortResult(values[sl], Tensor(idx.array[sl], _internal=True))


def unique(a, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """Distinct values (sorted), optionally with the inverse map and counts. No gradient, as in PyTorch."""
    if dim is not None:
        raise NotImplementedError("unique(dim=...) is not implemented in minissl; flatten first")
    vals, inv, cnt = xp.unique(a.array, return_inverse=True, return_counts=True)
    out = [Tensor(vals, _internal=True)]
    if return_inverse:
        out.append(Tensor(inv.reshape(a.shape).astype(xp.int64), _internal=True))
    if return_counts:
        out.append(Tensor(cnt.astype(xp.int64), _internal=True))
    return out[0] if len(out) == 1 else tuple(out)


def one_hot(ids, num_classes=-1):
    """int64 one-hot rows: ``one_hot(t)[..., c] = (t == c)``, as ``F.one_hot``."""
    x = as_array(ids)
    if x.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensors (integers), got {x.dtype}")
    n = int(x.max()) + 1 if num_classes == -1 else num_classes
    if x.size and (int(x.min()) < 0 or int(x.max()) >= n):
        raise RuntimeError(f"one_hot: class values must be in [0, {n}), got {int(x.min())}..{int(x.max())}")
    return Tensor((x[..., None] == xp.arange(n)).astype(xp.int64), _internal=True)
