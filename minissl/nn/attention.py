"""Attention: the one multi-head attention module every model in minissl uses.

Each head h projects the inputs with its own maps, attends, and the heads'
outputs are concatenated and mixed by one output projection::

    head_h = softmax(Q W_h^Q (K W_h^K)ᵀ / √d_head + mask) V W_h^V
    out    = concat(head_1, ..., head_H) W^O

All heads are computed at once: one projection, then the last axis is split
into (H, d_head) and moved in front of the sequence axis, so the fused
:func:`minissl.nn.functional.scaled_dot_product_attention` sees a batch of
B·H independent attentions.

One mask convention, PyTorch's ``scaled_dot_product_attention``: a boolean
mask is True where a query may attend (takes part); a float mask is added to
the scores. :func:`padding_mask` turns Hugging Face's ``attention_mask``
(1 = token, 0 = padding) into such a mask.

Options the real models need:

- self-attention ``attn(x)`` or cross-attention ``attn(x, memory)``;
- ``is_causal``: query i sees keys 0..i (with a cache, the query at absolute
  position p sees keys 0..p);
- a KV cache (a dict per layer): keys and values of the tokens already seen are
  kept, so generating one more token projects only that token; cross-attention
  keys/values are computed once from the encoder output and reused;
- grouped key/value heads (``num_kv_heads`` < ``num_heads``, GQA): query heads
  h = g·j ... g·j + g-1 share key/value head j (g = num_heads / num_kv_heads),
  which shrinks the cache by g; with g = 1 this is ordinary multi-head attention;
- rotary position embeddings (``rope_theta``, :mod:`minissl.nn.rotary`): queries
  and keys are rotated by their absolute position before the dot product.
"""
from __future__ import annotations

from .. import ops as F
from ..backend import xp
from ..tensor import Tensor, is_grad_enabled
from .layers import Linear
from .module import Module
from .rotary import RotaryEmbedding


def split_heads(x, num_heads):
    """(B, T, H·d) -> (B, H, T, d)."""
    b, t, e = x.shape
    return x.reshape(b, t, num_heads, e // num_heads).transpose(1, 2)


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H·d)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def padding_mask(attention_mask):
    """Hugging Face's ``attention_mask`` (B, S), 1 = real token, 0 = padding -> boolean
    (B, 1, 1, S) mask, True = the key takes part (``scaled_dot_product_attention``'s meaning).

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


def cache_length(cache) -> int:
    """Number of positions held in a self-attention KV cache (a dict; 0 when empty)."""
    return 0 if not cache or "k" not in cache else cache["k"].shape[2]


class _Buffer:
    """Room for a cache's keys and values (B, H_kv, capacity, d): the first ``filled`` positions
    are in use, and ``views`` are the tensors last handed out as ``cache["k"]``, ``cache["v"]``."""

    def __init__(self, old_k, old_v, capacity):
        self.k, self.v = (xp.empty(a.shape[:2] + (capacity,) + a.shape[3:], dtype=a.dtype) for a in (old_k, old_v))
        self.k[:, :, :old_k.shape[2]], self.v[:, :, :old_v.shape[2]] = old_k, old_v
        self.filled, self.views = old_k.shape[2], (None, None)

    def serves(self, cache, past, new):
        """Whether this buffer holds exactly ``cache``'s ``past`` positions and has room for ``new`` more."""
        return (self.filled == past and self.k.shape[2] >= past + new
                and self.views[0] is cache["k"] and self.views[1] is cache["v"])


def cache_append(cache, k, v):
    """Write this call's keys/values k, v (B, H_kv, L, d) after those in ``cache``; returns all of them.

    Concatenating would copy the whole cache at every decoding step (O(T) per token). Instead,
    without gradients, they go into a buffer with room to spare (its capacity doubles when full:
    O(L) per call, amortised) and the cache holds views of its filled part. The buffer is reused
    only by the cache that last wrote to it; a copied, truncated or replaced cache gets its own."""
    past = cache_length(cache)
    old_k, old_v = (cache["k"], cache["v"]) if past else (None, None)
    if past == 0 or (is_grad_enabled() and any(t.requires_grad for t in (k, v, old_k, old_v))) \
            or any(a.shape[:2] + a.shape[3:] != b.shape[:2] + b.shape[3:] or a.dtype != b.dtype
                   for a, b in ((old_k, k), (old_v, v))):
        if past:  # recorded for backward (or shapes to be refused by cat): a new array each call
            k, v = F.cat([old_k, k], dim=2), F.cat([old_v, v], dim=2)
        cache.pop("buffer", None)
        cache["k"], cache["v"] = k, v
        return k, v
    buf, S = cache.get("buffer"), past + k.shape[2]
    if buf is None or not buf.serves(cache, past, k.shape[2]):
        buf = cache["buffer"] = _Buffer(old_k.array, old_v.array, 2 * S)
    buf.k[:, :, past:S], buf.v[:, :, past:S] = k.array, v.array
    buf.filled = S
    cache["k"], cache["v"] = buf.views = (Tensor(buf.k[:, :, :S], _internal=True),
                                         Tensor(buf.v[:, :, :S], _internal=True))
    return buf.views


class Attention(Module):
    """Multi-head attention over ``embed_dim`` features (see the module docstring).

    ``forward(query, key=None, value=None, attn_mask=None, is_causal=False, cache=None,
    need_weights=False, position_ids=None)`` -> ``(out, weights)``. query (B, L, E); key/value (B, S, kdim/vdim),
    default: the query (self-attention), value defaults to key. ``attn_mask``: boolean True =
    take part, or float added to the scores, broadcastable to (B, H, L, S). ``weights``
    (B, H, L, S) when ``need_weights`` else None. ``cache``: a dict; self-attention appends
    this call's keys/values to it, cross-attention (``key`` given) fills it once and reuses it.
    ``position_ids`` (B, L): the queries' positions for rotary embeddings when rows differ
    (left padding); by default they follow the cache: past, past+1, ...

    Parameters: ``q_proj`` (H·d, E), ``k_proj``/``v_proj`` (H_kv·d, kdim/vdim), ``out_proj`` (E, H·d).
    """

    def __init__(self, embed_dim: int, num_heads: int, num_kv_heads: int | None = None, dropout: float = 0.0,
                 bias: bool = True, kdim: int | None = None, vdim: int | None = None, head_dim: int | None = None,
                 rope_theta: float | None = None, out_bias: bool | None = None):
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if embed_dim <= 0 or num_heads <= 0 or num_kv_heads <= 0:
            raise ValueError(f"Attention: embed_dim, num_heads and num_kv_heads must be greater than 0, got "
                             f"embed_dim={embed_dim}, num_heads={num_heads}, num_kv_heads={num_kv_heads}")
        if head_dim is None and embed_dim % num_heads:
            raise ValueError(f"Attention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}); "
                             "each head gets embed_dim // num_heads features (or pass head_dim)")
        if num_heads % num_kv_heads:
            raise ValueError(f"Attention: num_heads ({num_heads}) must be a multiple of num_kv_heads "
                             f"({num_kv_heads}): each key/value head serves the same number of query heads")
        self.embed_dim, self.num_heads, self.num_kv_heads, self.dropout = embed_dim, num_heads, num_kv_heads, dropout
        self.head_dim = embed_dim // num_heads if head_dim is None else head_dim
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        d, out_bias = self.head_dim, bias if out_bias is None else out_bias
        self.q_proj = Linear(embed_dim, num_heads * d, bias)
        self.k_proj = Linear(self.kdim, num_kv_heads * d, bias)
        self.v_proj = Linear(self.vdim, num_kv_heads * d, bias)
        self.out_proj = Linear(num_heads * d, embed_dim, out_bias)
        self.rotary = RotaryEmbedding(d, rope_theta) if rope_theta is not None else None

    def forward(self, query, key=None, value=None, attn_mask=None, is_causal=False, cache=None,
                need_weights=False, position_ids=None):
        cross = key is not None
        key = query if key is None else key
        value = key if value is None else value
        q = split_heads(self.q_proj(query), self.num_heads)
        past = cache_length(cache) if cache is not None and not cross else 0
        if cache is not None and cross and "k" in cache:  # encoder keys/values: computed at the first step
            k, v = cache["k"], cache["v"]
        else:
            k = split_heads(self.k_proj(key), self.num_kv_heads)
            v = split_heads(self.v_proj(value), self.num_kv_heads)
            if self.rotary is not None:  # rotate by absolute position: the cache holds rotated keys
                q, k = self.rotary(q, past, position_ids), self.rotary(k, past, position_ids)
            if cache is not None:
                k, v = cache_append(cache, k, v)
        L, S = q.shape[2], k.shape[2]
        if is_causal and L != S:  # new queries sit at the end: query i is position S-L+i
            if L > 1:  # (a single new query is the last position: it sees every key)
                c = xp.tril(xp.ones((L, S), dtype=xp.bool_), k=S - L)
                attn_mask = c if attn_mask is None else _and(_array(attn_mask), c)
            is_causal = False
        out, weights = self._attend(q, k, v, attn_mask, is_causal, need_weights)
        return self.out_proj(merge_heads(out)), weights

    def _attend(self, q, k, v, mask, is_causal, need_weights):
        """q (B, H, L, d), k/v (B, H_kv, S, d) -> (B, H, L, d) and the weights (B, H, L, S) or None."""
        p = self.dropout if self.training else 0.0
        g = self.num_heads // self.num_kv_heads
        b, _, L, d = q.shape
        if g > 1 and mask is None and not is_causal:  # no mask: the g query heads are g·L rows of one query block
            q = q.reshape(b, self.num_kv_heads, g * L, d)
        elif g > 1:  # each key/value head broadcast over its g query heads: (B, H_kv, g, ., d)
            q = q.reshape(b, self.num_kv_heads, g, L, d)
            k, v = k.unsqueeze(2), v.unsqueeze(2)
            mask = _group_mask(_array(mask), self.num_kv_heads, g) if mask is not None else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal,
                                             need_weights=need_weights)
        out, weights = out if need_weights else (out, None)
        if g > 1:
            out = out.reshape(b, self.num_heads, L, out.shape[-1])
            if weights is not None:
                weights = Tensor(weights.array.reshape(b, self.num_heads, L, weights.shape[-1]), _internal=True)
        return out, weights

    def extra_repr(self):
        kv = f", num_kv_heads={self.num_kv_heads}" if self.num_kv_heads != self.num_heads else ""
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}{kv}, head_dim={self.head_dim}"


def _array(mask):
    return mask.array if isinstance(mask, Tensor) else xp.asarray(mask)


def _and(mask, allowed):
    """Restrict a boolean or additive mask to the positions ``allowed`` (boolean)."""
    return mask & allowed if mask.dtype == xp.bool_ else xp.where(allowed, mask, -xp.inf)


def _group_mask(mask, kv_heads, g):
    """A mask broadcastable to (B, H, L, S) -> one broadcastable to (B, H_kv, g, L, S)."""
    if mask.ndim < 3:
        return mask  # (L, S) or (S,): the same for every head
    mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    if mask.shape[1] == 1:
        return mask[:, :, None]
    return mask.reshape(mask.shape[0], kv_heads, g, *mask.shape[2:])
