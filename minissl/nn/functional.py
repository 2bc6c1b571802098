"""``minissl.nn.functional`` (import as ``F``): the stateless ops by PyTorch's names and signatures.

The implementations live in :mod:`minissl.ops`; this module gathers them under
the names a PyTorch user expects, and where PyTorch's signature has more
arguments (``weight=``, the deprecated ``size_average``/``reduce``) it adapts
them here, so a positional call means the same thing as in PyTorch.
"""
from .. import ops
from ..backend import xp
from ..ops import (causal_mask, dropout, embedding, gelu, layer_norm, linear, log_softmax, relu,  # noqa: F401
                   scaled_dot_product_attention, sigmoid, softmax, tanh)
from ..ops.conv import (adaptive_avg_pool2d, avg_pool2d, conv2d, conv_transpose2d, interpolate,  # noqa: F401
                        max_pool2d)
from ..ops.nn import (_constant_weight, _legacy_reduction, batch_norm, binary_cross_entropy,  # noqa: F401
                      cross_entropy_probs, leaky_relu, normalize, pad, rms_norm, silu)
from ..ops.shape import one_hot  # noqa: F401
from ..tensor import Tensor, as_array


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits ``input`` (N, C) or (N, C, d...), as PyTorch's.

    ``target`` holds class ids (integers, shape (N[, d...])) or class
    probabilities (floats, ``input``'s shape). ``weight`` (C,) scales each class;
    with class ids and ``mean`` the sum is divided by Σ weight[target] over the
    rows not ignored, with probabilities by N (PyTorch's two rules)."""
    reduction = _legacy_reduction("cross_entropy", size_average, reduce, reduction)
    if weight is None and not (isinstance(target, Tensor) and target.dtype.kind == "f"):
        # the common case: class ids, no weights; ops.cross_entropy checks every argument
        return ops.cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction,
                                 label_smoothing=label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:  # also refuses NaN
        raise RuntimeError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must hold class scores, shape (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")
    if isinstance(target, Tensor) and target.dtype.kind == "f" and target.shape == input.shape:  # probabilities
        if ignore_index != -100:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    if weight is None:
        return ops.cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction,
                                 label_smoothing=label_smoothing)
    return _weighted_cross_entropy(input, target, _constant_weight("cross_entropy", weight, input.dtype),
                                   ignore_index, reduction, label_smoothing)


def _weighted_cross_entropy(input, target, weight, ignore_index, reduction, eps):
    """Class ids with class weights: loss_i = w_{y_i}·(1-ε)·nll_i + ε/C·Σ_c w_c·(-log p_ic),
    ``mean`` divides by Σ w_{y_i} over the rows not ignored (PyTorch's rule)."""
    nll = ops.cross_entropy(input, target, ignore_index=ignore_index, reduction="none")  # 0 where ignored
    t = as_array(target)
    keep = t != ignore_index
    w_y = Tensor(weight.array[xp.where(keep, t, 0)] * keep, _internal=True)
    loss = nll * w_y * (1 - eps)
    if eps:
        c = input.shape[1] if input.ndim > 1 else input.shape[0]
        shape = (1, c) + (1,) * (input.ndim - 2) if input.ndim > 1 else (c,)
        logp = log_softmax(input, dim=1 if input.ndim > 1 else 0)
        smooth = -(logp * weight.reshape(shape)).sum(dim=1 if input.ndim > 1 else 0) / c
        loss = loss + smooth * Tensor(keep.astype(input.dtype), _internal=True) * eps
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / w_y.sum()


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits (stable): max(z, 0) - z·t + log(1 + e^{-|z|}), optionally scaled by ``weight``."""
    reduction = _legacy_reduction("binary_cross_entropy_with_logits", size_average, reduce, reduction)
    if pos_weight is not None:
        raise NotImplementedError("binary_cross_entropy_with_logits: pos_weight= is not implemented; scale the "
                                  "positive terms yourself, or pass weight= per element")
    if weight is None:
        return ops.binary_cross_entropy_with_logits(input, target, reduction=reduction)
    loss = ops.binary_cross_entropy_with_logits(input, target, reduction="none") * weight
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return ops.mse_loss(input, target, reduction=_legacy_reduction("mse_loss", size_average, reduce, reduction))
