"""Tensor and reverse-mode automatic differentiation.

A ``Tensor`` wraps a backend array (``.array``: NumPy, or CuPy on a GPU) and,
when it was produced by a differentiable op, remembers that op (``._ctx``, a
:class:`Function`). The ops form a directed acyclic graph from the leaves
(parameters, inputs) to the loss. ``loss.backward()`` walks that graph once,
from the loss back to the leaves, applying the chain rule at every node::

    dL/d(input) = backward_of_op( dL/d(output) )

Each op implements ``forward`` (arrays in, array out, saving what backward
needs) and ``backward`` (upstream gradient in, one gradient per input out).

Rules this file keeps (and the tests check):

* the walk is iterative, in reverse topological order, so a chain of 10,000 ops
  needs no recursion; the graph's edges point at the *ops* that made each
  input (or at the leaf itself), so an in-place change that re-points a tensor
  at a new op cannot rewire what earlier ops depended on;
* broadcasting is undone in one helper, :func:`sum_to`;
* gradients are fresh, writable arrays of the input's shape and dtype: they
  never alias each other or the upstream gradient;
* after ``backward`` the graph is freed (saved arrays dropped) unless
  ``retain_graph=True``; going through a freed graph again is an error;
* every in-place change (``x += 1``, ``x.mul_(2)``, ``x[0] = 5``, an optimiser
  step) bumps a *version counter* shared by a tensor, its views and
  ``detach()``; an op that saved a tensor for backward checks that the version
  is unchanged, so a changed input is an error, never a silently wrong gradient
  (PyTorch's rule).

``.data`` and ``.grad`` are Tensors, as in PyTorch: ``p.data`` shares ``p``'s
memory but is cut off from the graph (and, as in PyTorch, from its version
counter), so ``p.data.normal_(0, 0.02)`` and ``p.data.copy_(w)`` work; the raw
backend array is ``p.array``.
"""
from __future__ import annotations

import contextlib
import weakref

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


def broadcast_shapes(*shapes):
    """The shape NumPy broadcasting gives ``shapes``, or None where they do not broadcast.

    Pure Python on shape tuples, so an op can check its operands and name them
    in its error before any array work starts.
    """
    n = max(len(s) for s in shapes)
    out = []
    for sizes in zip(*((1,) * (n - len(s)) + tuple(s) for s in shapes)):
        other = {d for d in sizes if d != 1}  # every size must be 1 or this one size
        if len(other) > 1:
            return None
        out.append(other.pop() if other else 1)
    return tuple(out)


class _Version:
    """A counter of in-place changes, shared by a tensor, its views and ``detach()``.

    ``views`` (a WeakSet, made when the first view is) holds the views of this
    memory that are still alive, so that an in-place op recorded in a graph can
    tell whether some view would now need a new graph (see ``Tensor._inplace``)."""

    __slots__ = ("n", "views")

    def __init__(self):
        self.n = 0
        self.views = None


class Function:
    """One differentiable operation. Subclasses define ``forward`` and ``backward``.

    ``forward(*arrays, **options)`` returns the output array and may keep on
    ``self`` whatever ``backward`` needs. ``backward(g)`` receives dL/d(output)
    and returns dL/d(input) for every array input (``None`` is allowed for an
    input that needs no gradient; ``self.needs_grad[i]`` says which do).

    Class flags, for the version check: ``saves_inputs`` (forward keeps input
    arrays; False for ops such as add or reshape that keep only shapes),
    ``saves_output`` (forward keeps its own output, as exp and softmax do) and
    ``is_view`` (the output may share the first input's memory, as a reshape).
    """

    freed = False
    saves_inputs = True
    saves_output = False
    is_view = False

    @classmethod
    def apply(cls, *inputs, **options):
        tensors = [x if isinstance(x, Tensor) else _constant_like(x, inputs) for x in inputs]
        if backend.on_gpu:
            _check_same_device(cls.__name__, tensors)
        fn = cls()
        fn.needs_grad = tuple(t._requires_grad for t in tensors)
        track = _grad_enabled and True in fn.needs_grad
        fn.tracking = track
        out = Tensor(fn.forward(*[t.array for t in tensors], **options), _internal=True)
        if cls.is_view and xp.may_share_memory(out.array, tensors[0].array):
            src = tensors[0]
            out._version, out._base = src._version, (src if src._base is None else src._base)
            if out._version.views is None:
                out._version.views = weakref.WeakSet()
            out._version.views.add(out)
        if track:
            out._requires_grad = True
            out._ctx = fn
            # edges point at the op that made each input (or the leaf itself), not at
            # the Tensor object, which a later in-place op may re-point
            fn.parents = [(t._ctx or t) if t._requires_grad else None for t in tensors]
            fn.versions = [(i, tensors[i]._version, tensors[i]._version.n) for i in fn.saved_inputs()]
            fn.out_version = out._version if cls.saves_output else None
        return out

    def forward(self, *arrays, **options):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, g):  # pragma: no cover - interface
        raise NotImplementedError

    def saved_inputs(self):
        """Indices of the inputs whose values backward reads (checked for in-place changes).

        An op can narrow this by ``needs_grad``: ``a * b`` reads ``b`` only for
        a's gradient, so when only ``a`` needs one, changing ``a`` afterwards is
        fine (as in PyTorch, which saves exactly what each derivative needs)."""
        return range(len(self.needs_grad)) if self.saves_inputs else ()

    def check_versions(self):
        """Refuse to differentiate through arrays that changed in place since forward."""
        stale = [i for i, box, n in self.versions if box.n != n]
        if stale or (self.out_version is not None and self.out_version.n != 0):
            what = f"input {stale[0]}" if stale else "its output"
            raise RuntimeError(f"one of the tensors needed for gradient computation has been modified by an inplace "
                               f"operation: {what} of {type(self).__name__} changed after the forward pass (an "
                               "optimizer.step(), x += ..., x[...] = ... or .add_() between forward and backward); "
                               "do the in-place change after backward(), or use an out-of-place op (x = x + ...)")

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
    kinds = {type(t.array) for t in tensors}
    if len(kinds) > 1:
        raise TypeError(f"{name}: inputs live on different backends ({', '.join(sorted(k.__module__ + '.' + k.__name__ for k in kinds))}); "
                        "create tensors with ms.tensor(...) so they are moved to the GPU.")


_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < floating, PyTorch's type categories


class Tensor:
    """An n-dimensional array that can record how it was computed.

    Attributes: ``array`` (the backend array), ``grad`` (a Tensor or ``None``),
    ``requires_grad``; ``shape``, ``dtype``, ``ndim``, ``device`` as in PyTorch.
    """

    __array_priority__ = 1000  # so ``numpy_array * tensor`` calls Tensor.__rmul__

    def __init__(self, *data, requires_grad: bool = False, dtype=None, _internal: bool = False):
        if _internal:
            data = data[0] if dtype is None else data[0].astype(dtype, copy=False)
            if isinstance(data, backend.numpy.generic):
                # NumPy's 0-d math returns scalars (np.float32(3.0)), which cannot be written in place:
                # a 0-d array instead, so `s = x.sum(); s += 1` works as in PyTorch
                data = xp.asarray(data)
        else:  # PyTorch's legacy constructor: Tensor([1, 2]) and Tensor(2, 3) are float32
            data = _legacy_new(data, dtype)
        self.array = data
        self._grad = None
        self._ctx = None
        self._version = _Version()
        self._base = None  # the tensor whose memory this one views (set by view ops)
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------- basics
    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded so that backward reaches it (a leaf) or goes through it."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        # checked as PyTorch does: assigning the attribute directly must not bypass the rules
        flag = bool(flag)
        if flag and self.array.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.array.dtype} "
                            "(integer tensors such as token ids never get gradients)")
        if not flag and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad of leaf tensors: this one was computed by an "
                               "op; use .detach() to cut it off the graph")
        self._requires_grad = flag

    def requires_grad_(self, flag: bool = True):
        self.requires_grad = flag
        return self

    shape = property(lambda self: tuple(self.array.shape))
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: self.array.ndim)
    is_leaf = property(lambda self: self._ctx is None)
    grad_fn = property(lambda self: self._ctx)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.array.size)

    def dim(self):
        return self.array.ndim

    nelement = numel

    @property
    def T(self):
        """All dimensions reversed, as ``torch.Tensor.T`` (``.mT`` swaps only the last two)."""
        return self.permute(*reversed(range(self.ndim))) if self.ndim >= 2 else self

    @property
    def mT(self):
        return self.transpose(-1, -2)

    @property
    def data(self):
        """This tensor's memory as a Tensor outside the graph (PyTorch's ``.data``): in-place
        changes through it are seen by this tensor and, as in PyTorch, not by the version check."""
        return Tensor(self.array, _internal=True)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"assign a Tensor to .data (got {type(value).__name__}); to set the backend array "
                            "itself, assign to .array")
        self.array = value.array

    @property
    def grad(self):
        """dL/d(this tensor) after ``backward()``, a Tensor of the same shape, or ``None``."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape or value.dtype != self.dtype:
                raise RuntimeError(f"assigned grad has shape {value.shape} and dtype {value.dtype}, but the tensor "
                                   f"has shape {self.shape} and dtype {self.dtype}")
        self._grad = value

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({backend.to_numpy(self.array)!r}{grad})".replace("\n", "\n       ")

    def detach(self) -> "Tensor":
        """The same memory, cut off from the graph (no copy; shares the version counter)."""
        t = Tensor(self.array, _internal=True)
        t._version = self._version
        return t

    def detach_(self):
        if self._base is not None:
            raise RuntimeError("detach_() on a view: use x = x.detach()")
        self._ctx, self._requires_grad = None, False
        return self

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.array.reshape(()).item()

    # Python's number protocols work on one-element tensors only, as in PyTorch
    def _scalar(self, what):
        if self.array.size != 1:
            raise RuntimeError(f"{what} of a tensor with {self.array.size} elements (shape {self.shape}) is "
                               f"ambiguous: only one-element tensors convert; use .any() / .all() or index first")
        return self.array.reshape(()).item()

    def __bool__(self): return bool(self._scalar("Boolean value"))
    def __float__(self): return float(self._scalar("float()"))
    def __int__(self): return int(self._scalar("int()"))

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an index (dtype {self.dtype})")
        return int(self._scalar("__index__"))

    def __format__(self, spec):
        return format(self.item(), spec) if self.ndim == 0 else object.__format__(self, spec)

    def numpy(self):
        """A NumPy array with the values (a copy when the data lives on the GPU).

        More lenient than PyTorch, which refuses a tensor that requires grad: the
        values are the same either way, and a learner inspecting a model's output
        should not need ``.detach()`` first."""
        return backend.to_numpy(self.array)

    def __array__(self, dtype=None, copy=None):
        """NumPy's view of a CPU tensor (``np.asarray(t)``), as PyTorch allows; a GPU tensor refuses."""
        if backend.on_gpu:
            raise TypeError("can't convert a GPU tensor to NumPy implicitly: call .numpy() (or .cpu()) to copy it")
        return self.array if dtype is None else self.array.astype(dtype, copy=False)

    def tolist(self):
        return backend.to_numpy(self.array).tolist()

    # ------------------------------------------------------------- dtype and device
    @property
    def device(self):
        from .devices import current
        return current()

    is_cuda = property(lambda self: backend.on_gpu)

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
        """``x.to(dtype)``, ``x.to(device)``, ``x.to(device, dtype)``, ``x.to(other_tensor)``, as PyTorch.

        There is one device per process (see :mod:`minissl.device`): naming it is a
        no-op, naming the other one raises."""
        from .devices import parse_to
        dtype = parse_to(args, dtype, device)
        from .ops.math import Cast
        from .ops.shape import clone
        if dtype is None or xp.dtype(dtype) == self.dtype:
            return clone(self) if copy else self
        return Cast.apply(self, dtype=xp.dtype(dtype))

    def cpu(self):
        from . import devices as dev
        dev.check("cpu")
        return self

    def cuda(self, device=None, non_blocking=False):
        from . import devices as dev
        dev.check(device if device is not None else "cuda")
        return self

    def pin_memory(self):
        """``self``: pinned host memory is a CUDA transfer optimisation with nothing to do here."""
        return self

    def float(self): return self.to(xp.float32)
    def double(self): return self.to(xp.float64)
    def half(self): return self.to(xp.float16)
    def long(self): return self.to(xp.int64)
    def int(self): return self.to(xp.int32)
    def bool(self): return self.to(xp.bool_)
    def type_as(self, other): return self.to(other.dtype)
    def is_floating_point(self): return self.dtype.kind == "f"

    def element_size(self):
        return self.array.itemsize

    # ------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is dL/d(self); it may be omitted for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad: "
                               "no input of this computation has requires_grad=True (or it ran under no_grad()).")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, got shape {self.shape}; "
                                   "pass gradient= of the same shape (or call .sum() first)")
            g = xp.ones_like(self.array)
        else:
            g = gradient.array if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=self.dtype)
            if g.shape != self.array.shape:
                raise ValueError(f"gradient has shape {tuple(g.shape)} but the tensor has shape {self.shape}")
        root = self._ctx or self
        grads = {id(root): g}
        for node in _topological_order(root):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if isinstance(node, Tensor):  # a leaf: accumulate, owning our own array
                # xp.array copies and turns the NumPy scalars that 0-d math returns back into arrays
                if node._grad is None:
                    node._grad = Tensor(xp.array(g, dtype=node.dtype), _internal=True)
                else:  # in place, as PyTorch: views of .grad and its .data see the sum
                    node._grad.array[...] += g
                    node._grad._version.n += 1
                continue
            if node.freed:
                raise RuntimeError("Trying to backward through the graph a second time: its saved arrays were freed "
                                   "after the first backward(); call backward(retain_graph=True) the first time.")
            for _, box, n in node.versions:  # the version check, inline: it runs for every node
                if box.n != n:
                    node.check_versions()
            if node.out_version is not None and node.out_version.n:
                node.check_versions()
            in_grads = node.backward(g)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            for parent, gx in zip(node.parents, in_grads):
                if gx is None or parent is None:
                    continue
                key = id(parent)
                # out-of-place add: an op may hand the same array to two inputs
                grads[key] = gx if key not in grads else grads[key] + gx
            if not retain_graph:
                node.free()

    # ------------------------------------------------------------- in place
    def _inplace(self, op, *args):
        """Make this tensor ``op(self, *args)`` in its own memory, as PyTorch's ``x.add_(y)``.

        Without a graph to record (under ``no_grad``, or nothing requires grad)
        the result is written into ``self.array``, so views of this memory see
        it. Otherwise the op is recorded on a copy of the old value and this
        tensor is re-pointed at the new op; earlier ops keep their edges to the
        old one. Either way the version counter is bumped.
        """
        tracking = _grad_enabled and (self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad
                                                                for a in args))
        if not tracking:
            with no_grad():
                out = op(self, *args)
            self._write(out)
            return self
        if self.requires_grad and self._ctx is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation: "
                               "wrap it in `with ms.no_grad():` (as optimisers do) or use an out-of-place op")
        if self._base is not None:
            base = self._base
            leaf = base.requires_grad and base._ctx is None
            raise (RuntimeError if leaf else NotImplementedError)(
                ("a view of a leaf Variable that requires grad is being used in an in-place operation"
                 if leaf else "in-place change of a view (x[i] += ..., x.T.mul_(...)) while recording a graph: "
                 "minissl does not carry it back into the viewed tensor's graph as PyTorch does")
                + "; write it out of place, e.g. x = x + ... or x[i] = x[i] + ...")
        if self._version.views:  # pruned as views die; only views alive now remain
            raise NotImplementedError(
                f"in-place change of a tensor while {len(self._version.views)} view(s) of it (x.view(...), x[i], "
                "x.T ...) are alive, while recording a graph: PyTorch re-derives each view's graph from the new "
                "values, minissl does not, so the views would keep the old graph; take the views after the "
                "in-place change, or write it out of place (x = x + ...)")
        old = Tensor(self.array.copy(), _internal=True)
        old._ctx, old._requires_grad = self._ctx, self._requires_grad
        out = op(old, *args)
        if out.dtype != self.dtype:
            # the same rule as _write, checked before the cast below would hide it (int += float)
            if _RANK[out.dtype.kind] > _RANK[self.dtype.kind]:
                raise RuntimeError(f"result type {out.dtype} can't be cast to the desired output type "
                                   f"{self.dtype} of this in-place operation; convert first (x = x.float())")
            out = out.to(self.dtype)
        self._write(out)
        self._ctx, self._requires_grad = out._ctx, out._requires_grad
        return self

    def _write(self, out):
        if out.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out.shape)} of this in-place operation")
        if _RANK[out.dtype.kind] > _RANK[self.dtype.kind]:
            raise RuntimeError(f"result type {out.dtype} can't be cast to the desired output type {self.dtype} "
                               f"of this in-place operation; convert first (x = x.float())")
        if not getattr(self.array.flags, "writeable", True):
            raise RuntimeError(f"this tensor's memory is read-only (an expand() or broadcast view, shape "
                               f"{self.shape}); call .clone() first")
        self.array[...] = out.array
        self._version.n += 1

    # Operators (x + y, x @ w, x == 0, x += 1), in-place methods (add_, copy_, fill_, x[i] = v) and
    # named methods (x.exp(), x.sum(dim), x.view(...)) are ops: they are bound to Tensor in one
    # table at the end of minissl/ops/__init__.py, once the ops exist.

    def __contains__(self, o):
        return bool((self == o).any())

    __hash__ = object.__hash__


def _topological_order(root):
    """Graph nodes (ops, and leaf tensors), each after every node that uses it (iterative DFS)."""
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
        if isinstance(node, Function) and not node.freed:
            stack.extend((p, False) for p in node.parents if p is not None and id(p) not in seen)
    order.reverse()
    return order


def as_array(x, dtype=None):
    """The backend array behind ``x``: a Tensor's own array (shared, not copied, no graph), or
    anything array-like through ``xp.asarray`` (ids, masks and targets may come either way).
    ``dtype`` converts, copying only when the dtype differs."""
    a = x.array if isinstance(x, Tensor) else xp.asarray(x)
    return a if dtype is None else a.astype(dtype, copy=False)


def _to_backend(data, dtype):
    if isinstance(data, Tensor):
        data = data.array
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(f"tensor(): cannot make a tensor from {type(data).__name__} {data!r}; give numbers, "
                        "a (nested) list of numbers or an array")
    try:
        arr = xp.asarray(data, dtype=dtype)
    except OverflowError:
        raise OverflowError("tensor(): a value does not fit in int64 (PyTorch refuses it too); "
                            "use floats for numbers this large") from None
    except (TypeError, ValueError) as e:
        raise TypeError(f"tensor(): could not turn {type(data).__name__} into a tensor ({e}); nested lists must "
                        "be rectangular and hold only numbers") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): the data holds {arr.dtype} values, not numbers; give numbers, "
                        "a rectangular nested list of numbers or a numeric array")
    if dtype is None and not backend.is_array(data) and arr.dtype == xp.float64:
        arr = arr.astype(xp.float32)  # Python floats become float32, as in PyTorch
    return arr


def _legacy_new(args, dtype):
    """``Tensor(2, 3)`` (a float32 tensor of that shape, zero-filled) or ``Tensor(data)`` (float32)."""
    if len(args) == 1 and not isinstance(args[0], int):
        return _to_backend(args[0], dtype).astype(dtype or xp.float32, copy=False)
    if all(isinstance(n, int) and not isinstance(n, bool) for n in args):
        return xp.zeros(args, dtype=dtype or xp.float32)
    raise TypeError(f"Tensor(*sizes) or Tensor(data), got {args!r}; ms.tensor(data) keeps the data's dtype")


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Create a tensor on the backend, copying ``data``. Python floats give float32, ints
    give int64, bools give bool; NumPy/CuPy arrays keep their dtype unless ``dtype`` is given."""
    from .devices import check
    check(device)
    arr = _to_backend(data, dtype)
    if isinstance(data, Tensor) or backend.is_array(data):
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad, _internal=True)
