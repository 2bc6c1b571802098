"""Tensor and reverse-mode automatic differentiation.

A ``Tensor`` wraps a backend array (``.data``) and, when it was produced by a
differentiable op, remembers that op (``._ctx``, a :class:`Function`). The ops
form a directed acyclic graph from the leaves (parameters, inputs) to the loss.
``loss.backward()`` walks that graph once, from the loss back to the leaves,
applying the chain rule at every node::

    dL/d(input) = backward_of_op( dL/d(output) )

Each op implements ``forward`` (arrays in, array out, saving what backward
needs) and ``backward`` (upstream gradient in, one gradient per input out).

Rules this file keeps (and the tests check):

* the walk is iterative, in reverse topological order, so a chain of 10,000 ops
  needs no recursion;
* broadcasting is undone in one helper, :func:`sum_to`;
* gradients are fresh, writable arrays of the input's shape and dtype: they
  never alias each other or the upstream gradient;
* after ``backward`` the graph is freed (saved arrays dropped) unless
  ``retain_graph=True``; going through a freed graph again is an error.
"""
from __future__ import annotations

import contextlib

from . import backend
from .backend import xp

_grad_enabled = True


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator: ops inside record no graph (inference)."""

    def __enter__(self):
        global _grad_enabled
        self._prev, _grad_enabled = _grad_enabled, False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False


class enable_grad(no_grad):
    """Turns graph recording back on inside a ``no_grad`` block."""

    def __enter__(self):
        global _grad_enabled
        self._prev, _grad_enabled = _grad_enabled, True
        return self


def is_grad_enabled() -> bool:
    return _grad_enabled


def sum_to(g, shape):
    """Undo broadcasting: sum ``g`` down to ``shape`` (the one place this is done).

    Broadcasting copies an input along new leading axes and along axes of size
    1, so the gradient of the input is the sum of the gradient over those axes.
    """
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


class Function:
    """One differentiable operation. Subclasses define ``forward`` and ``backward``.

    ``forward(*arrays, **options)`` returns the output array and may keep on
    ``self`` whatever ``backward`` needs. ``backward(g)`` receives dL/d(output)
    and returns dL/d(input) for every array input (``None`` is allowed for an
    input that needs no gradient; ``self.needs_grad[i]`` says which do).
    """

    freed = False

    @classmethod
    def apply(cls, *inputs, **options):
        tensors = [x if isinstance(x, Tensor) else _constant_like(x, inputs) for x in inputs]
        if backend.on_gpu:
            _check_same_device(cls.__name__, tensors)
        fn = cls()
        fn.needs_grad = tuple(t.requires_grad for t in tensors)
        track = _grad_enabled and any(fn.needs_grad)
        fn.tracking = track
        out = Tensor(fn.forward(*(t.data for t in tensors), **options), _internal=True)
        if track:
            out.requires_grad = True
            out._ctx = fn
            fn.inputs = tensors
        return out

    def forward(self, *arrays, **options):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, g):  # pragma: no cover - interface
        raise NotImplementedError

    def free(self):
        self.__dict__.clear()
        self.freed = True


def _constant_like(x, inputs):
    """Wrap a Python scalar or array as a constant, without upcasting float32."""
    if backend.is_array(x):
        return Tensor(x, _internal=True)
    ref = next((t for t in inputs if isinstance(t, Tensor)), None)
    dtype = ref.dtype if ref is not None and ref.dtype.kind == "f" else None
    if dtype is None and isinstance(x, float):
        dtype = xp.float32
    return Tensor(xp.asarray(x, dtype=dtype), _internal=True)


def _check_same_device(name, tensors):
    kinds = {type(t.data) for t in tensors}
    if len(kinds) > 1:
        raise TypeError(f"{name}: inputs live on different backends ({', '.join(sorted(k.__module__ + '.' + k.__name__ for k in kinds))}); "
                        "create tensors with ms.tensor(...) so they are moved to the GPU.")


class Tensor:
    """An n-dimensional array that can record how it was computed.

    Attributes: ``data`` (the backend array), ``grad`` (a backend array or
    ``None``), ``requires_grad``; ``shape``, ``dtype``, ``ndim`` as in NumPy.
    """

    __array_priority__ = 1000  # so ``numpy_array * tensor`` calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None, _internal: bool = False):
        if not _internal:
            data = _to_backend(data, dtype)
        elif dtype is not None:
            data = data.astype(dtype, copy=False)
        self.data = data
        self.grad = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------- basics
    def requires_grad_(self, flag: bool = True):
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype} "
                            "(integer tensors such as token ids never get gradients)")
        self.requires_grad = flag
        return self

    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = lambda self, dim=None: self.data.shape if dim is None else self.data.shape[dim]  # noqa: E731
    numel = lambda self: int(self.data.size)  # noqa: E731
    is_leaf = property(lambda self: self._ctx is None)
    T = property(lambda self: self.transpose(-1, -2))

    def __len__(self):
        return self.data.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({backend.to_numpy(self.data)!r}{grad})".replace("\n", "\n       ")

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph (no copy)."""
        return Tensor(self.data, _internal=True)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def numpy(self):
        """A NumPy array with the values (a copy when the data lives on the GPU)."""
        return backend.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def float(self):
        return self.to(xp.float32)

    def double(self):
        return self.to(xp.float64)

    def long(self):
        return self.to(xp.int64)

    def to(self, dtype):
        from .ops.math import Cast
        return self if self.dtype == dtype else Cast.apply(self, dtype=xp.dtype(dtype))

    # ------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is dL/d(self); it may be omitted for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad: "
                               "no input of this computation has requires_grad=True (or it ran under no_grad()).")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, got shape {self.shape}; "
                                   "pass gradient= of the same shape (or call .sum() first)")
            g = xp.ones_like(self.data)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=self.dtype)
            if g.shape != self.data.shape:
                raise ValueError(f"gradient has shape {tuple(g.shape)} but the tensor has shape {self.shape}")
        grads = {id(self): g}
        for node in _topological_order(self):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            fn = node._ctx
            if fn is None:  # a leaf: accumulate, owning our own array
                # xp.array copies and turns the NumPy scalars that 0-d math returns back into arrays
                node.grad = (xp.array(g, dtype=node.dtype) if node.grad is None
                             else xp.asarray(node.grad + g, dtype=node.dtype))
                continue
            if fn.freed:
                raise RuntimeError("Trying to backward through the graph a second time: its saved arrays were freed "
                                   "after the first backward(); call backward(retain_graph=True) the first time.")
            in_grads = fn.backward(g)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            for x, gx in zip(fn.inputs, in_grads):
                if gx is None or not x.requires_grad:
                    continue
                key = id(x)
                # out-of-place add: an op may hand the same array to two inputs
                grads[key] = gx if key not in grads else grads[key] + gx
            if not retain_graph:
                fn.free()

    # ------------------------------------------------------------- operators
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().sub(self, o)
    def __rsub__(self, o): return _ops().sub(o, self)
    def __mul__(self, o): return _ops().mul(self, o)
    def __rmul__(self, o): return _ops().mul(o, self)
    def __truediv__(self, o): return _ops().div(self, o)
    def __rtruediv__(self, o): return _ops().div(o, self)
    def __pow__(self, o): return _ops().pow(self, o)
    def __rpow__(self, o): return _ops().pow(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __neg__(self): return _ops().neg(self)
    def __abs__(self): return _ops().abs(self)
    def __getitem__(self, idx): return _ops().getitem(self, idx)

    # comparisons give boolean tensors without gradients
    def _cmp(self, o, f):
        o = o.data if isinstance(o, Tensor) else o
        return Tensor(f(self.data, o), _internal=True)

    def __lt__(self, o): return self._cmp(o, xp.less)
    def __le__(self, o): return self._cmp(o, xp.less_equal)
    def __gt__(self, o): return self._cmp(o, xp.greater)
    def __ge__(self, o): return self._cmp(o, xp.greater_equal)
    def eq(self, o): return self._cmp(o, xp.equal)
    def ne(self, o): return self._cmp(o, xp.not_equal)
    def argmax(self, dim=None, keepdim=False):
        return Tensor(xp.argmax(self.data, axis=dim, keepdims=keepdim), _internal=True)

    __hash__ = object.__hash__


def _topological_order(root):
    """Nodes that need a gradient, each after every node that uses it (iterative DFS)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        fn = node._ctx
        if fn is not None and not fn.freed:
            stack.extend((x, False) for x in fn.inputs if x.requires_grad and id(x) not in seen)
    order.reverse()
    return order


def _to_backend(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if backend.is_array(data):
        return xp.asarray(data)
    arr = xp.asarray(data)
    if arr.dtype == xp.float64:  # Python floats become float32, as in PyTorch
        arr = arr.astype(xp.float32)
    return arr


def _ops():
    from . import ops
    return ops


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Create a tensor on the backend. Python floats give float32, ints give int64;
    NumPy/CuPy arrays keep their dtype unless ``dtype`` is given."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
