"""Element-wise math and matrix products, each with its derivative.

Binary ops broadcast like NumPy; their backward computes the gradient at the
broadcast shape and hands it to :func:`minissl.tensor.sum_to` to undo the
broadcast. The derivative used is written next to each ``backward``.
"""
from __future__ import annotations

from .. import backend
from ..backend import INV_SQRT_2PI, SQRT_2_OVER_PI, SQRT_HALF, erf, xp
from ..tensor import _RANK, Function, Tensor, broadcast_shapes, is_grad_enabled, sum_to

# ---------------------------------------------------------------- type promotion
DEFAULT_FLOAT = xp.float32


def promote_types(a, b):
    """PyTorch's ``promote_types``: a float beats any integer (int64 + float32 -> float32,
    where NumPy says float64), an integer beats bool; within a kind the wider type wins."""
    if a == b:
        return a
    ra, rb = _RANK[a.kind], _RANK[b.kind]
    if ra != rb:
        return a if ra > rb else b
    return xp.promote_types(a, b)


def result_type(*operands):
    """The dtype PyTorch gives an op on ``operands`` (tensors, arrays, Python numbers).

    Three tiers, as PyTorch: tensors with dimensions decide; a 0-d tensor or a
    Python number only matters when it is of a higher kind (bool < int < float),
    and a Python float then brings the default dtype, float32. So
    ``int_tensor * 0.5`` and ``arange(3) + 0.5`` are float32, ``float32_tensor
    * 2.0`` stays float32, and ``int64_tensor + float64 0-d tensor`` is float64.
    """
    tiers = [None, None, None]  # dimensioned tensors, 0-d tensors, Python numbers
    for x in operands:
        if isinstance(x, Tensor) or backend.is_array(x):
            d, tier = x.dtype, (0 if x.ndim else 1)
        elif isinstance(x, (bool, xp.bool_)):
            d, tier = xp.dtype(xp.bool_), 2
        elif isinstance(x, int):
            d, tier = xp.dtype(xp.int64), 2
        elif isinstance(x, float):
            d, tier = xp.dtype(DEFAULT_FLOAT), 2
        elif hasattr(x, "dtype"):  # a NumPy scalar counts as a 0-d tensor
            d, tier = xp.dtype(x.dtype), 1
        else:
            raise TypeError(f"unsupported operand of type {type(x).__name__}; use a Tensor or a Python number")
        tiers[tier] = d if tiers[tier] is None else promote_types(tiers[tier], d)

    def combine(higher, lower):  # PyTorch's combine_categories
        if higher is None or lower is None:
            return higher if lower is None else lower
        if higher.kind == "f":
            return higher
        if higher.kind == "b" or _RANK[lower.kind] > _RANK[higher.kind]:
            return promote_types(higher, lower)
        return higher
    return combine(tiers[0], combine(tiers[1], tiers[2]))


def _as(x, dtype):
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else Cast.apply(x, dtype=dtype)
    return Tensor(xp.asarray(x, dtype=dtype), _internal=True)


def _operand(x, dtype):
    """``_as`` for an operand of an arithmetic or comparison operator: a Python int that does not
    fit a narrow integer dtype wraps around as in PyTorch (``uint8_tensor + 300`` adds 44), where
    NumPy would refuse it. Factories, ``where`` and ``fill_`` refuse such a value in both libraries."""
    if type(x) is int and dtype.kind in "iu":
        return Tensor(xp.asarray(x).astype(dtype), _internal=True)
    return _as(x, dtype)


def _binary(fn, a, b, dtype=None):
    """Apply a binary op after promoting both operands to PyTorch's result dtype."""
    try:
        if dtype is None:  # the common cases, kept cheap: equal dtypes, or a float tensor and a Python number
            if isinstance(a, Tensor):
                if isinstance(b, Tensor) and a.dtype == b.dtype or type(b) in (float, int) and a.dtype.kind == "f":
                    return fn.apply(a, b)
            elif isinstance(b, Tensor) and type(a) in (float, int) and b.dtype.kind == "f":
                return fn.apply(a, b)
        dtype = dtype or result_type(a, b)
        return fn.apply(_operand(a, dtype), _operand(b, dtype))
    except ValueError:
        # checked only once NumPy has refused, so the common case pays nothing
        sa, sb = (tuple(getattr(x, "shape", ())) for x in (a, b))
        if broadcast_shapes(sa, sb) is None:
            raise ValueError(f"{fn.__name__.lower()}: shapes {sa} and {sb} do not broadcast; each dimension, "
                             "counted from the last, must be equal or 1") from None
        raise


class Cast(Function):
    saves_inputs = False

    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.src)


class Add(Function):
    saves_inputs = False
    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return a + b

    def backward(self, g):  # d(a+b)/da = d(a+b)/db = 1
        return sum_to(g, self.sa), sum_to(g, self.sb)


class Sub(Function):
    saves_inputs = False
    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return a - b

    def backward(self, g):
        return sum_to(g, self.sa), (-sum_to(g, self.sb) if self.needs_grad[1] else None)


def _other_side(self):
    """For a product: input i's derivative reads the other input, so input j is saved iff i needs grad."""
    return [j for j, i in ((0, 1), (1, 0)) if self.needs_grad[i]]


class Mul(Function):
    saved_inputs = _other_side

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):  # d(ab)/da = b
        ga = sum_to(g * self.b, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(g * self.a, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def saved_inputs(self):  # d/da reads b; d/db reads a and b
        return [0, 1] if self.needs_grad[1] else [1]

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        gb_ = g / self.b
        ga = sum_to(gb_, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(-gb_ * self.a / self.b, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Pow(Function):
    saves_output = True
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b if a.dtype != bool else (a ** b).astype(bool)  # NumPy answers bool ** bool in int8
        return self.out

    def backward(self, g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
        ga = sum_to(g * self.b * self.a ** (self.b - 1), self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(g * self.out * xp.log(self.a), self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    saves_inputs = False
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Function):
    saves_inputs, saves_output = False, True
    def forward(self, a):
        self.out = xp.exp(a)
        return self.out

    def backward(self, g):  # d e^a = e^a
        return g * self.out


class Log(Function):
    def forward(self, a):
        self.a = a
        return xp.log(a)

    def backward(self, g):  # d log a = 1/a
        return g / self.a


class Sqrt(Function):
    saves_inputs, saves_output = False, True
    def forward(self, a):
        self.out = xp.sqrt(a)
        return self.out

    def backward(self, g):  # d sqrt(a) = 1 / (2 sqrt(a))
        return g / (2 * self.out)


class Abs(Function):
    def forward(self, a):
        self.sign = xp.sign(a)
        return xp.abs(a)

    def backward(self, g):
        return g * self.sign


class Tanh(Function):
    saves_inputs, saves_output = False, True
    def forward(self, a):
        self.out = xp.tanh(a)
        return self.out

    def backward(self, g):  # d tanh = 1 - tanh^2
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    saves_inputs, saves_output = False, True
    def forward(self, a):
        # exp(-|a|) never overflows; both branches keep full relative precision
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, g):  # d sigma = sigma (1 - sigma)
        return g * self.out * (1 - self.out)


class Relu(Function):
    # what PyTorch saves is the output: changing the input in place afterwards is fine, changing
    # the output is an error at backward (the mask below is a copy, but the rule is PyTorch's)
    saves_inputs, saves_output = False, True

    def forward(self, a):
        self.mask = ~(a <= 0)  # PyTorch zeroes the gradient where x <= 0: a NaN's passes through
        return xp.maximum(a, 0)  # not a * mask: -inf * 0 is NaN and -1 * 0 is -0.0, where PyTorch gives 0

    def backward(self, g):
        return g * self.mask


class Gelu(Function):
    """GELU(x) = x Φ(x), Φ the standard normal CDF; ``approximate='tanh'`` uses
    Φ(x) ≈ ½(1 + t), t = tanh(√(2/π)(x + 0.044715 x³)), as GPT-2 did.

    dGELU/dx = Φ(x) + x φ(x) with φ(x) = exp(-x²/2)/√(2π); for the tanh form
    d/dx ½x(1 + t) = ½(1 + t + x(1 - t²)·√(2/π)(1 + 3·0.044715 x²)).
    """

    def forward(self, a, approximate="none"):
        self.a, self.approx = a, approximate
        if backend.fused.gelu and a.ndim:  # in place (CPU) or fused kernels (GPU): minissl/speedups.py
            y, self.saved = backend.fused.gelu(a, approximate)
            return y
        if approximate == "tanh":
            self.saved = t = xp.tanh(SQRT_2_OVER_PI * (a + 0.044715 * (a * a * a)))  # float32 a**3 is slow
            return (1 + t) * a * 0.5
        self.saved = cdf = (1 + erf(a * SQRT_HALF)) * 0.5
        return a * cdf

    def backward(self, g):
        a, saved = self.a, self.saved
        if backend.fused.gelu and a.ndim:
            return backend.fused.gelu_backward(a, saved, g, self.approx)
        if self.approx == "tanh":
            t = saved
            return ((1 - t * t) * (SQRT_2_OVER_PI + _GELU_C3 * (a * a)) * a + t + 1) * 0.5 * g
        return (xp.exp(-0.5 * (a * a)) * INV_SQRT_2PI * a + saved) * g


_GELU_C3 = 3 * 0.044715 * SQRT_2_OVER_PI


def _shape_error(op, a, b, why):
    return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit ({why})")


class MatMul(Function):
    """C = A @ B (batched, broadcast). dL/dA = G Bᵀ, dL/dB = Aᵀ G."""

    saved_inputs = _other_side

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise _shape_error("matmul", a, b, "both operands need at least one dimension; use * for scalars")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise _shape_error("matmul", a, b, "the last dimension of the first must equal the "
                               "second-to-last dimension of the second")
        # 1-D operands have no batch dims: () here
        if a.shape[:-2] != b.shape[:-2] and broadcast_shapes(a.shape[:-2], b.shape[:-2]) is None:
            raise _shape_error("matmul", a, b, f"their batch dimensions {a.shape[:-2]} and {b.shape[:-2]} "
                               "do not broadcast")
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:  # a dot product: g is 0-d, the 2-D product is (1, 1)
            g = g.reshape(1, 1)
        elif a.ndim == 1:
            g = xp.expand_dims(g, -2)
        elif b.ndim == 1:
            g = xp.expand_dims(g, -1)
        ga = gb = None
        if self.needs_grad[0]:
            ga = sum_to(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:  # a weight shared over a batch: one big GEMM, not a batch of small ones
                gb = a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gb = sum_to(xp.swapaxes(a2, -1, -2) @ g, b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def _rows(x):
    """x as a 2-D (rows, last dim) array; not reshape(-1, n), which is ambiguous when n == 0 (Linear(0, k))."""
    rows = 1
    for n in x.shape[:-1]:
        rows *= n
    return x.reshape(rows, x.shape[-1])


class Linear(Function):
    """y = x Wᵀ + b with W of shape (out, in), as ``nn.Linear``.

    Fused so that the weight gradient is one GEMM over all leading dims:
    dW = Gᵀ X, db = Σ G, dX = G W (G and X flattened to 2-D).
    """

    saved_inputs = _other_side  # the bias is never read

    def forward(self, x, w, b=None):
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {tuple(x.shape)}) but the weight "
                             f"expects {w.shape[1]} (weight shape {tuple(w.shape)} = (out_features, in_features))")
        self.x, self.w = x, w
        # One 2-D GEMM: NumPy's matmul of a 3-D array by a transposed 2-D one
        # loops over the batch axis and is 2-3x slower than the flattened product.
        x2 = _rows(x)
        y = backend.fused.linear(x2, w) if backend.fused.linear else x2 @ w.T  # (minissl/speedups.py)
        y = y.reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x, w = self.x, self.w
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ w).reshape(x.shape) if self.needs_grad[0] else None
        gw = (g2.T @ _rows(x)) if self.needs_grad[1] else None
        gb = g2.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb


class Clamp(Function):
    """y = min(max(x, lo), hi); the gradient passes where lo <= x <= hi, as in PyTorch."""

    def forward(self, a, lo, hi):
        self.keep = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            self.keep &= a >= lo
            a = xp.maximum(a, xp.asarray(lo, dtype=a.dtype))
        if hi is not None:
            self.keep &= a <= hi
            a = xp.minimum(a, xp.asarray(hi, dtype=a.dtype))
        return a

    def backward(self, g):
        return g * self.keep


class Maximum(Function):
    """Element-wise max(a, b); on ties the gradient is split in half, as ``torch.maximum``."""

    sign = 1

    def forward(self, a, b):
        # compared, not subtracted: inf - inf is NaN, which would send a tie's gradient all to b
        self.wa = ((a > b) if self.sign > 0 else (a < b)) + 0.5 * (a == b)
        self.sa, self.sb = a.shape, b.shape
        return xp.maximum(a, b) if self.sign > 0 else xp.minimum(a, b)

    def backward(self, g):
        w = self.wa.astype(g.dtype)
        return sum_to(g * w, self.sa), sum_to(g * (1 - w), self.sb)


class Minimum(Maximum):
    sign = -1


class Overwrite(Function):
    """out = new values, whatever ``a`` held: the node behind ``fill_``, ``zero_``, ``normal_``, ``copy_``
    in a graph. d out / d a = 0 and d out / d new = 1. The edge to ``a`` carries only zeros but is kept,
    as in PyTorch, so an op before it whose saved tensors were changed is still caught at backward."""

    saves_inputs = False

    def forward(self, a, new):
        return new

    def backward(self, g):
        return (xp.zeros_like(g) if self.needs_grad[0] else None), (g if self.needs_grad[1] else None)


def add(a, b, alpha=1): return _binary(Add, a, b if alpha == 1 else b * alpha)
def sub(a, b, alpha=1):
    for x in (a, b):  # NumPy would subtract bools as integers; PyTorch refuses, and so do we
        if isinstance(x, Tensor) and x.array.dtype == bool or isinstance(x, (bool, xp.bool_)):
            raise TypeError("subtraction, the `-` operator, with a bool tensor is not supported (as in PyTorch); "
                            "to invert a mask use ~mask or logical_not()")
    return _binary(Sub, a, b if alpha == 1 else b * alpha)
def mul(a, b): return _binary(Mul, a, b)
def pow(a, b):  # noqa: A001 - mirrors torch.pow
    # PyTorch has no bool ** bool kernel; bool_tensor ** True (a Python bool exponent) is allowed
    if isinstance(b, Tensor) and b.array.dtype == bool and (
            isinstance(a, (bool, xp.bool_)) or isinstance(a, Tensor) and a.array.dtype == bool):
        raise TypeError("** with a bool tensor exponent and a bool base is not defined (as in PyTorch); "
                        "convert first: x.long()")
    return _binary(Pow, a, b)
def maximum(a, b): return _binary(Maximum, a, b)
def minimum(a, b): return _binary(Minimum, a, b)


def div(a, b, rounding_mode=None):
    """True division; integers divide to the default float dtype, as in PyTorch."""
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return _no_grad_op("div(rounding_mode='trunc')", a, b, lambda x, y: xp.trunc(x / y).astype(x.dtype))
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    dtype = result_type(a, b)
    return _binary(Div, a, b, dtype=dtype if dtype.kind == "f" else xp.dtype(DEFAULT_FLOAT))


def _no_grad_op(name, a, b, f):
    """An op with no gradient (integer-valued results): refuse inputs that need one rather than cut the graph."""
    if is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in (a, b)):
        raise RuntimeError(f"{name} has no gradient in minissl (its result is piecewise constant); "
                           "use .detach() on the input if you only need the values")
    dtype = result_type(a, b)
    return Tensor(f(_operand(a, dtype).array, _operand(b, dtype).array), _internal=True)


def _integer_division(f):
    """An integer // or % by zero raises, as in PyTorch (NumPy would answer 0 with a warning)."""
    def checked(x, y):
        if x.dtype.kind == "b":
            raise TypeError("// and % are not defined for bool tensors (as in PyTorch); convert first: x.long()")
        if x.dtype.kind in "iu" and not y.all():
            raise RuntimeError("ZeroDivisionError: integer division or modulo by zero (as in PyTorch; "
                               "NumPy would silently give 0)")
        return f(x, y)
    return checked


def floor_divide(a, b): return _no_grad_op("floor_divide (//)", a, b, _integer_division(xp.floor_divide))
def remainder(a, b): return _no_grad_op("remainder (%)", a, b, _integer_division(xp.remainder))


def compare(a, b, f):
    """Element-wise comparison -> bool tensor (no gradient), with PyTorch's promotion."""
    if not isinstance(b, (Tensor, int, float, bool)) and not backend.is_array(b) and not hasattr(b, "dtype"):
        return NotImplemented  # e.g. t == None or t == "x": Python's identity answer, as PyTorch
    dtype = result_type(a, b)
    return Tensor(f(_operand(a, dtype).array, _operand(b, dtype).array), _internal=True)


def logical_not(a):
    if a.dtype.kind == "f":
        raise TypeError("~ (bitwise not) needs a bool or integer tensor; for floats use ms.logical_not(x != 0)")
    return Tensor(xp.invert(a.array), _internal=True)


def logical_op(a, b, f):
    dtype = result_type(a, b)
    if dtype.kind == "f":
        raise TypeError("&, |, ^ need bool or integer tensors; compare first, e.g. (x > 0) & (y > 0)")
    return Tensor(f(_operand(a, dtype).array, _operand(b, dtype).array), _internal=True)


def clamp(a, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if min is not None and max is not None and (getattr(min, "ndim", 0) or getattr(max, "ndim", 0)) \
            and isinstance(min, Tensor) != isinstance(max, Tensor):
        raise TypeError("clamp: min and max must both be Tensors or both numbers (as in PyTorch)")
    if min is not None and max is not None and isinstance(min, Tensor) != isinstance(max, Tensor):
        # a 0-d Tensor beside a number: PyTorch takes the numbers overload, so the Tensor counts as a number
        min, max = (x.item() if isinstance(x, Tensor) else x for x in (min, max))
    # the bounds take part in type promotion, as in PyTorch: int_tensor.clamp(min=0.5) is float32
    dtype = result_type(*(x for x in (a, min, max) if x is not None))
    if dtype == bool and not (isinstance(min, Tensor) if max is None else isinstance(max, Tensor) if min is None
                              else False):
        # PyTorch's quirk, kept: one Tensor bound on bools works (it is maximum/minimum), anything else refuses
        raise TypeError("clamp is not defined for bool tensors (as in PyTorch); convert first: x.long()")
    lo, hi = (_bound(x, dtype) for x in (min, max))
    # min first, then max: as PyTorch when min > max
    return Clamp.apply(a if a.dtype == dtype else Cast.apply(a, dtype=dtype), lo=lo, hi=hi)


def _bound(x, dtype):
    """A clamp bound as an array of the result dtype; a Tensor bound gets no gradient here."""
    if x is None or not isinstance(x, Tensor):
        return x
    if x.requires_grad and is_grad_enabled():
        raise NotImplementedError("clamp: a min/max Tensor that requires grad gets no gradient in minissl; "
                                  "use ms.maximum(x, lo) / ms.minimum(x, hi), which pass gradients to both")
    return x.array.astype(dtype, copy=False)


def overwrite(a, new):
    """``a``'s place in the graph, ``new``'s values (an array, or a Tensor of ``a``'s shape whose gradient flows)."""
    return Overwrite.apply(a, new if isinstance(new, Tensor) else Tensor(new, _internal=True))
def neg(a): return Neg.apply(a)
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def sqrt(a): return Sqrt.apply(a)
def abs(a): return Abs.apply(a)  # noqa: A001
def tanh(a): return Tanh.apply(a)
def sigmoid(a): return Sigmoid.apply(a)
def relu(a): return Relu.apply(a)
def gelu(a, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(a, approximate=approximate)
def matmul(a, b): return MatMul.apply(a, b)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return Linear.apply(input, weight) if bias is None else Linear.apply(input, weight, bias)
