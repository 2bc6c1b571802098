"""``minissl.nn.init``: fill a tensor in place with a chosen initial distribution (``torch.nn.init``).

Why the scale matters: a layer y = W x with n inputs of variance 1 gives outputs of
variance n·Var(W). Choosing Var(W) ∝ 1/n keeps activations (and, with fan_out,
gradients) at the same scale from layer to layer:

* Xavier/Glorot (tanh/linear nets):  std = gain · sqrt(2 / (fan_in + fan_out))
* Kaiming/He (ReLU nets):            std = gain / sqrt(fan)   (fan = fan_in or fan_out)

A uniform U(-b, b) has std b/√3, so the uniform variants use b = √3 · std.
``fan_in`` = in_features × receptive field and ``fan_out`` = out_features ×
receptive field, for a weight of shape (out, in, *kernel) (Linear: (out, in)).

Every function writes into the tensor's own memory under ``no_grad`` (so a
Parameter stays the same object, and optimisers that hold it see the new values),
and returns the tensor, as PyTorch. Samples come from minissl's seeded generator,
or ``generator=`` (an ``ms.Generator``): the same distribution as PyTorch, not
the same numbers.
"""
from __future__ import annotations

import math
import warnings

from .. import backend
from ..backend import xp
from ..tensor import Tensor, no_grad

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"]


def _rng(generator):
    return backend.rng() if generator is None else generator.rng


def _write(tensor, values):
    """Overwrite ``tensor`` with the backend array ``values`` (cast to its dtype), in place, no graph."""
    with no_grad():
        tensor.copy_(Tensor(xp.asarray(values, dtype=tensor.dtype), _internal=True))
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The factor by which ``nonlinearity`` shrinks the std of its input, undone at init.

    linear, conv, sigmoid: 1;  tanh: 5/3;  relu: √2;  leaky_relu(slope): √(2 / (1 + slope²));  selu: 3/4.
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) = (shape[1], shape[0]) × the product of shape[2:] (the receptive field)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _empty(tensor):
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return True
    return False


# ---------------------------------------------------------------- plain distributions
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """U(a, b)."""
    return _write(tensor, _rng(generator).random(tensor.shape, dtype=xp.float64) * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """N(mean, std²)."""
    return _write(tensor, _rng(generator).standard_normal(tensor.shape, dtype=xp.float64) * std + mean)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std²) conditioned on a ≤ x ≤ b (``a``, ``b`` are values, not multiples of std).

    Drawn by rejection: sample the normal, redraw whatever fell outside [a, b].
    The result has exactly the truncated distribution (PyTorch inverts the CDF
    instead); an interval holding under 0.01% of the mass is refused, since
    rejection would then take too long."""
    cdf = lambda v: 0.5 * (1 + math.erf((v - mean) / (std * math.sqrt(2))))  # noqa: E731
    mass = cdf(b) - cdf(a)
    if not mass >= 1e-4:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds {mass:.2g} of N({mean}, {std}²), too little "
                         "to sample by rejection; choose a and b within a few std of the mean")
    rng, n = _rng(generator), tensor.numel()
    out = xp.empty(n, dtype=xp.float64)
    todo = xp.arange(n)
    while todo.size:
        draw = rng.standard_normal(todo.size, dtype=xp.float64) * std + mean
        ok = (draw >= a) & (draw <= b)
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return _write(tensor, out.reshape(tensor.shape))


def constant_(tensor, val):
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """The identity matrix (a 2-D tensor; ones on the main diagonal of a rectangle)."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, xp.eye(*tensor.shape))


# ---------------------------------------------------------------- scaled by the fans
def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-b, b), b = gain · √(6 / (fan_in + fan_out))  (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std²), std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-b, b), b = √3 · gain / √fan, gain = calculate_gain(nonlinearity, a)  (He et al., 2015).

    ``a`` is the leaky ReLU's negative slope; the defaults with ``a=√5`` are what
    PyTorch's Linear uses (b = 1/√fan_in)."""
    if _empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std²), std = gain / √fan, gain = calculate_gain(nonlinearity, a)."""
    if _empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix (rows or columns orthonormal), times ``gain`` (Saxe et al., 2013).

    The tensor is viewed as (shape[0], rest). QR-decompose a Gaussian matrix and
    multiply each column of Q by the sign of R's diagonal: that makes Q uniform
    over orthogonal matrices (the Haar measure)."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols), dtype=xp.float64)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (gain * q).reshape(tensor.shape))


# PyTorch's old names without the trailing underscore are long deprecated; they are not provided.
