"""minissl: self-supervised learning built from scratch, for learning.

``import minissl as ms`` gives the tensor API (mirroring PyTorch's names)::

    x = ms.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x ** 2).sum()
    y.backward()          # x.grad == 2 x

Set ``MINISSL_BACKEND=cupy`` to run the same code on an NVIDIA GPU.
"""
from __future__ import annotations

from . import backend
from .backend import manual_seed, xp
from .gradcheck import GradcheckError, gradcheck
from .io import CheckpointError, SafetensorsError, load, load_safetensors, save, save_safetensors
from .ops import (abs, cat, exp, log, matmul, max, mean, relu, sigmoid, softmax, split, sqrt, stack, sum,  # noqa: F401,A004
                  tanh, var, where)
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad, tensor

float32, float64, int64, int32, bool_ = xp.float32, xp.float64, xp.int64, xp.int32, xp.bool_
long = int64

__version__ = "0.1.0"


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def zeros(*size, dtype=float32, requires_grad=False):
    return Tensor(xp.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad, _internal=True)


def ones(*size, dtype=float32, requires_grad=False):
    return Tensor(xp.ones(_shape(size), dtype=dtype), requires_grad=requires_grad, _internal=True)


def full(size, fill_value, dtype=float32, requires_grad=False):
    return Tensor(xp.full(_shape((size,)), fill_value, dtype=dtype), requires_grad=requires_grad, _internal=True)


def zeros_like(t, dtype=None):
    return Tensor(xp.zeros_like(t.data, dtype=dtype), _internal=True)


def ones_like(t, dtype=None):
    return Tensor(xp.ones_like(t.data, dtype=dtype), _internal=True)


def randn(*size, dtype=float32, requires_grad=False):
    """Standard normal samples from minissl's seeded generator."""
    data = backend.rng().standard_normal(_shape(size), dtype=xp.float64).astype(dtype)
    return Tensor(data, requires_grad=requires_grad, _internal=True)


def rand(*size, dtype=float32, requires_grad=False):
    """Uniform samples on [0, 1) from minissl's seeded generator."""
    data = backend.rng().random(_shape(size), dtype=xp.float64).astype(dtype)
    return Tensor(data, requires_grad=requires_grad, _internal=True)


def randint(low, high, size, dtype=int64):
    return Tensor(backend.rng().integers(low, high, size=_shape((size,))).astype(dtype), _internal=True)


def arange(start, end=None, step=1, dtype=None):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = int64 if all(isinstance(v, int) for v in (start, end, step)) else float32
    return Tensor(xp.arange(start, end, step, dtype=dtype), _internal=True)


def from_numpy(a):
    return Tensor(a)
