"""Rotary position embeddings (RoPE, Su et al. 2021; used by Llama, Qwen, SmolLM).

Instead of adding a position vector to the token, RoPE rotates each query and
key by an angle proportional to its position. Pair feature i with feature
i + d/2 (the "rotate_half" layout of Hugging Face's Llama) and give the pair
the frequency θ_i = base^(-2i/d); at position p the pair (x_i, x_{i+d/2}) turns
by the angle p·θ_i::

    RoPE(x, p) = x ⊙ cos(p θ) + rotate_half(x) ⊙ sin(p θ),
    rotate_half(x) = (-x_{d/2:}, x_{:d/2}),     θ repeated twice to length d

A rotation by a and one by b meet in a dot product as a rotation by b - a, so
q_pᵀ k_s depends on the positions only through the offset p - s: attention sees
relative position without any learned position table, at any length.

Shapes: x (B, H, T, d) at positions offset .. offset+T-1 -> (B, H, T, d).
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Function, Tensor
from .module import Module


def rotary_cos_sin(positions, dim: int, base: float = 10000.0, dtype=xp.float32):
    """cos(p θ) and sin(p θ) for integer ``positions`` (T,), each (T, dim), θ repeated twice.

    Computed in float64 and rounded once to ``dtype``."""
    inv_freq = 1.0 / (base ** (xp.arange(0, dim, 2, dtype=xp.float64) / dim))
    angles = xp.asarray(positions, dtype=xp.float64)[:, None] * inv_freq[None, :]
    angles = xp.concatenate([angles, angles], axis=-1)
    return xp.cos(angles).astype(dtype), xp.sin(angles).astype(dtype)


_TABLES = {}  # (head_dim, base, dtype) -> cos, sin for positions 0 .. 2^k - 1, shared by every layer
_TABLE_LIMIT = 1 << 16  # positions beyond this are computed on the spot rather than tabled


def cached_cos_sin(positions, dim: int, base: float, dtype):
    """:func:`rotary_cos_sin` read from a table of positions 0..2^k-1 (same values: each entry
    is computed alone), so decoding one token does not recompute the angles in every layer."""
    positions = xp.asarray(positions)
    top = int(positions.max()) + 1 if positions.size else 0
    if positions.size and (top > _TABLE_LIMIT or int(positions.min()) < 0):
        return rotary_cos_sin(positions, dim, base, dtype)
    key = (dim, base, xp.dtype(dtype).str)
    table = _TABLES.get(key)
    if table is None or table[0].shape[0] < top:  # grown by doubling: O(1) amortised per new position
        table = _TABLES[key] = rotary_cos_sin(xp.arange(max(256, 1 << (top - 1).bit_length())), dim, base, dtype)
    return table[0][positions], table[1][positions]


def rotate_half(x):
    """(x_1, x_2) -> (-x_2, x_1) along the last axis, halves of size d/2 (a backend array)."""
    h = x.shape[-1] // 2
    return xp.concatenate([-x[..., h:], x[..., :h]], axis=-1)


class Rotary(Function):
    """y = x ⊙ cos + rotate_half(x) ⊙ sin, one op.

    rotate_half is a linear map R with Rᵀ = -R (a quarter turn of each pair), so
    the backward pass is dx = g ⊙ cos + Rᵀ(g ⊙ sin) = g ⊙ cos - rotate_half(g ⊙ sin)."""

    def forward(self, x, cos, sin):
        self.cos, self.sin = cos, sin
        return x * cos + rotate_half(x) * sin

    def backward(self, g):
        return (g * self.cos - rotate_half(g * self.sin),)


def apply_rotary(x, cos, sin):
    """x ⊙ cos + rotate_half(x) ⊙ sin; ``cos``/``sin`` backend arrays broadcasting against x (e.g. (T, d))."""
    return Rotary.apply(x, cos=cos, sin=sin)


class RotaryEmbedding(Module):
    """``forward(x, offset=0, position_ids=None)``: x (..., T, head_dim) rotated as positions
    offset..offset+T-1, or x (B, H, T, head_dim) by per-row ``position_ids`` (B, T) (left-padded batches).

    No parameters; ``base`` is the checkpoint's ``rope_theta`` (10,000 in the original
    paper and GPT-NeoX, 100,000 for SmolLM2, 500,000 for Llama 3)."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be even (features are rotated in pairs), got {head_dim}")
        if not base > 0:
            raise ValueError(f"RotaryEmbedding: base must be positive, got {base}")
        self.head_dim, self.base = head_dim, float(base)

    def forward(self, x, offset: int = 0, position_ids=None):
        if position_ids is None:
            T = x.shape[-2]
            cos, sin = cached_cos_sin(xp.arange(offset, offset + T), self.head_dim, self.base, x.dtype)
        else:  # (B, T) -> cos/sin (B, 1, T, d): one table per row, shared by the heads
            pos = position_ids.array if isinstance(position_ids, Tensor) else xp.asarray(position_ids)
            cos, sin = cached_cos_sin(pos.reshape(-1), self.head_dim, self.base, x.dtype)
            cos, sin = (a.reshape(pos.shape[0], 1, pos.shape[1], self.head_dim) for a in (cos, sin))
        return apply_rotary(x, cos, sin)

    def extra_repr(self):
        return f"head_dim={self.head_dim}, base={self.base:g}"
