"""Multi-head attention: several attentions side by side, each in its own subspace.

Each head h projects the inputs with its own maps, attends, and the heads'
outputs are concatenated and mixed by one output projection::

    head_h = softmax(Q W_h^Q (K W_h^K)ᵀ / √d_head + mask) V W_h^V
    out    = concat(head_1, ..., head_H) W^O

All heads are computed at once: one (E, E) projection, then the last axis is
split into (H, d_head) and moved in front of the sequence axis, so the fused
:func:`minissl.nn.functional.scaled_dot_product_attention` sees a batch of
B·H independent attentions.

Unlike PyTorch, which packs the three input projections into one
``in_proj_weight``, the maps here are separate ``q_proj``, ``k_proj``,
``v_proj`` and ``out_proj`` layers: easier to read, and the layout BERT, BART
and Hugging Face checkpoints use.
"""
from __future__ import annotations

from .. import ops as F
from ..backend import xp
from ..tensor import Tensor
from .layers import Linear
from .module import Module


def split_heads(x, num_heads):
    """(B, T, E) -> (B, H, T, E/H)."""
    b, t, e = x.shape
    return x.reshape(b, t, num_heads, e // num_heads).transpose(1, 2)


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H·d)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class MultiheadAttention(Module):
    """Self- or cross-attention with ``num_heads`` heads over ``embed_dim`` features.

    ``forward(query, key, value)`` with inputs (B, T, E) when ``batch_first``
    (else (T, B, E), PyTorch's default). Masks follow ``nn.MultiheadAttention``:
    ``key_padding_mask`` (B, S) is True at padding keys to ignore; a boolean
    ``attn_mask`` (L, S) is True where attention is *not* allowed (a float mask
    is added to the scores). Returns ``(output, weights)``; weights (B, L, S),
    averaged over heads unless ``average_attn_weights=False`` (then (B, H, L, S)),
    or ``None`` when ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.q_proj = Linear(embed_dim, embed_dim, bias)
        self.k_proj = Linear(kdim or embed_dim, embed_dim, bias)
        self.v_proj = Linear(vdim or embed_dim, embed_dim, bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias)

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False, cache=None, static_kv=False):
        """``cache`` (a dict, minissl's addition) turns on key/value caching for generation:
        the keys and values of this call are appended to ``cache["k"]``/``cache["v"]``
        (self-attention, one new token at a time), or computed once and reused when
        ``static_kv=True`` (cross-attention over a fixed encoder output). With a cache,
        ``is_causal`` lets new query i (absolute position past+i) see keys 0..past+i."""
        key = query if key is None else key
        value = key if value is None else value
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        h = self.num_heads
        q = split_heads(self.q_proj(query), h)
        if cache is not None and static_kv and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = split_heads(self.k_proj(key), h), split_heads(self.v_proj(value), h)
            if cache is not None:
                if "k" in cache and not static_kv:
                    k, v = F.cat([cache["k"], k], dim=2), F.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        mask = allowed_mask(key_padding_mask, attn_mask, q.dtype)
        if is_causal:  # bottom-right aligned: the last query sees every key
            L, S = q.shape[2], k.shape[2]
            c = xp.tril(xp.ones((L, S), dtype=xp.bool_), k=S - L)
            mask = c if mask is None else (mask & c if mask.dtype == xp.bool_ else xp.where(c, mask, -xp.inf))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                                             need_weights=need_weights)
        out, weights = out if need_weights else (out, None)
        out = self.out_proj(merge_heads(out))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None and average_attn_weights:
            weights = Tensor(weights.array.mean(axis=1), _internal=True)
        return out, weights


def allowed_mask(key_padding_mask=None, attn_mask=None, dtype=xp.float32):
    """Combine PyTorch-style "True = blocked" masks into one mask for
    ``scaled_dot_product_attention`` (boolean True = allowed, or additive float),
    broadcastable to (B, H, L, S)."""
    mask = None
    if key_padding_mask is not None:
        kpm = key_padding_mask.array if isinstance(key_padding_mask, Tensor) else xp.asarray(key_padding_mask)
        if kpm.dtype != xp.bool_:
            raise TypeError(f"key_padding_mask must be boolean (True at padding), got {kpm.dtype}")
        mask = ~kpm[:, None, None, :]
    if attn_mask is not None:
        am = attn_mask.array if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
        if am.dtype == xp.bool_:
            am = ~am
            mask = am if mask is None else mask & am
        else:
            am = am.astype(dtype, copy=False)
            mask = am if mask is None else xp.where(mask, am, -xp.inf)
    return mask
