"""``nn.MultiheadAttention``: PyTorch's interface over minissl's one :class:`Attention`.

Programs written for ``torch.nn.MultiheadAttention`` run unchanged: the same
arguments, the same returns, and PyTorch's mask meaning, which is the opposite
of the rest of minissl: ``key_padding_mask`` (B, S) is True at padding keys to
*ignore*, a boolean ``attn_mask`` (L, S) or (B·H, L, S) is True where attention
is *not* allowed (a float mask is added to the scores). This adapter inverts
those masks once, lays the inputs out batch first, and calls
:class:`~minissl.nn.attention.Attention`, which does the work.

One deliberate difference: PyTorch packs the three input projections into one
``in_proj_weight`` (3E, E); here they are the separate ``q_proj``, ``k_proj``
and ``v_proj`` of :class:`Attention` (stack them to get PyTorch's matrix).
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor
from .attention import Attention


class MultiheadAttention(Attention):
    """``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` -> ``(output, weights)``.

    Inputs (B, T, E) when ``batch_first`` (else (T, B, E), PyTorch's default), or
    unbatched (T, E). ``weights`` (B, L, S) averaged over heads unless
    ``average_attn_weights=False`` (then (B, H, L, S)); None when ``need_weights=False``.
    ``is_causal`` is, as in PyTorch, only a hint that ``attn_mask`` is the causal mask.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, "
                             f"got embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads}); each head gets embed_dim // num_heads features")
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim)
        self.batch_first = batch_first
        self._name = f"MultiheadAttention(embed_dim={embed_dim}, num_heads={num_heads})"  # for error messages

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                               "module method `generate_square_subsequent_mask` to create this mask.")
        unbatched = query.ndim == 2  # (T, E): run as a batch of one, as PyTorch does
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _array(key_padding_mask)[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if self.training and not 0 <= self.dropout <= 1:  # PyTorch also refuses it only here, in forward
            raise ValueError(f"MultiheadAttention: dropout probability has to be between 0 and 1, "
                             f"but got {self.dropout}")
        B, L, S = query.shape[0], query.shape[1], key.shape[1]
        attn_mask = self._check_masks(key_padding_mask, attn_mask, B, L, S)
        mask = allowed_mask(key_padding_mask, attn_mask, query.dtype)
        out, weights = super().forward(query, key, value, attn_mask=mask, need_weights=need_weights)
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


def _array(m):
    return m.array if isinstance(m, Tensor) else xp.asarray(m)


def allowed_mask(key_padding_mask=None, attn_mask=None, dtype=xp.float32):
    """PyTorch's "True = blocked" masks -> one mask in minissl's convention (boolean
    True = takes part, or additive float), broadcastable to (B, H, L, S)."""
    mask = None
    if key_padding_mask is not None:
        kpm = _array(key_padding_mask)
        if kpm.dtype != xp.bool_:
            raise TypeError(f"key_padding_mask must be boolean (True at padding), got {kpm.dtype}")
        mask = ~kpm[:, None, None, :]
    if attn_mask is not None:
        am = _array(attn_mask)
        if am.dtype == xp.bool_:
            am = ~am
            mask = am if mask is None else mask & am
        else:
            am = am.astype(dtype, copy=False)
            mask = am if mask is None else xp.where(mask, am, -xp.inf)
    return mask
