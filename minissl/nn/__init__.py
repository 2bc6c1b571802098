"""Neural-network building blocks (``minissl.nn``), named as in ``torch.nn``."""
from . import functional, init, parallel, utils  # noqa: F401
from .attention import MultiheadAttention, merge_heads, split_heads  # noqa: F401
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, Upsample  # noqa: F401
from .layers import (GELU, BatchNorm1d, BatchNorm2d, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding,  # noqa: F401
                     Flatten, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, MSELoss, ReLU, Sigmoid, SiLU,
                     Softmax, Tanh, Unflatten)
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from .transformer import (LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, TransformerEncoder,  # noqa: F401
                          TransformerEncoderLayer, padding_mask)
