"""Training utilities."""
from __future__ import annotations

from ..backend import xp


def clip_grad_norm_(parameters, max_norm: float, eps: float = 1e-6) -> float:
    """Rescale all gradients together so that their global L2 norm is at most ``max_norm``.

    total = sqrt(Σ_p ||g_p||²); if total > max_norm every gradient is multiplied
    by max_norm / (total + eps). Returns the norm before clipping.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = float(xp.sqrt(sum(float((g.astype(xp.float64) ** 2).sum()) for g in grads)))
    if total > max_norm:
        scale = max_norm / (total + eps)
        for g in grads:
            g *= scale
    return total
