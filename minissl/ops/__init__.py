"""Differentiable ops, one family a file: ``math`` (element-wise, matmul),
``shape`` (views, indexing, joins), ``reduce`` (sum/mean/max/var), ``nn``
(fused softmax, losses, layer norm, dropout, embedding) and ``attention``.

Importing this package also gives :class:`~minissl.tensor.Tensor` its methods
(``x.exp()``, ``x.sum(dim)``, ``x.reshape(...)`` ...), so the Tensor class stays
small and each method's math lives beside its derivative.
"""
from ..tensor import Tensor
from .attention import causal_mask, scaled_dot_product_attention
from .math import (abs, add, div, exp, gelu, linear, log, matmul, mul, neg, pow, relu, sigmoid, sqrt, sub,
                   tanh)
from .nn import (binary_cross_entropy_with_logits, cross_entropy, dropout, embedding, layer_norm,
                 log_softmax, mse_loss, softmax)
from .reduce import max, mean, sum, var
from .shape import (cat, expand, getitem, masked_fill, permute, reshape, split, squeeze, stack, transpose,
                    unsqueeze, where)

for _name, _fn in dict(exp=exp, log=log, sqrt=sqrt, abs=abs, tanh=tanh, sigmoid=sigmoid, relu=relu,
                       sum=sum, mean=mean, max=max, var=var, reshape=reshape, view=reshape, permute=permute,
                       transpose=transpose, unsqueeze=unsqueeze, squeeze=squeeze, expand=expand, split=split,
                       masked_fill=masked_fill, softmax=softmax, log_softmax=log_softmax, matmul=matmul,
                       pow=pow).items():
    setattr(Tensor, _name, _fn)
Tensor.amax = max
del _name, _fn
