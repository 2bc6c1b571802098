"""minissl: self-supervised learning built from scratch, for learning.

``import minissl as ms`` gives the tensor API (mirroring PyTorch's names)::

    x = ms.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x ** 2).sum()
    y.backward()          # x.grad == 2 x

Set ``MINISSL_BACKEND=cupy`` to run the same code on an NVIDIA GPU.

The rule for every name shared with PyTorch: the same call gives the same
result (values, dtype, shape, aliasing, in-place effects), or it raises at once
with a sentence saying what differs. The deliberate differences are listed in
the README ("Differences from PyTorch").
"""
from __future__ import annotations

import builtins as _builtins
import contextlib as _contextlib

from . import backend
from .backend import manual_seed, xp
from .devices import amp, autocast, backends, cuda, device
from .gradcheck import GradcheckError, gradcheck
from .io import CheckpointError, load, save
from .safetensors import SafetensorsError, load_safetensors, save_safetensors
from .ops import (abs, add, all, amax, amin, any, argmax, argmin, argsort, cat, chunk, clamp, clone,  # noqa: F401,A004
                  div, exp, flatten, gather, log, matmul, max, maximum, mean, min, minimum, mul, one_hot, pow,
                  norm, relu, roll, sigmoid, softmax, sort, split, sqrt, stack, std, sub, sum, tanh, topk, tril,
                  triu, unique, var, where)
from .ops import clamp as clip  # noqa: F401
from .ops import promote_types, result_type  # noqa: F401
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad, tensor

# dtypes by PyTorch's names (NumPy dtypes underneath)
float32 = float = xp.dtype(xp.float32)  # noqa: A001
float64 = double = xp.dtype(xp.float64)
float16 = half = xp.dtype(xp.float16)
int64 = long = xp.dtype(xp.int64)
int32 = int = xp.dtype(xp.int32)  # noqa: A001
int16 = short = xp.dtype(xp.int16)
int8, uint8 = xp.dtype(xp.int8), xp.dtype(xp.uint8)
bool = bool_ = xp.dtype(xp.bool_)  # noqa: A001

from . import distributed, nn, optim, utils  # noqa: E402 - `import minissl as ms` reaches ms.nn, ms.optim, ms.utils.data

inference_mode = no_grad
__version__ = "0.1.0"


def __getattr__(name):
    if name == "bfloat16":
        raise AttributeError("ms.bfloat16: NumPy and CuPy have no bfloat16 dtype; use ms.float32 (or ms.float16 "
                             "to halve memory)")
    raise AttributeError(f"module 'minissl' has no attribute {name!r}")


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _new(array, requires_grad, device):
    from .devices import check
    check(device)
    return Tensor(array, requires_grad=requires_grad, _internal=True)


def _float(dtype):
    return float32 if dtype is None else dtype


# ---------------------------------------------------------------- factories (PyTorch's signatures)
def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _new(xp.zeros(_shape(size), dtype=_float(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _new(xp.ones(_shape(size), dtype=_float(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """Zero-filled (PyTorch leaves the memory uninitialised; any values are allowed there)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:  # PyTorch infers the dtype from the fill value
        dtype = bool if isinstance(fill_value, _builtins.bool) else int64 if isinstance(fill_value, _builtins.int) \
            else float32
    return _new(xp.full(_shape((size,)), fill_value, dtype=dtype), requires_grad, device)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _new(xp.eye(n, m, dtype=_float(dtype)), requires_grad, device)


def _like(t, dtype):
    return t.dtype if dtype is None else dtype


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _new(xp.zeros(t.shape, dtype=_like(t, dtype)), requires_grad, device)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _new(xp.ones(t.shape, dtype=_like(t, dtype)), requires_grad, device)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return _new(xp.full(t.shape, fill_value, dtype=_like(t, dtype)), requires_grad, device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples from minissl's seeded generator (not PyTorch's stream)."""
    data = _gen(generator).standard_normal(_shape(size), dtype=xp.float64).astype(_float(dtype))
    return _new(data, requires_grad, device)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples on [0, 1) from minissl's seeded generator."""
    data = _gen(generator).random(_shape(size), dtype=xp.float64).astype(_float(dtype))
    return _new(data, requires_grad, device)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return randn(t.shape, dtype=_like(t, dtype), device=device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return rand(t.shape, dtype=_like(t, dtype), device=device, requires_grad=requires_grad)


def randint(*args, size=None, dtype=None, device=None, generator=None):
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high), int64."""
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        args = (0,) + args
    if len(args) != 3:
        raise TypeError("randint(high, size) or randint(low, high, size), with size a tuple")
    low, high, shape = args
    if high <= low:
        raise RuntimeError(f"randint: high ({high}) must be greater than low ({low})")
    data = _gen(generator).integers(low, high, size=_shape((shape,))).astype(int64 if dtype is None else dtype)
    return _new(data, False, device)


def randint_like(t, low=0, high=None, dtype=None, device=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=_like(t, dtype), device=device)


def randperm(n, dtype=None, device=None, generator=None):
    """A random permutation of 0..n-1."""
    return _new(_gen(generator).permutation(n).astype(int64 if dtype is None else dtype), False, device)


def multinomial(input, num_samples, replacement=False, generator=None):
    """Draw ``num_samples`` category ids per row of ``input`` (non-negative weights; rows need not sum to 1).

    With replacement: inverse-CDF sampling, id = #{c : u > cdf_c} for u ~ U[0, 1).
    Without: the Gumbel-top-k trick, the k largest of log p_c + Gumbel noise."""
    p = input.array.astype(xp.float64)
    if p.ndim not in (1, 2) or _builtins.bool((p < 0).any()) or not _builtins.bool((p.sum(-1) > 0).all()):
        raise RuntimeError("multinomial: input must be a 1-D or 2-D tensor of non-negative weights with a "
                           "positive sum in every row")
    rows = p.reshape(-1, p.shape[-1])
    rng = _gen(generator)
    if replacement:
        cdf = xp.cumsum(rows / rows.sum(-1, keepdims=True), axis=-1)
        u = rng.random((rows.shape[0], num_samples))
        ids = (u[:, :, None] >= cdf[:, None, :-1]).sum(-1)
    else:
        if num_samples > _builtins.int((rows > 0).sum(-1).min()):
            raise RuntimeError("multinomial: cannot draw more samples than there are non-zero categories "
                               "without replacement")
        with xp.errstate(divide="ignore") if hasattr(xp, "errstate") else _contextlib.nullcontext():
            keys = xp.log(rows) - xp.log(-xp.log(rng.random(rows.shape)))
        ids = xp.argsort(-keys, axis=-1)[:, :num_samples]
    return Tensor(ids.reshape(p.shape[:-1] + (num_samples,)).astype(int64), _internal=True)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = int64 if _builtins.all(isinstance(v, _builtins.int) for v in (start, end, step)) else float32
    return _new(xp.arange(start, end, step, dtype=dtype), requires_grad, device)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _new(xp.linspace(start, end, steps, dtype=_float(dtype)), requires_grad, device)


def from_numpy(a):
    """A tensor with ``a``'s dtype (on the CPU backend sharing its memory, as PyTorch)."""
    return Tensor(xp.asarray(a), _internal=True)


def as_tensor(data, dtype=None, device=None):
    from .tensor import _to_backend
    return _new(_to_backend(data, dtype), False, device)


def is_tensor(obj) -> _builtins.bool:
    return isinstance(obj, Tensor)


def numel(t) -> _builtins.int:
    return t.numel()


def get_default_dtype():
    return float32


def set_default_dtype(dtype):
    if xp.dtype(dtype) != float32:
        raise NotImplementedError("minissl's default float dtype is float32 and cannot be changed; "
                                  "pass dtype= where you need float64")


def set_float32_matmul_precision(precision):
    """Accepted and ignored: NumPy/CuPy float32 matmuls are always full float32 (PyTorch's 'highest')."""


class Generator:
    """``ms.Generator().manual_seed(s)``: a private random stream for ``generator=`` arguments.

    Draws come from NumPy's PCG64, not PyTorch's Mersenne Twister, so the same
    seed gives different numbers than in PyTorch (the one unavoidable difference)."""

    def __init__(self, device=None):
        from .devices import check
        check(device)
        self.manual_seed(0)

    def manual_seed(self, seed):
        self.seed = seed
        self.rng = xp.random.default_rng(seed)  # for tensors (randn, randperm, ... on the backend)
        self.host_rng = backend.numpy.random.default_rng(seed)  # for data order (DataLoader, random_split)
        return self

    def initial_seed(self):
        return self.seed


def _gen(generator):
    return backend.rng() if generator is None else generator.rng


def seed():
    raise NotImplementedError("ms.seed() (a random seed) is not supported; call ms.manual_seed(n) to be reproducible")


def _not_in_minissl(name, why):
    def f(*args, **kwargs):
        raise NotImplementedError(f"ms.{name} is not available in minissl: {why}")
    return f


compile = _not_in_minissl("compile", "there is no graph compiler on NumPy/CuPy; drop the call (the model runs "  # noqa: A001
                          "eagerly either way)")
