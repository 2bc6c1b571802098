"""The Transformer encoder: self-attention and a feed-forward net, each wrapped in
a residual connection and layer norm, stacked N times (BERT's body).

One layer, post-LN as in the original Transformer and BERT::

    a = LayerNorm(x + Dropout(SelfAttention(x) W_O))          "add & norm"
    y = LayerNorm(a + Dropout(GELU(a W_1) W_2))               feed-forward, 4× wider inside

pre-LN (``norm_first=True``, GPT-2 and most modern models; trains more stably
when deep, and the stack then ends with one more LayerNorm)::

    a = x + Dropout(SelfAttention(LayerNorm(x)) W_O)
    y = a + Dropout(GELU(LayerNorm(a) W_1) W_2)

Shapes: x (B, T, E) -> y (B, T, E), always batch first. The attention itself is
the fused :func:`minissl.nn.functional.scaled_dot_product_attention`.

The sub-modules are named as in Hugging Face's BERT so that a checkpoint's
names fall out of the structure: ``attention.self.{query,key,value}``,
``attention.output.{dense,LayerNorm}``, ``intermediate.dense`` and
``output.{dense,LayerNorm}``. ``demos/bert_pretrain_finetune.py`` trains a
stack of these layers.

Position: attention alone ignores word order (permute the tokens and the
outputs permute with them), so a position vector is added to each token:
learned (:class:`LearnedPositionalEmbedding`, BERT) or fixed sinusoids
(:class:`SinusoidalPositionalEmbedding`, the original Transformer).
"""
from __future__ import annotations

import math

from .. import ops as F
from ..backend import xp
from ..tensor import Tensor, tensor
from .attention import merge_heads, split_heads
from .layers import Dropout, Embedding, LayerNorm, Linear
from .containers import ModuleList
from .module import Module

ACTIVATIONS = {"gelu": F.gelu, "gelu_new": lambda x: F.gelu(x, "tanh"), "gelu_pytorch_tanh": lambda x: F.gelu(x, "tanh"),
               "relu": F.relu, "tanh": F.tanh}


def padding_mask(attention_mask):
    """HF-style ``attention_mask`` (B, S), 1 = real token, 0 = padding -> boolean
    (B, 1, 1, S) mask for ``scaled_dot_product_attention`` (True = may attend).

    Hugging Face adds a large negative number to padded keys' scores instead;
    after the softmax both give exactly zero weight to padding, so outputs agree.
    """
    if attention_mask is None:
        return None
    m = attention_mask.array if isinstance(attention_mask, Tensor) else xp.asarray(attention_mask)
    if m.ndim != 2:
        raise ValueError(f"attention_mask must be (batch, seq_len) with 1 for tokens and 0 for padding, "
                         f"got shape {tuple(m.shape)}")
    return (m != 0)[:, None, None, :]


class SelfAttention(Module):
    """Multi-head scaled dot-product attention without its output projection
    (HF's ``attention.self``): (B, T, E) -> (B, T, E) concatenated heads.

    ``kv`` (B, S, E), if given, supplies keys and values (cross-attention)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_heads})")
        self.num_heads, self.dropout = num_heads, dropout
        self.query = Linear(hidden_size, hidden_size, bias)
        self.key = Linear(hidden_size, hidden_size, bias)
        self.value = Linear(hidden_size, hidden_size, bias)

    def forward(self, x, mask=None, kv=None, is_causal=False, need_weights=False):
        kv = x if kv is None else kv
        h = self.num_heads
        q, k, v = split_heads(self.query(x), h), split_heads(self.key(kv), h), split_heads(self.value(kv), h)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                                             is_causal=is_causal, need_weights=need_weights)
        out, weights = out if need_weights else (out, None)
        return merge_heads(out), weights


class AddNorm(Module):
    """``dense`` then dropout, added to the residual and layer-normed (post-LN);
    with ``norm_first`` the LayerNorm is applied by the caller on the way in instead."""

    def __init__(self, d_in: int, d_out: int, dropout: float, eps: float, norm_first: bool):
        super().__init__()
        self.norm_first = norm_first
        self.dense = Linear(d_in, d_out)
        self.LayerNorm = LayerNorm(d_out, eps=eps)
        self.dropout = Dropout(dropout)

    def forward(self, h, residual):
        y = residual + self.dropout(self.dense(h))
        return y if self.norm_first else self.LayerNorm(y)


class AttentionBlock(Module):
    """HF's ``attention``: ``self`` (the heads) and ``output`` (W_O, add & norm)."""

    def __init__(self, d, nhead, dropout, attention_dropout, eps, norm_first):
        super().__init__()
        self.self = SelfAttention(d, nhead, attention_dropout)
        self.output = AddNorm(d, d, dropout, eps, norm_first)


class Intermediate(Module):
    """The feed-forward net's wide half: ``dense`` (E -> 4E) then the activation."""

    def __init__(self, d, d_ff, activation):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.dense = Linear(d, d_ff)
        self.act = ACTIVATIONS[activation]

    def forward(self, x):
        return self.act(self.dense(x))


class TransformerEncoderLayer(Module):
    """One encoder layer (argument names as ``torch.nn.TransformerEncoderLayer``,
    but always batch first, GELU and BERT's LayerNorm eps by default).

    ``forward(x, mask=None, is_causal=False, need_weights=False)`` -> ``(y, weights)``,
    ``mask`` as for ``scaled_dot_product_attention`` (boolean True = may attend,
    or additive float), broadcastable to (B, H, T, T), e.g. :func:`padding_mask`;
    ``weights`` (B, H, T, T) when ``need_weights`` else ``None``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "gelu", layer_norm_eps: float = 1e-12, norm_first: bool = False,
                 attention_dropout: float | None = None):
        super().__init__()
        self.norm_first = norm_first
        att_p = dropout if attention_dropout is None else attention_dropout
        self.attention = AttentionBlock(d_model, nhead, dropout, att_p, layer_norm_eps, norm_first)
        self.intermediate = Intermediate(d_model, dim_feedforward, activation)
        self.output = AddNorm(dim_feedforward, d_model, dropout, layer_norm_eps, norm_first)

    def forward(self, x, mask=None, is_causal=False, need_weights=False):
        att, ffn_out = self.attention, self.output
        h = att.output.LayerNorm(x) if self.norm_first else x
        ctx, weights = att.self(h, mask, is_causal=is_causal, need_weights=need_weights)
        a = att.output(ctx, x)
        h = ffn_out.LayerNorm(a) if self.norm_first else a
        return ffn_out(self.intermediate(h), a), weights


class TransformerEncoder(Module):
    """A stack of ``num_layers`` :class:`TransformerEncoderLayer` under ``layer.0``, ``layer.1``, ...

    ``forward(x, mask=None, is_causal=False, need_weights=False)`` -> ``(y, hidden_states, attentions)``:
    ``hidden_states`` holds the input and every layer's output (num_layers + 1 tensors, as
    HF's ``output_hidden_states``), ``attentions`` each layer's weights (or ``()``).
    With ``norm_first`` a final LayerNorm (``final_layer_norm``) closes the stack.
    """

    def __init__(self, d_model: int, nhead: int, num_layers: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "gelu", layer_norm_eps: float = 1e-12,
                 norm_first: bool = False, attention_dropout: float | None = None):
        super().__init__()
        self.layer = ModuleList([TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                                         layer_norm_eps, norm_first, attention_dropout)
                                 for _ in range(num_layers)])
        self.final_layer_norm = LayerNorm(d_model, eps=layer_norm_eps) if norm_first else None

    def forward(self, x, mask=None, is_causal=False, need_weights=False):
        hidden, attentions = [x], []
        for layer in self.layer:
            x, w = layer(x, mask, is_causal=is_causal, need_weights=need_weights)
            hidden.append(x)
            if need_weights:
                attentions.append(w)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
            hidden[-1] = x
        return x, tuple(hidden), tuple(attentions)


class LearnedPositionalEmbedding(Embedding):
    """Position p -> a trained vector (BERT, GPT-2): ``forward(seq_len, offset=0)`` -> (T, E)."""

    def forward(self, seq_len: int, offset: int = 0):
        if offset + seq_len > self.num_embeddings:
            raise ValueError(f"sequence of {offset + seq_len} positions is longer than max_position_embeddings="
                             f"{self.num_embeddings}; truncate the input or build a model with more positions")
        return F.embedding(Tensor(xp.arange(offset, offset + seq_len), _internal=True), self.weight)


def sinusoid_table(max_len: int, dim: int, dtype=xp.float32):
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)): every
    offset k is a fixed rotation of each (sin, cos) pair, so relative position is
    easy to read off, and the table extends to lengths never seen in training."""
    pos = xp.arange(max_len, dtype=xp.float64)[:, None]
    freq = xp.exp(-math.log(10000.0) * xp.arange(0, dim, 2, dtype=xp.float64) / dim)
    table = xp.zeros((max_len, dim), dtype=xp.float64)
    table[:, 0::2] = xp.sin(pos * freq)
    table[:, 1::2] = xp.cos(pos * freq[: dim // 2])
    return table.astype(dtype)


class SinusoidalPositionalEmbedding(Module):
    """Fixed (not trained) sinusoids, kept as a buffer: ``forward(seq_len, offset=0)`` -> (T, E)."""

    def __init__(self, num_positions: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_positions, embedding_dim
        self.register_buffer("weight", tensor(sinusoid_table(num_positions, embedding_dim)))

    def forward(self, seq_len: int, offset: int = 0):
        if offset + seq_len > self.num_embeddings:
            raise ValueError(f"sequence of {offset + seq_len} positions is longer than the table "
                             f"({self.num_embeddings}); build it with more positions")
        return Tensor(self.weight.array[offset:offset + seq_len], _internal=True)
