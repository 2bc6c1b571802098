"""``minissl.nn.functional`` (import as ``F``): the stateless ops by PyTorch's names.

The implementations live in :mod:`minissl.ops`; this module only gathers them
under the names a PyTorch user expects.
"""
from ..ops import (binary_cross_entropy_with_logits, causal_mask, cross_entropy, dropout, embedding, gelu,  # noqa: F401
                   layer_norm, linear, log_softmax, mse_loss, relu, scaled_dot_product_attention, sigmoid,
                   softmax, tanh)
