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
    (else (T, B, E), PyTorch's default), or unbatched (T, E). Masks follow
    ``nn.MultiheadAttention``: ``key_padding_mask`` (B, S) is True at padding
    keys to ignore; a boolean ``attn_mask`` (L, S) or (B·H, L, S) is True where
    attention is *not* allowed (a float mask is added to the scores). Returns
    ``(output, weights)``; weights (B, L, S),
    averaged over heads unless ``average_attn_weights=False`` (then (B, H, L, S)),
    or ``None`` when ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, "
                             f"got embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads}); each head gets embed_dim // num_heads features")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self._name = f"MultiheadAttention(embed_dim={embed_dim}, num_heads={num_heads})"  # for error messages
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
        self._check_inputs(query, key, value)
        unbatched = query.ndim == 2  # (T, E): run as a batch of one, as PyTorch does
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0) if isinstance(key_padding_mask, Tensor) \
                    else xp.asarray(key_padding_mask)[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if self.training and not 0 <= self.dropout <= 1:  # PyTorch also refuses it only here, in forward
            raise ValueError(f"MultiheadAttention: dropout probability has to be between 0 and 1, but got {self.dropout}")
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
        attn_mask = self._check_masks(key_padding_mask, attn_mask, q.shape[0], q.shape[2], k.shape[2])
        mask = allowed_mask(key_padding_mask, attn_mask, q.dtype)
        if is_causal:  # bottom-right aligned: the last query sees every key
            L, S = q.shape[2], k.shape[2]
            c = xp.tril(xp.ones((L, S), dtype=xp.bool_), k=S - L)
            mask = c if mask is None else (mask & c if mask.dtype == xp.bool_ else xp.where(c, mask, -xp.inf))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                                             need_weights=need_weights)
        out, weights = out if need_weights else (out, None)
        out = self.out_proj(merge_heads(out))
        if weights is not None and average_attn_weights:
            weights = Tensor(weights.array.mean(axis=1), _internal=True)
        if unbatched:
            out = out.squeeze(0)
            weights = None if weights is None else Tensor(weights.array[0], _internal=True)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _check_inputs(self, query, key, value):
        """Shape checks on Python tuples, before any projection, naming what PyTorch expects."""
        name, layout = self._name, "(B, T, E)" if self.batch_first else "(T, B, E)"
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{name}: query {query.shape}, key {key.shape} and value {value.shape} must all be "
                             f"batched 3-D {layout} (batch_first={self.batch_first}) or all unbatched 2-D (T, E)")
        for t, what, e in ((query, "query", self.embed_dim), (key, "key", self.kdim), (value, "value", self.vdim)):
            if t.shape[-1] != e:
                raise ValueError(f"{name}: {what} shape {t.shape} has {t.shape[-1]} features in its last "
                                 f"dimension, expected {e}")
        b = 0 if self.batch_first or query.ndim == 2 else 1  # the batch axis (the sequence axis when unbatched)
        if query.ndim == 3 and not query.shape[b] == key.shape[b] == value.shape[b]:
            raise ValueError(f"{name}: query {query.shape}, key {key.shape} and value {value.shape} have different "
                             f"batch sizes along dimension {b} ({layout}, batch_first={self.batch_first})")
        s = 1 if query.ndim == 3 and self.batch_first else 0  # the sequence axis
        if key.shape[s] != value.shape[s]:
            raise ValueError(f"{name}: key {key.shape} and value {value.shape} must have the same sequence length")

    def _check_masks(self, key_padding_mask, attn_mask, B, L, S):
        """Check the masks against batch B, L queries and S keys; a 3-D attn_mask (B·H, L, S) becomes (B, H, L, S)."""
        name = "MultiheadAttention"
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (B, S):
            raise ValueError(f"{name}: key_padding_mask shape {tuple(key_padding_mask.shape)} should be "
                             f"(batch, source length) = {(B, S)}")
        if attn_mask is None:
            return None
        shape, H = tuple(attn_mask.shape), self.num_heads
        if shape == (L, S):
            return attn_mask
        if shape == (B * H, L, S):  # PyTorch's per-(batch, head) layout
            return attn_mask.reshape(B, H, L, S)
        raise ValueError(f"{name}: attn_mask shape {shape} should be (L, S) = {(L, S)} or "
                         f"(batch·num_heads, L, S) = {(B * H, L, S)}")


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
