"""Differentiable ops, one family a file: ``math`` (element-wise, matmul),
``shape`` (views, indexing, joins), ``reduce`` (sum/mean/max/var), ``nn``
(fused softmax, losses, layer norm, dropout, embedding) and ``attention``.

Importing this package also gives :class:`~minissl.tensor.Tensor` its methods
(``x.exp()``, ``x.sum(dim)``, ``x.reshape(...)`` ...), so the Tensor class stays
small and each method's math lives beside its derivative.
"""
from ..tensor import Tensor
from .attention import causal_mask, scaled_dot_product_attention
from .math import (abs, add, clamp, compare, div, exp, floor_divide, gelu, linear, log, logical_not, logical_op,
                   matmul, maximum, minimum, mul, neg, overwrite, pow, promote_types, relu, remainder,
                   result_type, sigmoid, sqrt, sub, tanh)
from .nn import (binary_cross_entropy_with_logits, cross_entropy, dropout, embedding, layer_norm,
                 log_softmax, mse_loss, softmax)
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


def _view_as(a, other): return reshape(a, other.shape)
def _expand_as(a, other): return expand(a, other.shape)
def _masked_fill_(a, mask, value): return a._inplace(masked_fill, mask, value)

for _name, _fn in dict(exp=exp, log=log, sqrt=sqrt, abs=abs, tanh=tanh, sigmoid=sigmoid, relu=relu,
                       sum=sum, mean=mean, max=max, min=min, amax=amax, amin=amin, argmax=argmax, argmin=argmin,
                       all=all, any=any, var=var, reshape=reshape, view=reshape, permute=permute,
                       transpose=transpose, unsqueeze=unsqueeze, squeeze=squeeze, expand=expand, split=split,
                       masked_fill=masked_fill, softmax=softmax, log_softmax=log_softmax, matmul=matmul,
                       pow=pow, clamp=clamp, clip=clamp, gather=gather, maximum=maximum, minimum=minimum,
                       add=add, sub=sub, mul=mul, div=div, clone=clone, contiguous=contiguous,
                       flatten=flatten, chunk=chunk, repeat=repeat, tril=tril, triu=triu, roll=roll, sort=sort,
                       argsort=argsort, topk=topk, unique=unique, std=std, norm=norm, view_as=_view_as,
                       reshape_as=_view_as, expand_as=_expand_as, masked_fill_=_masked_fill_).items():
    setattr(Tensor, _name, _fn)
del _name, _fn
