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


def tied_linear(embedding):
    """The output layer of a language model with tied embeddings: a bias-free
    ``Linear(embedding_dim, num_embeddings)`` whose ``.weight`` IS ``embedding.weight``
    (one Parameter, two uses, as ``lm_head.weight = wte.weight`` in nanoGPT and Hugging Face):

        logits = h Eᵀ        h (..., D), E (V, D) -> (..., V)

    The gradient reaching E is the sum of its two uses (lookup rows + output scores), and an
    optimizer steps it once. Built with :func:`skip_init`, so it draws no random numbers."""
    from .layers import Linear
    head = skip_init(Linear, embedding.embedding_dim, embedding.num_embeddings, bias=False)
    head.weight = embedding.weight
    return head


def fill_tied(module, state_dict):
    """``state_dict`` with every missing name of a tied Parameter filled from a name of the
    same Parameter that is present: a checkpoint written before a head was registered (it lists
    the table once) loads into a model that lists it twice. Two present names of one Parameter
    with different values are refused: this model cannot hold both."""
    from .module import _as_array
    names = {}  # id(Parameter) -> every name state_dict() lists it under
    for name, t in module._state_tensors().items():
        names.setdefault(id(t), []).append(name)
    out = dict(state_dict)
    for group in names.values():
        present = [n for n in group if n in state_dict]
        if len(group) < 2 or not present:
            continue
        first = _as_array(state_dict[present[0]])
        for n in present[1:]:
            other = _as_array(state_dict[n])
            if first is not None and other is not None and not bool(xp.array_equal(first, other)):
                raise ValueError(f"the checkpoint's {present[0]!r} and {n!r} differ, but this model ties them to "
                                 "one Parameter; load it into a model built without tying")
        out.update({n: state_dict[present[0]] for n in group if n not in state_dict})
    return out
