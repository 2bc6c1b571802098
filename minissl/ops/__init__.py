"""Differentiable ops, one family a file: ``math`` (element-wise, matmul),
``shape`` (views, indexing, joins), ``reduce`` (sum/mean/max/var), ``nn``
(fused softmax, losses, layer and RMS norm, dropout, embedding) and ``attention``.

Importing this package also gives :class:`~minissl.tensor.Tensor` its operators
and methods (``x + y``, ``x += 1``, ``x.exp()``, ``x.sum(dim)`` ...), all in one
table at the end of this file, so the Tensor class stays small and each method's
math lives beside its derivative.
"""
from .. import backend
from ..backend import xp
from ..tensor import Tensor
from .attention import causal_mask, scaled_dot_product_attention
from .math import (abs, add, clamp, compare, div, exp, floor_divide, gelu, linear, log, logical_not, logical_op,
                   matmul, maximum, minimum, mul, neg, overwrite, pow, promote_types, relu, remainder,
                   result_type, sigmoid, sqrt, sub, tanh)
from .nn import (binary_cross_entropy_with_logits, cross_entropy, dropout, embedding, layer_norm,
                 log_softmax, mse_loss, rms_norm, softmax)
from .reduce import all, amax, amin, any, argmax, argmin, max, mean, min, sum, var
from .shape import (argsort, cat, chunk, clone, contiguous, expand, flatten, gather, getitem, index_put,
                    masked_fill, one_hot, permute, repeat, reshape, roll, sort, split, squeeze, stack, topk,
                    transpose, tril, triu, unique, unsqueeze, where)


def std(a, dim=None, keepdim=False, correction=1, unbiased=None):
    """Standard deviation: the square root of :func:`var` (n - 1 in the denominator by default)."""
    return sqrt(var(a, dim, keepdim, correction=correction, unbiased=unbiased))


def norm(a, p=2, dim=None, keepdim=False):
    if p != 2 and p != "fro":
        raise NotImplementedError(f"norm: only the 2-norm is implemented, got p={p!r}")
    return sqrt(sum(a * a, dim, keepdim))


# ---------------------------------------------------------------- Tensor's methods, bound in one place
# Tensor (tensor.py) holds the data, the graph and the in-place machinery; every method that
# computes something is one of the ops above, bound here. In-place forms go through
# Tensor._inplace, which writes into the tensor's memory and bumps its version counter.
def _inplace(op):
    return lambda a, *args: a._inplace(op, *args)


def _as_tensor(value, like):
    return value if isinstance(value, Tensor) else Tensor(xp.asarray(value, dtype=like.dtype), _internal=True)


def _add_(a, other, alpha=1): return a._inplace(add, other if alpha == 1 else other * alpha)
def _sub_(a, other, alpha=1): return a._inplace(sub, other if alpha == 1 else other * alpha)
def _clamp_(a, min=None, max=None): return a._inplace(clamp, min, max)  # noqa: A002
def _bitwise(f): return lambda a, b: logical_op(a, b, f)


def _copy_(a, src):
    """Copy ``src``'s values into ``a`` (broadcast, cast to a's dtype); gradients flow to ``src``."""
    return a._inplace(lambda old, s: overwrite(old, expand(s.to(old.dtype), old.shape)), _as_tensor(src, a))


def _fill_(a, value):
    if isinstance(value, Tensor):  # a 0-d tensor value: its gradient flows, as in PyTorch
        if value.ndim:
            raise RuntimeError(f"fill_ only supports a 0-dimensional value tensor, got shape {value.shape}")
        return _copy_(a, value)
    return a._inplace(lambda old: overwrite(old, xp.full(old.shape, value, dtype=old.dtype)))


def _normal_(a, mean=0.0, std=1.0):
    sample = backend.rng().standard_normal(a.shape, dtype=xp.float64) * std + mean
    return a._inplace(lambda old: overwrite(old, sample.astype(old.dtype)))


def _uniform_(t, a=0.0, b=1.0):
    sample = backend.rng().random(t.shape, dtype=xp.float64) * (b - a) + a
    return t._inplace(lambda old: overwrite(old, sample.astype(old.dtype)))


def _setitem(a, idx, value):
    """``x[idx] = value`` in place; with autograd, as PyTorch's index assignment."""
    a._inplace(lambda old, v: index_put(old, idx, v), _as_tensor(value, a))


def _view_as(a, other): return reshape(a, other.shape)
def _expand_as(a, other): return expand(a, other.shape)


_TENSOR_METHODS = dict(
    # arithmetic operators and their reflected forms (2 - x calls x.__rsub__(2))
    __add__=add, __radd__=lambda a, o: add(o, a), __sub__=sub, __rsub__=lambda a, o: sub(o, a),
    __mul__=mul, __rmul__=lambda a, o: mul(o, a), __truediv__=div, __rtruediv__=lambda a, o: div(o, a),
    __floordiv__=floor_divide, __rfloordiv__=lambda a, o: floor_divide(o, a),
    __mod__=remainder, __rmod__=lambda a, o: remainder(o, a), __pow__=pow, __rpow__=lambda a, o: pow(o, a),
    __matmul__=matmul, __rmatmul__=lambda a, o: matmul(o, a), __neg__=neg, __abs__=abs,
    __getitem__=getitem, __setitem__=_setitem,
    # comparisons are element-wise and give bool tensors without gradients, as in PyTorch
    __eq__=lambda a, o: compare(a, o, xp.equal), __ne__=lambda a, o: compare(a, o, xp.not_equal),
    __lt__=lambda a, o: compare(a, o, xp.less), __le__=lambda a, o: compare(a, o, xp.less_equal),
    __gt__=lambda a, o: compare(a, o, xp.greater), __ge__=lambda a, o: compare(a, o, xp.greater_equal),
    __invert__=logical_not, __and__=_bitwise(xp.bitwise_and), __or__=_bitwise(xp.bitwise_or),
    __xor__=_bitwise(xp.bitwise_xor), __rand__=_bitwise(xp.bitwise_and), __ror__=_bitwise(xp.bitwise_or),
    __rxor__=_bitwise(xp.bitwise_xor),
    # in place: x += y changes x's memory (views and other names see it), as in PyTorch; without
    # __ifloordiv__ etc. Python would fall back to x = x // y, a new tensor
    __iadd__=_inplace(add), __isub__=_inplace(sub), __imul__=_inplace(mul), __itruediv__=_inplace(div),
    __ipow__=_inplace(pow), __ifloordiv__=_inplace(floor_divide), __imod__=_inplace(remainder),
    __iand__=_inplace(_bitwise(xp.bitwise_and)), __ior__=_inplace(_bitwise(xp.bitwise_or)),
    __ixor__=_inplace(_bitwise(xp.bitwise_xor)),
    add_=_add_, sub_=_sub_, mul_=_inplace(mul), div_=_inplace(div), pow_=_inplace(pow), clamp_=_clamp_,
    copy_=_copy_, fill_=_fill_, zero_=lambda a: _fill_(a, 0), normal_=_normal_, uniform_=_uniform_,
    masked_fill_=_inplace(masked_fill),
    # named methods: x.exp(), x.sum(dim), x.view(...), as torch.Tensor's
    exp=exp, log=log, sqrt=sqrt, abs=abs, tanh=tanh, sigmoid=sigmoid, relu=relu,
    sum=sum, mean=mean, max=max, min=min, amax=amax, amin=amin, argmax=argmax, argmin=argmin,
    all=all, any=any, var=var, std=std, norm=norm, reshape=reshape, view=reshape, permute=permute,
    transpose=transpose, unsqueeze=unsqueeze, squeeze=squeeze, expand=expand, split=split,
    masked_fill=masked_fill, softmax=softmax, log_softmax=log_softmax, matmul=matmul,
    pow=pow, clamp=clamp, clip=clamp, gather=gather, maximum=maximum, minimum=minimum,
    add=add, sub=sub, mul=mul, div=div, clone=clone, contiguous=contiguous,
    flatten=flatten, chunk=chunk, repeat=repeat, tril=tril, triu=triu, roll=roll, sort=sort,
    argsort=argsort, topk=topk, unique=unique, view_as=_view_as, reshape_as=_view_as, expand_as=_expand_as)

for _name, _fn in _TENSOR_METHODS.items():
    setattr(Tensor, _name, _fn)
del _name, _fn
