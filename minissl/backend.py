"""The one place that picks the array library: NumPy on the CPU, CuPy on a GPU.

Set ``MINISSL_BACKEND=cupy`` before importing minissl to run everything on an
NVIDIA GPU; the default is ``numpy``. Every module that does array math writes
``from minissl.backend import xp`` and calls ``xp.exp``, ``xp.matmul`` ...; the
few things NumPy and CuPy spell differently (scatter-add, ``erf``, random
generators, copying to the host) live in the small shim below, so no other file
needs to know which library it runs on.
"""
from __future__ import annotations

import math
import os

import numpy  # host-side NumPy: always available, used for I/O and conversions

from . import speedups

_CHOICES = ("numpy", "cupy")


class BackendError(ImportError):
    """Raised at import when the requested backend cannot be used.

    An ImportError (not SystemExit): a host program that imports minissl can
    catch it with ``except ImportError`` or ``except Exception`` and carry on
    without it; a script that wants one line instead of a traceback catches it
    and exits (``demos/common.py`` does).
    """


def _select(name: str):
    name = name.strip().lower()
    if name not in _CHOICES:
        raise BackendError(
            f"MINISSL_BACKEND={name!r} is not a known backend: use 'numpy' (the default) or 'cupy' (NVIDIA GPU).")
    if name == "numpy":
        return numpy
    try:
        import cupy
    except ImportError:
        raise BackendError(
            "MINISSL_BACKEND='cupy' was asked for but CuPy is not installed: "
            "run `pip install minissl[gpu]` (CUDA 12) or `pip install minissl[gpu-cuda13]`, "
            "or unset MINISSL_BACKEND to use NumPy.") from None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
        cupy.zeros(1).sum()  # touches the driver: fails here, not deep inside a model
    except Exception as e:  # noqa: BLE001 - any CUDA failure means the same thing to the user
        raise BackendError(
            f"MINISSL_BACKEND='cupy' was asked for but CuPy cannot use a GPU ({type(e).__name__}: {e}); "
            "check `nvidia-smi` and the CUDA driver, or unset MINISSL_BACKEND to use NumPy.") from None
    return cupy


NAME = os.environ.get("MINISSL_BACKEND", "numpy").strip().lower() or "numpy"
xp = _select(NAME)  # a bad choice raises BackendError: one sentence, no chained CuPy traceback

on_gpu = xp is not numpy
ndarray = xp.ndarray


# Speed tricks live in minissl/speedups.py; MINISSL_SPEEDUPS=0 turns them all off, so that every
# op runs exactly the formula it shows (the tests compare the two ways).
SPEEDUPS = os.environ.get("MINISSL_SPEEDUPS", "1").strip() != "0"
malloc_tuned = speedups.keep_freed_memory(enabled=SPEEDUPS and not on_gpu)


def asarray(a, dtype=None):
    """Move ``a`` (list, NumPy or CuPy array, scalar) onto the backend."""
    return xp.asarray(a, dtype=dtype)


def to_numpy(a) -> numpy.ndarray:
    """A NumPy copy of a backend array or a Tensor (copied off the GPU when needed)."""
    a = getattr(a, "array", a)  # a Tensor: its backend array
    if on_gpu and isinstance(a, xp.ndarray):
        return xp.asnumpy(a)
    return numpy.asarray(a)


def is_array(a) -> bool:
    return isinstance(a, (numpy.ndarray, xp.ndarray))


def scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices summed (unbuffered).

    On the GPU, whole rows (an embedding's gradient, word2vec's updates) are summed by
    :func:`_scatter_rows_gpu`, in a fixed order, so a seeded run repeats to the last bit;
    any other index goes through ``cupyx.scatter_add``, whose atomic adds do not."""
    if on_gpu:
        if _rows_on_gpu(target, index, values):
            return _scatter_rows_gpu(target, index, values)
        import cupyx
        cupyx.scatter_add(target, index, values)
    elif SPEEDUPS and speedups.rows_of_matrix(target, index, values):  # embedding gradients, word2vec updates
        speedups.scatter_add_rows(target, index, values)
    else:
        numpy.add.at(target, index, values)
    return target


def _rows_on_gpu(target, index, values):
    return (target.dtype.kind == "f" and target.ndim >= 1 and target.flags.c_contiguous
            and isinstance(index, xp.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"
            and getattr(values, "shape", None) == (len(index),) + target.shape[1:])


def _scatter_rows_gpu(target, index, values, chunk_elements=1 << 26):
    """``target[index] += values`` for whole rows, as a matrix product: Δ[u] = onehot(index == u)ᵀ · values.

    ``cupyx.scatter_add`` adds each row with atomics, so repeated rows are summed in
    whatever order the threads arrive: the same seed gives other bits on every run.
    A product with the one-hot matrix (unique rows × N) sums each row's values in one
    fixed order (as PyTorch's CUDA embedding backward sorts instead of racing). The
    one-hot matrix is built ``chunk_elements`` at a time. Negative rows count from
    the end; like CuPy's indexing, rows out of range wrap around.
    """
    n = len(target)
    if n == 0 or len(index) == 0:
        return target
    t2 = target.reshape(n, -1)                       # a view: target is C-contiguous
    v2 = values.reshape(len(index), -1).astype(target.dtype, copy=False)
    rows, where = xp.unique(index % n, return_inverse=True)
    where = where.reshape(-1)
    step = max(1, chunk_elements // len(index))
    for lo in range(0, len(rows), step):
        onehot = (where[None, :] == xp.arange(lo, min(lo + step, len(rows)))[:, None]).astype(target.dtype)
        t2[rows[lo:lo + step]] += onehot @ v2       # rows are unique: no repeated assignment
    return target


def _erf_numpy(x):
    # Double-precision erf for NumPy without SciPy: erf(x) = 1 - erfc(x), with
    # erfc from the Chebyshev fit of Numerical Recipes (3rd ed., Erf::erfccheb).
    z = numpy.abs(x)
    t = 2.0 / (2.0 + z)
    ty = 4.0 * t - 2.0
    d = numpy.zeros_like(z)
    dd = numpy.zeros_like(z)
    for c in _ERFC_COF[:0:-1]:
        d, dd = ty * d - dd + c, d
    erfc = t * numpy.exp(-z * z + 0.5 * (_ERFC_COF[0] + ty * d) - dd)
    return numpy.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype, copy=False)


_ERFC_COF = (-1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3,
             -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5,
             -1.624290004647e-6, 1.303655835580e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9,
             5.059343495e-9, -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12,
             8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16,
             -2.8e-17)

if on_gpu:
    from cupyx.scipy.special import erf  # noqa: F401
else:
    try:  # SciPy's erf is the same function in double precision, only faster; it is optional
        from scipy.special import erf as _erf_scipy
    except ImportError:  # pragma: no cover - depends on the machine
        _erf_scipy = None

    def erf(x):
        """The error function, in x's dtype: the float32 fit for float32 arrays (speedups.py; the
        same bits with or without SciPy, so results do not depend on what else is installed),
        double precision (SciPy's where installed, else Numerical Recipes) for anything else."""
        if SPEEDUPS and getattr(x, "dtype", None) == numpy.float32 and x.ndim:
            return speedups.erf_float32(x)
        if _erf_scipy is not None:
            y = _erf_scipy(x)  # float16 comes back as float32
            return y.astype(x.dtype, copy=False) if getattr(x, "ndim", 0) and y.dtype != x.dtype else y
        return _erf_numpy(x)


fused = speedups.fused_ops(xp, on_gpu, erf, enabled=SPEEDUPS)
"""Each hot op's fast path on this backend (GPU kernels, CPU in-place forms), or None: see speedups.py."""

# ---------------------------------------------------------------- random numbers
# One generator on the backend (parameters, dropout masks, augmentations) and
# one on the host (data shuffling, collators); ms.manual_seed seeds both.
_rng = xp.random.default_rng(0)
_host_rng = numpy.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed every random generator minissl uses, on either backend."""
    global _rng, _host_rng
    _rng = xp.random.default_rng(seed)
    _host_rng = numpy.random.default_rng(seed)


def rng():
    """The backend's random generator (a ``Generator`` with the NumPy API)."""
    return _rng


def host_rng() -> numpy.random.Generator:
    """The host-side NumPy generator, for data order and other CPU-side draws."""
    return _host_rng


SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SQRT_HALF = 2 ** -0.5
INV_SQRT_2PI = 1 / (2 * math.pi) ** 0.5
