"""Training utilities."""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, eps: float = 1e-6) -> Tensor:
    """Rescale all gradients together so that their global L2 norm is at most ``max_norm``.

    total = sqrt(Σ_p ||g_p||²); if total > max_norm every gradient is multiplied
    by max_norm / (total + eps). Returns the norm before clipping, as a 0-d
    tensor of the gradients' dtype (PyTorch's return type).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    if norm_type != 2.0:
        raise NotImplementedError(f"clip_grad_norm_: only norm_type=2 is implemented, got {norm_type}")
    grads = [p.grad.array for p in parameters if p.grad is not None]
    if not grads:
        return Tensor(xp.zeros((), dtype=xp.float32), _internal=True)
    total = float(xp.sqrt(sum(float((g.astype(xp.float64) ** 2).sum()) for g in grads)))
    if total > max_norm:
        scale = max_norm / (total + eps)
        for g in grads:
            g *= scale
    return Tensor(xp.asarray(total, dtype=grads[0].dtype), _internal=True)


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` with its Linear and Embedding weights allocated but not
    initialised (``torch.nn.utils.skip_init``): for a model whose weights are loaded next, the
    random draws it would throw away are skipped. Draws no random numbers."""
    from . import layers
    layers._SKIP_INIT[0] = True
    try:
        return module_cls(*args, **kwargs)
    finally:
        layers._SKIP_INIT[0] = False
