"""Neural-network building blocks (``minissl.nn``), named as in ``torch.nn``.

One attention module (:class:`Attention`, mask convention True = takes part) and one
residual block (:class:`TransformerBlock`) serve every Transformer in minissl;
:class:`MultiheadAttention` is PyTorch's interface onto the same attention."""
from . import functional, init, parallel, utils  # noqa: F401
from .attention import Attention, cache_length, merge_heads, padding_mask, split_heads  # noqa: F401
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, Upsample  # noqa: F401
from .layers import (GELU, BatchNorm1d, BatchNorm2d, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding,  # noqa: F401
                     Flatten, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, MSELoss, ReLU, RMSNorm, Sigmoid,
                     SiLU, Softmax, Tanh, Unflatten)
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from .multihead import MultiheadAttention  # noqa: F401
from .rotary import RotaryEmbedding  # noqa: F401
from .transformer import (MLP, LearnedPositionalEmbedding, SinusoidalPositionalEmbedding,  # noqa: F401
                          TransformerBlock, TransformerEncoder)
