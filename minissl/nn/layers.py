"""The basic layers: Linear, Embedding, LayerNorm, BatchNorm1d/2d, Dropout, activations, losses.

Initialisations follow PyTorch's defaults so that a model built here and the
same model built in PyTorch start from the same distribution.
"""
from __future__ import annotations

import math
import operator

from .. import backend
from .. import ops as F
from ..backend import xp
from ..tensor import Tensor, no_grad, tensor
from ..ops.nn import _legacy_reduction, leaky_relu, silu
from . import functional
from .module import Module, Parameter


def _size(layer, name, value):
    """``value`` as a size: an integer >= 0 (0 is allowed, as in PyTorch: an empty layer)."""
    try:
        n = operator.index(value)  # ints and NumPy integers, not 2.5 or "8"
    except TypeError:
        raise TypeError(f"{layer}: {name} must be an integer, got {value!r}") from None
    if n < 0:
        raise ValueError(f"{layer}: {name} must be >= 0, got {n}")
    return n


def _probability(layer, p):
    if not 0 <= p <= 1:  # also refuses NaN
        raise ValueError(f"{layer}: dropout probability has to be between 0 and 1, but got {p}")
    return p


def uniform_(shape, bound, dtype=xp.float32):
    return Parameter((backend.rng().random(shape, dtype=xp.float64) * 2 - 1).astype(dtype) * bound)


def normal_(shape, std, dtype=xp.float32):
    return Parameter(backend.rng().standard_normal(shape, dtype=xp.float32).astype(dtype) * std)


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out_features, in_features). Init: U(±1/√in), as PyTorch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=xp.float32):
        super().__init__()
        in_features, out_features = _size("Linear", "in_features", in_features), _size("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features else 0.0  # no inputs: bias 0, as PyTorch
        self.weight = uniform_((out_features, in_features), bound, dtype)
        self.bias = uniform_((out_features,), bound, dtype) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i is the vector of token i. Init N(0, 1), as PyTorch."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype=xp.float32):
        super().__init__()
        num_embeddings = _size("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = _size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for a table of {num_embeddings} "
                                 f"embeddings; use an index in [-{num_embeddings}, {num_embeddings}) or None")
            padding_idx %= num_embeddings  # PyTorch stores a negative index as its positive twin
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.weight = normal_((num_embeddings, embedding_dim), 1.0, dtype)
        if padding_idx is not None:
            self.weight.array[padding_idx] = 0

    def forward(self, ids):
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalise each vector over its last dims to mean 0, variance 1, then scale and shift."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, dtype=xp.float32):
        super().__init__()
        try:
            shape = (operator.index(normalized_shape),)
        except TypeError:
            try:
                shape = tuple(normalized_shape)
            except TypeError:
                raise TypeError(f"LayerNorm: normalized_shape must be an int or a tuple of ints, "
                                f"got {normalized_shape!r}") from None
        # () is accepted here, as PyTorch does; layer_norm refuses it at the first call
        self.normalized_shape = tuple(_size("LayerNorm", "normalized_shape", n) for n in shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(xp.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(xp.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.weight = self.bias = None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class RMSNorm(Module):
    """Rescale each vector over its last dims to root-mean-square 1, then by a learned weight
    (``torch.nn.RMSNorm``'s signature; see :func:`minissl.nn.functional.rms_norm`)."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, dtype=xp.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(_size("RMSNorm", "normalized_shape", n) for n in shape)
        self.eps = eps
        self.weight = Parameter(xp.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None

    def forward(self, x):
        return functional.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class _BatchNorm(Module):
    """Normalise each channel (dim 1) over the batch and every other axis (one module for 1-D and 2-D).

    Training uses the batch's mean and (biased) variance and, with
    ``track_running_stats``, updates running estimates ``running = (1 - momentum)·running
    + momentum·batch`` (the running variance uses the unbiased batch variance, as
    PyTorch; ``momentum=None`` averages all batches so far). Eval uses the running
    estimates, or the batch's when there are none. Buffers and parameters are named
    as PyTorch's (``num_batches_tracked`` included), so state dicts move between the two.
    """

    _shapes = ()  # allowed input ranks, set by each subclass

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=xp.float32):
        super().__init__()
        name = type(self).__name__
        num_features = _size(name, "num_features", num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(xp.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(xp.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", tensor(xp.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", tensor(xp.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", tensor(xp.zeros((), dtype=xp.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_(), self.running_var.fill_(1), self.num_batches_tracked.zero_()

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._shapes or x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}) expects input {self._expected()}, got {x.shape}")
        if self.num_features == 0:  # PyTorch builds it too, and fails at the first call
            raise ValueError(f"{name}(0) has no features to normalise; give num_features the size of dim 1")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            if self.momentum is None:  # a cumulative average of every batch so far
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or self.running_mean is None
        if use_batch and x.numel() // self.num_features < 2:
            raise ValueError(f"{name} in training mode needs more than one value per feature; "
                             "use a batch of at least 2 or call .eval()")
        return functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                                     factor, self.eps)

    def _expected(self):
        n = self.num_features
        return {2: f"(N, {n})", 3: f"(N, {n}, L)", 4: f"(N, {n}, H, W)"}[self._shapes[0]] + (
            f" or (N, {n}, L)" if len(self._shapes) > 1 else "")

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input, per channel C."""
    _shapes = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of images (N, C, H, W), per channel C (statistics over N, H and W)."""
    _shapes = (4,)


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = _probability("Dropout", p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0). ``inplace=True`` overwrites the input, as PyTorch (it is then not kept for backward)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return x._inplace(F.relu) if self.inplace else F.relu(x)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Identity(Module):
    def forward(self, x):
        return x


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class SiLU(Module):
    """x·σ(x), also called swish."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return silu(x, inplace=self.inplace)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """softmax along ``dim``. PyTorch's ``dim=None`` (a dim guessed from the rank, deprecated) is
    refused when called, by F.softmax, with a sentence saying to pass dim."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, dim=self.dim)


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C·H·W) by default (start_dim=1)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: the inverse of Flatten."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])


# ---------------------------------------------------------------- losses as modules (PyTorch's names)
class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _legacy_reduction(type(self).__name__, size_average, reduce, reduction)


class CrossEntropyLoss(_Loss):
    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return functional.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                                        reduction=self.reduction, label_smoothing=self.label_smoothing)


class MSELoss(_Loss):
    def forward(self, input, target):
        return functional.mse_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return functional.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return functional.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                           reduction=self.reduction, pos_weight=self.pos_weight)
