"""System-level speed tricks, in one place, each kept for what it measurably buys.

The ops in ``minissl/ops`` are written as their formulas. The tricks here
compute the *same* formulas faster than NumPy's plain spelling; the backend
(:mod:`minissl.backend`) applies them, and an op that has a fast path reads
``if backend.fused.<op>:`` before its formula. ``MINISSL_SPEEDUPS=0`` switches
every trick off, so that each op runs exactly the formula it shows; the tests
compare the two ways. A learner may skip this file.

What each CPU trick buys, from ``python benchmarks/speedups.py`` (two runs) on
the project's shared 2-core Intel Xeon (1 BLAS thread, load average 12-19 while
measured; medians of process CPU time, trick on / off, the same work
alternating; ratios within about ±1.5% are noise at that load):

=============================  ==========================  ==================
trick                          GPT / BERT demo steps        other
=============================  ==========================  ==================
:func:`keep_freed_memory`      0.89-0.91 / 0.94             -
:func:`gelu_inplace`           0.94-0.96 / 0.97-0.98        -
:func:`scatter_add_rows`       1.00 / 0.98-0.99 (noise)     CBOW epoch 0.48
:func:`linear_few_rows`        - (thousands of rows)        see its docstring
=============================  ==========================  ==================

Measured and rejected (the formula stays): Adam's update through one scratch
array (0.99-1.01 on both steps). Kept for reproducibility rather than speed:
:func:`erf_float32` for float32 arrays whether or not SciPy is installed, so a
run's numbers do not depend on an optional package (SciPy's erf would be
1.5-2.5% faster on the BERT step, whose activations are small; without SciPy
the fit is 7x faster than the double-precision fallback).

GPU (CuPy): :func:`cupy_kernels` builds fused kernels for softmax, log-softmax,
cross-entropy's gradient, layer norm, GELU and Adam's update: each op's formula
in one pass over device memory instead of one CuPy kernel per operator. They are
tested against the NumPy formulas under ``tests/fakecupy`` (which evaluates the
kernels' source) and, on a GPU, by ``benchmarks/gpu_check.sh``. On one H100
(CuPy 14.2), the GPT and BERT demo steps and a 6-layer, 384-wide GPT step run
1.70×, 1.48× and 1.33× faster with them than with ``MINISSL_SPEEDUPS=0``
(``benchmarks/RESULTS.md``, GPU section).
"""
from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy  # host-side: every CPU trick here is about NumPy itself


# ---------------------------------------------------------------- CPU: the allocator
def keep_freed_memory(enabled=True):
    """Ask glibc to keep freed memory for reuse instead of handing it back to the OS.

    By default glibc serves blocks of 0.1-32 MB with their own mmap and returns
    them when freed, so each training step page-faults its whole working set in
    again. Raising the mmap threshold to 32 MB (glibc's largest) and the trim
    threshold to 1 GB keeps the memory one step freed for the next.
    ``MINISSL_KEEP_FREED_MEMORY=0`` turns this off. Returns whether it is on.
    """
    if not enabled or os.environ.get("MINISSL_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        if os.uname().sysname != "Linux":
            return False
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):  # not glibc (musl, Windows): nothing to tune
        return False


# ---------------------------------------------------------------- CPU: scatter-add of rows
def rows_of_matrix(target, index, values):
    """Does ``target[index] += values`` add whole rows of a C-ordered matrix (the fast case below)?"""
    return (isinstance(target, numpy.ndarray) and target.ndim == 2 and target.flags.c_contiguous
            and isinstance(index, numpy.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"
            and getattr(values, "shape", None) == (len(index), target.shape[1]))


def scatter_add_rows(target, index, values):
    """``target[index] += values`` for rows, repeated rows summed: ``np.add.at`` on the flat view.

    ``np.add.at`` has a fast loop only for 1-D targets, so row r, column j is
    added as flat element r·cols + j; for float32/64 with an even number of
    columns, pairs of floats are read as one complex number (complex + is the
    two float +'s), halving the indexed elements.
    """
    flat_t, flat_v = target.reshape(-1), numpy.ascontiguousarray(values, dtype=target.dtype).reshape(-1)
    if target.dtype in (numpy.float32, numpy.float64) and target.shape[1] % 2 == 0:
        pair = numpy.complex64 if target.dtype == numpy.float32 else numpy.complex128
        flat_t, flat_v = flat_t.view(pair), flat_v.view(pair)
    cols = len(flat_t) // len(target)
    # a negative row r gives flat indices r·cols + j in [-len, 0), which wrap to the same row
    # counted from the end; a row out of range gives a flat index out of range: IndexError
    flat = (index.astype(numpy.intp)[:, None] * cols + numpy.arange(cols)).reshape(-1)
    numpy.add.at(flat_t, flat, flat_v)
    return target


# ---------------------------------------------------------------- CPU: erf in float32
# erf(x) = x·p(x²)/q(x²) on [-4, 4] (±1 beyond, to float32 precision): the rational fit that
# Eigen and XLA use for float32, |error| < 5e-7 against double precision.
_ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
            -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
_ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)


def erf_float32(x):
    """erf of a float32 array by the rational fit above, in float32 (~25 vectorised passes)."""
    c = numpy.clip(x, -4, 4)
    x2 = c * c
    p, q = _horner(x2, _ERF32_P), _horner(x2, _ERF32_Q)
    p *= c
    p /= q
    return p


def _horner(x2, coefs):
    """Σ coefs[i]·x2^(n-1-i), in place in one float32 buffer."""
    acc = x2 * numpy.float32(coefs[0])
    acc += numpy.float32(coefs[1])
    for a in coefs[2:]:
        acc *= x2
        acc += numpy.float32(a)
    return acc


# ---------------------------------------------------------------- CPU: GELU in place
# The same formulas as Gelu (ops/math.py), in the same order of operations (so the
# same bits), written as in-place updates of one or two buffers:
# an MLP's hidden activation is the largest array of a Transformer step, and each
# temporary NumPy allocates is one more pass over fresh (cache-cold) memory.
_C1 = math.sqrt(2.0 / math.pi)               # √(2/π), as backend.SQRT_2_OVER_PI
_C3 = 3 * 0.044715 * _C1


def gelu_inplace(a, approximate, erf):
    """(GELU(a), what the backward needs: t for the tanh form, Φ(a) for the exact one)."""
    if approximate == "tanh":
        t = a * a
        t *= a
        t *= 0.044715
        t += a
        t *= _C1
        numpy.tanh(t, out=t)                 # t = tanh(√(2/π)(a + 0.044715a³))
        y = t + 1
        y *= a
        y *= 0.5                             # ½a(1 + t)
        return y, t
    cdf = erf(a * 2 ** -0.5)
    cdf += 1
    cdf *= 0.5                               # Φ(a) = ½(1 + erf(a/√2))
    return a * cdf, cdf


def gelu_backward_inplace(a, saved, g, approximate):
    if approximate == "tanh":                # ½(1 + t + a(1 - t²)(√(2/π) + 3·0.044715·√(2/π)·a²))·g
        t, d, u = saved, saved * saved, a * a
        numpy.subtract(1, d, out=d)
        u *= _C3
        u += _C1
        d *= u
        d *= a
        d += t
        d += 1
        d *= 0.5
        d *= g
        return d
    d = a * a                                # (φ(a)·a + Φ(a))·g
    d *= -0.5
    numpy.exp(d, out=d)
    d *= 1 / (2 * math.pi) ** 0.5
    d *= a
    d += saved
    d *= g
    return d


# ---------------------------------------------------------------- GPU: fused CuPy kernels
# Each CuPy op (z - m, exp, sum, /) is one kernel launch and one pass over device memory;
# these kernels do a whole formula per element in one pass. The bodies use only arithmetic,
# exp/log/tanh/erf/sqrt and T(...) casts, so tests/fakecupy can evaluate the same source on
# the CPU and compare it with the NumPy formula of each op.
def cupy_kernels(cp):
    """The fused kernels, built on CuPy module ``cp`` (compiled at first use, cached on disk)."""
    ew, red = cp.ElementwiseKernel, cp.ReductionKernel

    def row_sum(params, expr, name):  # Σ over the reduced axis of expr (a + b, identity 0)
        return red(params, "T s", expr, "a + b", "s = a", "0", name)

    sum_exp = row_sum("T z, T m", "exp(z - m)", "minissl_sum_exp")             # Σ exp(z - max)
    sum_prod = row_sum("T x, T y", "x * y", "minissl_sum_prod")                # Σ x·y
    sum_sq_dev = row_sum("T x, T mu", "(x - mu) * (x - mu)", "minissl_sum_sq_dev")
    softmax_out = ew("T z, T m, T s", "T y", "y = exp(z - m) / s", "minissl_softmax")
    softmax_grad = ew("T g, T y, T r", "T gz", "gz = y * (g - r)", "minissl_softmax_grad")
    log_softmax_out = ew("T z, T m, T s", "T y", "y = z - m - log(s)", "minissl_log_softmax")
    # cross-entropy: (softmax(z) - q)·scale with q = (1-ε)·onehot(y) + ε/C; column = i % C
    ce_grad = ew("T logp, Y y, T scale, T eps_c, T hit, int64 c", "T gz",
                 "gz = (exp(logp) - eps_c - (y == i % c) * hit) * scale", "minissl_ce_grad")
    ln_out = ew("T x, T mu, T rstd, T w, T b", "T xhat, T y",
                "xhat = (x - mu) * rstd; y = xhat * w + b", "minissl_layer_norm")
    # dx = (ĝ - mean(ĝ) - x̂·mean(ĝ ⊙ x̂)) / σ with ĝ = g·w; s0 = Σ ĝ, s1 = Σ ĝ ⊙ x̂ over the row
    ln_grad = ew("T g, T w, T xhat, T s0, T s1, T rstd, T inv_d", "T gx",
                 "gx = (g * w - (s0 + xhat * s1) * inv_d) * rstd", "minissl_layer_norm_grad")
    sum_gw = row_sum("T g, T w", "g * w", "minissl_sum_gw")
    sum_gwx = row_sum("T g, T w, T xhat", "g * w * xhat", "minissl_sum_gwx")
    # GELU: y = x·Φ(x); dy/dx = Φ(x) + x·φ(x). Backward recomputes Φ from x (nothing else saved).
    gelu = ew("T x", "T y", "y = T(0.5) * x * (T(1) + erf(x * T(0.7071067811865476)))", "minissl_gelu")
    gelu_grad = ew("T x, T g", "T gx",
                   "gx = g * (T(0.5) * (T(1) + erf(x * T(0.7071067811865476)))"
                   " + x * exp(T(-0.5) * x * x) * T(0.3989422804014327))", "minissl_gelu_grad")
    # tanh form: t = tanh(√(2/π)(x + 0.044715x³)); y = ½x(1+t); dy/dx = ½(1+t) + ½x(1-t²)√(2/π)(1+3·0.044715x²)
    gelu_tanh = ew("T x", "T y", "T t = tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x));"
                   "y = T(0.5) * x * (T(1) + t)", "minissl_gelu_tanh")
    gelu_tanh_grad = ew("T x, T g", "T gx",
                        "T t = tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x));"
                        "gx = g * T(0.5) * (T(1) + t + x * (T(1) - t * t)"
                        " * (T(0.7978845608028654) + T(0.1070322244089) * x * x))", "minissl_gelu_tanh_grad")
    # Adam, in place: m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²; p ← decay·p - step·m/(√v/√bc2 + eps)
    adam = ew("T g, T b1, T b2, T step, T sqrt_bc2, T eps, T decay", "T p, T m, T v",
              "m = b1 * m + (T(1) - b1) * g; v = b2 * v + (T(1) - b2) * (g * g);"
              "p = decay * p - m / (sqrt(v) / sqrt_bc2 + eps) * step", "minissl_adam")

    def softmax(z):
        m = z.max(axis=-1, keepdims=True)
        return softmax_out(z, m, sum_exp(z, m, axis=-1, keepdims=True))

    def softmax_backward(g, y):
        return softmax_grad(g, y, sum_prod(g, y, axis=-1, keepdims=True))

    def log_softmax(z):
        m = z.max(axis=-1, keepdims=True)
        return log_softmax_out(z, m, sum_exp(z, m, axis=-1, keepdims=True))

    def cross_entropy_backward(logp, y, scale, eps):
        c = logp.shape[1]
        return ce_grad(logp, y[:, None], scale[:, None], eps / c, 1 - eps, c)

    def layer_norm(x2, w, b, eps):
        """x2 (rows, D), w and b (D,): returns y, x̂ and 1/σ (rows, 1)."""
        mu = x2.mean(axis=1, keepdims=True)
        rstd = 1 / cp.sqrt(sum_sq_dev(x2, mu, axis=1, keepdims=True) / x2.shape[1] + eps)
        xhat, y = ln_out(x2, mu, rstd, w, b)
        return y, xhat, rstd

    def layer_norm_backward(g2, w, xhat, rstd):
        s0 = sum_gw(g2, w, axis=1, keepdims=True)
        s1 = sum_gwx(g2, w, xhat, axis=1, keepdims=True)
        return ln_grad(g2, w, xhat, s0, s1, rstd, 1.0 / xhat.shape[1])

    return SimpleNamespace(
        softmax=softmax, softmax_backward=softmax_backward, log_softmax=log_softmax,
        cross_entropy_backward=cross_entropy_backward, layer_norm=layer_norm,
        layer_norm_backward=layer_norm_backward,
        gelu=lambda x, approximate: ((gelu_tanh if approximate == "tanh" else gelu)(x), None),
        gelu_backward=lambda x, _, g, approximate: (gelu_tanh_grad if approximate == "tanh" else gelu_grad)(x, g),
        adam=adam)


# ---------------------------------------------------------------- CPU: a linear layer on a few rows
FEW_ROWS = (2, 32)


def linear_few_rows(x2, w):
    """``x2 @ w.T`` for x2 (rows, in) and w (out, in); with 2-32 rows computed as ``(w @ x2.T).T``.

    The same products and sums (in another order, so not the same bits). For a few rows
    (a batch of sequences decoding one token each), OpenBLAS's sgemm is faster with the
    weight on the left. Measured on SmolLM2-135M's layer shapes (576×576, 192×576,
    1536×576, 576×1536, 30 of each, so the weights come from memory; 1 thread, load
    average about 7), time with / without: 0.87 at 2 rows, 0.75 at 4, 0.74-0.77 at 8,
    0.80 at 16, 0.88 at 24, 0.91 at 32; 0.96 at 48 and 1.03 at 64, where it stops paying,
    and 1.05 at 1 row (NumPy's matrix-vector path either way).
    """
    if FEW_ROWS[0] <= x2.shape[0] <= FEW_ROWS[1]:
        return numpy.ascontiguousarray((w @ x2.T).T)
    return x2 @ w.T


# ---------------------------------------------------------------- which fast paths an op takes
FUSED = ("softmax", "softmax_backward", "log_softmax", "cross_entropy_backward", "layer_norm",
         "layer_norm_backward", "gelu", "gelu_backward", "adam", "linear")


def fused_ops(xp, on_gpu, erf, enabled=True):
    """The fast path of each op in ``FUSED`` for this backend, None where the op uses its formula.

    ``backend.fused`` holds the result; an op reads e.g. ``if fused.gelu: ...`` before its formula.
    With ``enabled=False`` (``MINISSL_SPEEDUPS=0``) every op runs exactly the formula it shows."""
    paths = dict.fromkeys(FUSED)
    if enabled and on_gpu:
        paths.update(vars(cupy_kernels(xp)))
    elif enabled:
        paths.update(gelu=lambda a, approximate: gelu_inplace(a, approximate, erf),
                     gelu_backward=gelu_backward_inplace, linear=linear_few_rows)
    return SimpleNamespace(**paths)
