"""Scaled dot-product attention as one fused op with a hand-derived backward.

For queries Q (..., L, d), keys K (..., S, d) and values V (..., S, dv):

    S = Q Kᵀ · scale            (scale = 1/√d)   scores, (..., L, S)
    P = softmax(S + mask)       each query's weights over the keys (rows sum to 1)
    O = P V                                      (..., L, dv)

Backward, given G = dL/dO (dropout left out for clarity; it multiplies P by a
fixed mask, and the same mask multiplies dP):

    dV = Pᵀ G
    dP = G Vᵀ
    dS = P ⊙ (dP - rowsum(dP ⊙ P))    the softmax Jacobian applied row by row
    dQ = dS K · scale,   dK = dSᵀ Q · scale

Memory: P has L·S entries per head and is the largest thing attention would
keep for the backward pass (T² per layer). As FlashAttention does, the op
keeps only each row's log-sum-exp ℓ = m + log Σ exp(S - m) and recomputes
P = exp(S + mask - ℓ) in backward: one more Q Kᵀ product buys O(L) memory per
row instead of O(L·S).

Masks follow PyTorch: a boolean ``attn_mask`` is True where a query *may*
attend; a float mask is added to the scores; ``is_causal`` lets query i see
keys 0..i (top-left aligned). A query that may attend to nothing gets weights
of zero and an output of zero — never NaN.
"""
from __future__ import annotations

from .. import backend
from ..backend import xp
from ..tensor import Function, Tensor, broadcast_shapes, is_grad_enabled, sum_to


class ScaledDotProductAttention(Function):
    def forward(self, q, k, v, mask=None, dropout_p=0.0, scale=None, keep_weights=False):
        # The (..., L, S) score matrix is the big array here: it is built once
        # and then updated in place (mask, shift, exp, normalise).
        self.scale = (1.0 / q.shape[-1] ** 0.5) if scale is None else scale
        s = self._scores(q, k, mask)
        m = s.max(axis=-1, keepdims=True)
        m[~xp.isfinite(m)] = 0  # fully masked row: avoid (-inf) - (-inf)
        s -= m
        p = xp.exp(s, out=s)
        den = p.sum(axis=-1, keepdims=True)
        den[den == 0] = 1
        p /= den
        self.lse = m + xp.log(den)  # per row: P = exp(S - lse) rebuilds the weights
        self.p = p if keep_weights else None
        self.mask, self.drop = mask, None
        if dropout_p > 0:
            self.drop = backend.rng().random(p.shape, dtype=xp.float32) >= dropout_p  # bool: 1 byte a weight
            self.drop_scale = 1.0 / (1.0 - dropout_p) if dropout_p < 1 else 0.0  # p = 1 drops every weight
            p = p * self.drop
            p *= self.drop_scale
        self.q, self.k, self.v = q, k, v
        return p @ v

    def _scores(self, q, k, mask):
        s = q @ xp.swapaxes(k, -1, -2)
        s *= self.scale
        if mask is not None and not _fits_into(mask.shape, s.shape):  # a mask with extra batch dims
            s = xp.broadcast_to(s, broadcast_shapes(mask.shape, s.shape)).copy()
        if mask is not None:
            if mask.dtype == xp.bool_:
                xp.copyto(s, -xp.inf, where=~mask)
            else:
                s += mask
        return s

    def backward(self, g):
        q, k, v = self.q, self.k, self.v
        p = self.p
        if p is None:  # recompute the weights from the saved row log-sum-exp
            p = self._scores(q, k, self.mask)
            p -= self.lse
            xp.exp(p, out=p)
        pd = p
        if self.drop is not None:
            pd = p * self.drop
            pd *= self.drop_scale
        gv = sum_to(xp.swapaxes(pd, -1, -2) @ g, v.shape) if self.needs_grad[2] else None
        del pd
        dp = g @ xp.swapaxes(v, -1, -2)
        if self.drop is not None:
            dp *= self.drop
            dp *= self.drop_scale
        # ds = P ⊙ (dP - rowsum(dP ⊙ P)), in place in dP's buffer
        dp -= xp.einsum("...ij,...ij->...i", dp, p)[..., None]
        dp *= p
        dp *= self.scale
        gq = sum_to(dp @ k, q.shape) if self.needs_grad[0] else None
        gk = sum_to(xp.swapaxes(dp, -1, -2) @ q, k.shape) if self.needs_grad[1] else None
        return gq, gk, gv


def _fits_into(small, big):
    return len(small) <= len(big) and all(a in (1, b) for a, b in zip(small[::-1], big[::-1]))


class _Shapes:
    def __init__(self, q, k, v):
        self.shapes = q.shape, k.shape, v.shape

    def __str__(self):
        return "query {}, key {} and value {}".format(*self.shapes)


def causal_mask(L: int, S: int | None = None):
    """Boolean (L, S) mask, True on and below the diagonal: query i sees keys 0..i."""
    S = L if S is None else S
    return xp.tril(xp.ones((L, S), dtype=xp.bool_))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, need_weights=False):
    """Attention of ``query`` over ``key``/``value``; see the module docstring.

    Shapes: query (..., L, d), key (..., S, d), value (..., S, dv) -> (..., L, dv).
    With ``need_weights=True`` also returns the attention weights P (..., L, S)
    as a tensor without gradient (for plotting).
    """
    op = "scaled_dot_product_attention"
    shapes = _Shapes(query, key, value)  # formatted only when an error needs it
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(f"{op}: {shapes} need at least 2 dimensions each: query (..., L, d), key (..., S, d), "
                         "value (..., S, dv)")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: {shapes} do not fit (need query (..., L, d), key (..., S, d), value (..., S, dv))")
    # Checked here, on shapes, so the error names the inputs as given (NumPy's
    # would show the transposed key inside Q Kᵀ).
    batch = query.shape[:-2]
    if not batch == key.shape[:-2] == value.shape[:-2]:
        batch = broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    if batch is None:
        raise ValueError(f"{op}: the batch/head dimensions of {shapes} do not broadcast; they must be equal "
                         "or 1 in each place")
    if not dropout_p <= 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {dropout_p}")
    L, S = query.shape[-2], key.shape[-2]
    mask = None
    if attn_mask is not None:
        mask = attn_mask.array if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
        if mask.dtype != xp.bool_ and mask.dtype.kind != "f":  # an int 0/1 mask added to scores would not mask
            raise TypeError(f"{op}: attn_mask must be bool (True = may attend) or float (added to the scores), "
                            f"got dtype {mask.dtype}; convert a 0/1 mask with .bool()")
        if mask.shape != batch + (L, S) and broadcast_shapes(mask.shape, batch + (L, S)) is None:
            raise ValueError(f"{op}: attn_mask shape {mask.shape} does not broadcast to the attention weights' "
                             f"shape {batch + (L, S)} (batch..., L, S)")
        if mask.dtype != xp.bool_:
            mask = mask.astype(query.dtype, copy=False)
    if is_causal:
        c = causal_mask(L, S)
        mask = c if mask is None else (mask & c if mask.dtype == xp.bool_ else xp.where(c, mask, -xp.inf))
    options = dict(mask=mask, dropout_p=dropout_p, scale=scale)
    tracking = is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad)
    if not need_weights or tracking:
        out = ScaledDotProductAttention.apply(query, key, value, keep_weights=need_weights, **options)
        return (out, Tensor(out._ctx.p, _internal=True)) if need_weights else out
    fn = ScaledDotProductAttention()  # no graph to record: run the op directly and keep its weights
    out = Tensor(fn.forward(query.array, key.array, value.array, keep_weights=True, **options), _internal=True)
    return out, Tensor(fn.p, _internal=True)
