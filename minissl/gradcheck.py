"""``ms.gradcheck``: compare an op's analytic gradient with finite differences.

For a random upstream gradient u, the scalar s(x) = Σ u ⊙ f(x) has
ds/dx_i ≈ (s(x + ε e_i) - s(x - ε e_i)) / 2ε (central difference, error O(ε²)).
``backward`` must give the same numbers. Use float64 inputs: in float32 the
rounding error of s swamps the difference quotient.
"""
from __future__ import annotations

import itertools

from .backend import xp
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Check ``fn(*inputs)``'s backward against central differences.

    ``inputs``: a Tensor or a sequence of Tensors (those with ``requires_grad``
    are checked). ``fn`` returns a Tensor (or a tuple whose first item is one).
    Returns True, or raises :class:`GradcheckError` naming the input, the worst
    element and both values.
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in checked:
        if t.dtype != xp.float64:
            raise TypeError(f"gradcheck needs float64 inputs, got {t.dtype}; create them with dtype=float64")
        if not t.is_leaf:
            raise ValueError("gradcheck inputs must be leaf tensors (created directly, not computed from others)")

    def run():
        out = fn(*inputs)
        return out[0] if isinstance(out, (tuple, list)) else out

    out = run()
    u = xp.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    for t in checked:
        t.grad = None
    out.backward(Tensor(u, _internal=True))
    analytic = [t.grad.array if t.grad is not None else xp.zeros_like(t.array) for t in checked]

    def f():
        from .tensor import no_grad
        with no_grad():
            return run().array.copy()  # the output may be a view of the input we are about to perturb

    for k, t in enumerate(checked):
        numeric = xp.zeros(t.array.size)
        # every element in C order (as reshape(-1) below), by its index tuple: index the
        # array itself, not a reshape of it: a reshape of a non-contiguous array is a copy,
        # and perturbing a copy changes nothing. (Not xp.unravel_index: CuPy's wants an array.)
        for i, at in enumerate(itertools.product(*(range(n) for n in t.shape))):
            old = float(t.array[at])
            t.array[at] = old + eps
            plus = f()
            t.array[at] = old - eps
            minus = f()
            t.array[at] = old
            # subtract before summing: a large constant output (a -1e9 mask
            # fill) would otherwise cancel away every digit of the difference
            numeric[i] = float((u * (plus - minus)).sum()) / (2 * eps)
        a = analytic[k].reshape(-1)
        err = xp.abs(a - numeric) - (atol + rtol * xp.abs(numeric))
        if bool((err > 0).any()):
            i = int(err.argmax())
            if raise_exception:
                raise GradcheckError(f"gradient of input {next(i for i, x in enumerate(inputs) if x is t)} (shape {t.shape}) is wrong at flat index "
                                     f"{i}: analytic {float(a[i]):.10g}, numerical {float(numeric[i]):.10g}")
            return False
    return True
