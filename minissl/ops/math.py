"""Element-wise math and matrix products, each with its derivative.

Binary ops broadcast like NumPy; their backward computes the gradient at the
broadcast shape and hands it to :func:`minissl.tensor.sum_to` to undo the
broadcast. The derivative used is written next to each ``backward``.
"""
from __future__ import annotations

from ..backend import SQRT_2_OVER_PI, erf, xp
from ..tensor import Function, Tensor, sum_to


class Cast(Function):
    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.src)


class Add(Function):
    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return a + b

    def backward(self, g):  # d(a+b)/da = d(a+b)/db = 1
        return sum_to(g, self.sa), sum_to(g, self.sb)


class Sub(Function):
    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return a - b

    def backward(self, g):
        return sum_to(g, self.sa), (-sum_to(g, self.sb) if self.needs_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):  # d(ab)/da = b
        ga = sum_to(g * self.b, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(g * self.a, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        gb_ = g / self.b
        ga = sum_to(gb_, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(-gb_ * self.a / self.b, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Pow(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
        ga = sum_to(g * self.b * self.a ** (self.b - 1), self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(g * self.out * xp.log(self.a), self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Function):
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
    def forward(self, a):
        self.out = xp.tanh(a)
        return self.out

    def backward(self, g):  # d tanh = 1 - tanh^2
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    def forward(self, a):
        # exp(-|a|) never overflows; both branches keep full relative precision
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, g):  # d sigma = sigma (1 - sigma)
        return g * self.out * (1 - self.out)


class Relu(Function):
    def forward(self, a):
        self.mask = a > 0
        return a * self.mask

    def backward(self, g):
        return g * self.mask


class Gelu(Function):
    """GELU(x) = x Φ(x), Φ the standard normal CDF; ``approximate='tanh'`` uses
    Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715 x³))) as GPT-2 did."""

    def forward(self, a, approximate="none"):
        # Written with in-place updates of one or two buffers: an MLP's hidden
        # layer is the largest activation of a Transformer, and every
        # temporary is another pass over it.
        self.shape = a.shape
        a = a.reshape(1) if a.ndim == 0 else a  # 0-d math gives NumPy scalars, which cannot take out=
        self.a, self.approx = a, approximate
        if approximate == "tanh":
            t = a * a  # a*a*a: float32 `a ** 3` goes through powf, ~100x slower
            t *= a
            t *= 0.044715
            t += a
            t *= SQRT_2_OVER_PI
            self.t = xp.tanh(t, out=t)
            y = t + 1
        else:
            cdf = erf(a * (2 ** -0.5)).astype(a.dtype, copy=False)
            cdf += 1
            cdf *= 0.5
            self.cdf = cdf
            return (a * cdf).reshape(self.shape)
        y *= a
        y *= 0.5
        return y.reshape(self.shape)

    def backward(self, g):
        a = self.a
        g = g.reshape(a.shape)
        if self.approx == "tanh":
            # d/da ½a(1+t) = ½(1+t) + ½a(1-t²)·√(2/π)(1 + 3·0.044715·a²)
            t = self.t
            d = t * t
            xp.subtract(1, d, out=d)
            u = a * a
            u *= 3 * 0.044715 * SQRT_2_OVER_PI
            u += SQRT_2_OVER_PI
            d *= u
            d *= a
            xp.add(d, t, out=d)
            d += 1
            d *= 0.5
            d *= g
            return d.reshape(self.shape)
        # dΦ/dx = φ(x): d/da aΦ(a) = Φ(a) + a φ(a)
        pdf = a * a
        pdf *= -0.5
        xp.exp(pdf, out=pdf)
        pdf *= (1 / (2 * xp.pi) ** 0.5)
        pdf *= a
        pdf += self.cdf
        pdf *= g
        return pdf.astype(a.dtype, copy=False).reshape(self.shape)


def _shape_error(op, a, b, why):
    return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit ({why})")


class MatMul(Function):
    """C = A @ B (batched, broadcast). dL/dA = G Bᵀ, dL/dB = Aᵀ G."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise _shape_error("matmul", a, b, "both operands need at least one dimension; use * for scalars")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise _shape_error("matmul", a, b, "the last dimension of the first must equal the "
                               "second-to-last dimension of the second")
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


class Linear(Function):
    """y = x Wᵀ + b with W of shape (out, in), as ``nn.Linear``.

    Fused so that the weight gradient is one GEMM over all leading dims:
    dW = Gᵀ X, db = Σ G, dX = G W (G and X flattened to 2-D).
    """

    def forward(self, x, w, b=None):
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {tuple(x.shape)}) but the weight "
                             f"expects {w.shape[1]} (weight shape {tuple(w.shape)} = (out_features, in_features))")
        self.x, self.w = x, w
        # One 2-D GEMM: NumPy's matmul of a 3-D array by a transposed 2-D one
        # loops over the batch axis and is 2-3x slower than the flattened product.
        y = (x.reshape(-1, x.shape[-1]) @ w.T).reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x, w = self.x, self.w
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ w).reshape(x.shape) if self.needs_grad[0] else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if self.needs_grad[1] else None
        gb = g2.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb


def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def pow(a, b): return Pow.apply(a, b)  # noqa: A001 - mirrors torch.pow
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
