"""The one Transformer block, and the encoder stack built from it (BERT's body).

A block is attention and a feed-forward net (MLP), each wrapped in a residual
connection and a norm. Post-norm (``norm_first=False``: the original
Transformer, BERT, BART)::

    a = Norm(x + Dropout(Attention(x)))
    y = Norm(a + Dropout(MLP(a)))

pre-norm (``norm_first=True``: GPT-2, Llama; trains more stably when deep, and
the stack then ends with one more norm)::

    a = x + Dropout(Attention(Norm(x)))
    y = a + Dropout(MLP(Norm(a)))

Options, so that every model in minissl is this block with other settings:
``norm="layernorm"`` or ``"rmsnorm"``; the MLP ``fc2(act(fc1(x)))`` with GELU/ReLU, or
gated, ``fc2(act(gate(x)) ⊙ fc1(x))`` (SwiGLU with ``activation="silu"``); a
cross-attention sub-layer over an encoder's output (the seq2seq decoder);
``num_kv_heads`` (grouped key/value heads), ``rope_theta`` (rotary positions),
``bias`` on or off. The attention is :class:`minissl.nn.attention.Attention`, the
one attention module, with one mask convention (boolean True = takes part).

Shapes: x (B, T, E) -> y (B, T, E), always batch first.

Which model uses which settings::

    BERT      post-norm  LayerNorm  GELU (erf)         learned positions   bidirectional
    GPT-2     pre-norm   LayerNorm  GELU (tanh)        learned positions   causal
    seq2seq   post-norm  LayerNorm  GELU + cross-attention                 causal decoder
    Llama     pre-norm   RMSNorm    SwiGLU, no bias    RoPE, grouped KV    causal

Parameter names: ``attn.{q,k,v,out}_proj``, ``attn_norm``, ``cross_attn.*``,
``cross_attn_norm``, ``mlp.{gate,fc1,fc2}``, ``mlp_norm``; checkpoints with other names
(Hugging Face's BERT and GPT-2) are translated by name at load and save
(``models/hf_bert.py``, ``models/hf_gpt.py``). Sub-modules are registered in the order
the forward pass uses them.

Position: attention alone ignores word order (permute the tokens and the
outputs permute with them), so a position vector is added to each token:
learned (:class:`LearnedPositionalEmbedding`, BERT, GPT-2) or fixed sinusoids
(:class:`SinusoidalPositionalEmbedding`, the original Transformer); or queries
and keys are rotated by position inside attention (RoPE, :mod:`minissl.nn.rotary`).
"""
from __future__ import annotations

import math

from .. import ops as F
from ..backend import xp
from ..ops.nn import silu
from ..tensor import Tensor, tensor
from .attention import Attention
from .containers import ModuleList
from .layers import Embedding, LayerNorm, Linear, RMSNorm
from .module import Module

ACTIVATIONS = {"gelu": F.gelu, "gelu_new": lambda x: F.gelu(x, "tanh"), "gelu_pytorch_tanh": lambda x: F.gelu(x, "tanh"),
               "relu": F.relu, "tanh": F.tanh, "silu": silu}
NORMS = {"layernorm": LayerNorm, "rmsnorm": RMSNorm}


class MLP(Module):
    """The feed-forward sub-layer, applied to each position alone: (B, T, E) -> (B, T, E).

    ``fc2(act(fc1(x)))``, E -> dim_feedforward -> E; with ``gated``,
    ``fc2(act(gate(x)) ⊙ fc1(x))`` (GLU family; SwiGLU when act is SiLU). ``activation``
    names a function in :data:`ACTIVATIONS` and may be changed after construction."""

    def __init__(self, d_model: int, dim_feedforward: int, activation: str = "gelu", bias: bool = True,
                 gated: bool = False):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.activation = activation
        if gated:
            self.gate = Linear(d_model, dim_feedforward, bias)
        self.fc1 = Linear(d_model, dim_feedforward, bias)
        self.fc2 = Linear(dim_feedforward, d_model, bias)
        self.gated = gated

    def forward(self, x):
        act = ACTIVATIONS[self.activation]
        h = act(self.gate(x)) * self.fc1(x) if self.gated else act(self.fc1(x))
        return self.fc2(h)


class TransformerBlock(Module):
    """The one residual block (see the module docstring for the formulas and options).

    ``forward(x, mask=None, is_causal=False, cache=None, memory=None, memory_mask=None,
    need_weights=False, position_ids=None)`` -> ``(y, weights)``. ``mask`` (boolean True = takes part, or
    additive float) broadcastable to (B, H, T, S), e.g. :func:`minissl.nn.padding_mask`;
    ``memory`` (B, S, E) is what the cross-attention reads, ``memory_mask`` its keys' mask.
    ``cache`` (a dict, one per block) keeps keys and values for generation; ``position_ids``
    (B, T) place rotary positions per row (see :class:`~minissl.nn.attention.Attention`).
    ``weights``: the self-attention's (B, H, T, S) when ``need_weights`` else None.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int | None = None, dropout: float = 0.1,
                 activation: str = "gelu", norm_first: bool = False, norm: str = "layernorm", eps: float = 1e-5,
                 bias: bool = True, num_kv_heads: int | None = None, rope_theta: float | None = None,
                 gated: bool = False, cross_attention: bool = False, attention_dropout: float | None = None,
                 head_dim: int | None = None):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose 'layernorm' or 'rmsnorm'")
        if d_model % nhead and head_dim is None:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.norm_first, self.dropout = norm_first, dropout
        att_p = dropout if attention_dropout is None else attention_dropout
        ff = 4 * d_model if dim_feedforward is None else dim_feedforward

        def attention():
            return Attention(d_model, nhead, num_kv_heads, att_p, bias, head_dim=head_dim, rope_theta=rope_theta)

        def make_norm():
            return NORMS[norm](d_model, eps=eps)

        # registered in the order of use: norm before its sub-layer when norm_first, after it otherwise
        for name, make in (("attn", attention), ("cross_attn", attention if cross_attention else None),
                           ("mlp", lambda: MLP(d_model, ff, activation, bias, gated))):
            if make is None:
                continue
            if norm_first:
                setattr(self, name + "_norm", make_norm())
            setattr(self, name, make())
            if not norm_first:
                setattr(self, name + "_norm", make_norm())
        self.has_cross = cross_attention

    def _sublayer(self, x, norm, f):
        if self.norm_first:
            return x + F.dropout(f(norm(x)), self.dropout, self.training)
        return norm(x + F.dropout(f(x), self.dropout, self.training))

    def forward(self, x, mask=None, is_causal=False, cache=None, memory=None, memory_mask=None,
                need_weights=False, position_ids=None):
        if self.has_cross and memory is None:
            raise ValueError("this block has a cross-attention sub-layer: pass memory=(B, S, E) encoder output")
        weights = None

        def self_attn(h):
            nonlocal weights
            c = None if cache is None else cache.setdefault("self", {})
            out, weights = self.attn(h, attn_mask=mask, is_causal=is_causal, cache=c, need_weights=need_weights,
                                     position_ids=position_ids)
            return out

        def cross_attn(h):  # every query sees every (non-pad) memory position
            c = None if cache is None else cache.setdefault("cross", {})
            return self.cross_attn(h, memory, attn_mask=memory_mask, cache=c)[0]

        x = self._sublayer(x, self.attn_norm, self_attn)
        if self.has_cross:
            x = self._sublayer(x, self.cross_attn_norm, cross_attn)
        return self._sublayer(x, self.mlp_norm, self.mlp), weights


class TransformerEncoder(Module):
    """A stack of ``num_layers`` :class:`TransformerBlock` under ``layer.0``, ``layer.1``, ...

    Defaults are BERT's (post-norm, GELU, LayerNorm eps 1e-12); ``block_options`` go to each
    block (``norm``, ``num_kv_heads``, ``rope_theta``, ...).
    ``forward(x, mask=None, is_causal=False, need_weights=False)`` -> ``(y, hidden_states, attentions)``:
    ``hidden_states`` holds the input and every layer's output (num_layers + 1 tensors, as
    HF's ``output_hidden_states``), ``attentions`` each layer's weights (or ``()``).
    With ``norm_first`` a final norm (``final_layer_norm``) closes the stack.
    """

    def __init__(self, d_model: int, nhead: int, num_layers: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "gelu", layer_norm_eps: float = 1e-12,
                 norm_first: bool = False, attention_dropout: float | None = None, **block_options):
        super().__init__()
        self.layer = ModuleList([TransformerBlock(d_model, nhead, dim_feedforward, dropout, activation, norm_first,
                                                  eps=layer_norm_eps, attention_dropout=attention_dropout,
                                                  **block_options)
                                 for _ in range(num_layers)])
        norm = NORMS[block_options.get("norm", "layernorm")]
        self.final_layer_norm = norm(d_model, eps=layer_norm_eps) if norm_first else None

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
