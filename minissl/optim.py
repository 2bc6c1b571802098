"""Optimisers (SGD, Adam, AdamW) and learning-rate schedules, as in ``torch.optim``.

An optimiser holds *parameter groups*: lists of parameters that share
settings, so that e.g. biases and LayerNorm weights can skip weight decay::

    opt = AdamW([{"params": matrices, "weight_decay": 0.1},
                 {"params": vectors, "weight_decay": 0.0}], lr=3e-4)

Updates are done in place on the parameters' arrays, without recording a graph.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

from . import backend
from .backend import xp


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, **defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            group.setdefault("initial_lr", group["lr"])
            self.param_groups.append(group)
        self.state = {}  # id(param) -> per-parameter buffers

    def zero_grad(self, set_to_none: bool = True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.array[...] = 0

    def _params(self):
        """(group, parameter, its state) for every parameter with a gradient.

        The step changes each parameter in place, so its version is bumped here:
        a graph recorded before the step then refuses to backward through the
        old values (PyTorch's "modified by an inplace operation" error)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p, self.state.setdefault(id(p), {})
                    p._version.n += 1

    def state_dict(self):
        """Hyper-parameters and buffers, keyed by the parameters' positions (for checkpoints).
        As in PyTorch, each group lists the positions of its parameters under ``"params"``."""
        flat = [p for g in self.param_groups for p in g["params"]]
        position = {id(p): i for i, p in enumerate(flat)}
        return {"param_groups": [{**{k: v for k, v in g.items() if k != "params"},
                                  "params": [position[id(p)] for p in g["params"]]} for g in self.param_groups],
                "state": {i: dict(self.state[id(p)]) for i, p in enumerate(flat) if id(p) in self.state}}

    def load_state_dict(self, sd):
        """Restore :meth:`state_dict`'s output, all or nothing.

        Everything is checked before anything is changed (a half-loaded optimizer
        would train on with a mix of old and new settings): the number and sizes
        of the groups, the type of each hyper-parameter, each state index, and
        each buffer's shape and dtype against its parameter's. Buffers are copied,
        so the loaded dict and the optimizer never share memory."""
        flat = [p for g in self.param_groups for p in g["params"]]
        groups, state = _checked_state(self, sd, flat)
        for g, saved in zip(self.param_groups, groups):
            g.update(saved)
        self.state = state


def _same_kind(ours, theirs) -> bool:
    """Is a saved hyper-parameter of the type this optimizer uses (a number for lr, a pair for betas)?"""
    if isinstance(ours, bool) or ours is None:
        return type(theirs) is type(ours)
    if isinstance(ours, (int, float)):
        return isinstance(theirs, (int, float)) and not isinstance(theirs, bool)
    if isinstance(ours, (tuple, list)):
        return isinstance(theirs, (tuple, list)) and len(theirs) == len(ours) and all(
            _same_kind(a, b) for a, b in zip(ours, theirs))
    return True


def _checked_state(opt, sd, flat):
    """``(groups, state)`` ready to install, or a ValueError/TypeError naming the first problem."""
    name = type(opt).__name__
    if not isinstance(sd, dict) or not isinstance(sd.get("param_groups"), (list, tuple)) \
            or not isinstance(sd.get("state"), dict):
        what = type(sd).__name__ if not isinstance(sd, dict) else f"dict with keys {sorted(map(str, sd))}"
        raise TypeError(f"{name}.load_state_dict expects a dict with 'param_groups' (a list) and 'state' "
                        f"(a dict), as state_dict() returns; got a {what}")
    saved_groups = sd["param_groups"]
    if len(saved_groups) != len(opt.param_groups):
        raise ValueError(f"optimizer state has {len(saved_groups)} parameter groups, this {name} "
                         f"has {len(opt.param_groups)}")
    groups = []
    for i, (g, saved) in enumerate(zip(opt.param_groups, saved_groups)):
        if not isinstance(saved, dict):
            raise TypeError(f"parameter group {i} of the optimizer state is a {type(saved).__name__}, not a dict")
        if "params" in saved and len(saved["params"]) != len(g["params"]):
            raise ValueError(f"parameter group {i} of the optimizer state has {len(saved['params'])} parameters, "
                             f"this {name}'s group {i} has {len(g['params'])}")
        for k, v in saved.items():
            if k != "params" and k in g and not _same_kind(g[k], v):
                raise TypeError(f"parameter group {i}: {k}={v!r} in the optimizer state, but this {name} "
                                f"uses {k}={g[k]!r}")
        groups.append({k: v for k, v in saved.items() if k != "params"})
    state = {}
    for i, buffers in sd["state"].items():
        if not (isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(flat)):
            raise ValueError(f"optimizer state has an entry for parameter {i!r}; this {name} has parameters "
                             f"0..{len(flat) - 1}")
        if not isinstance(buffers, dict):
            raise TypeError(f"optimizer state for parameter {i} is a {type(buffers).__name__}, not a dict")
        p = flat[i]
        state[id(p)] = {k: _checked_buffer(v, p, f"optimizer state for parameter {i}, {k!r}")
                        for k, v in buffers.items()}
    return groups, state


def _checked_buffer(v, p, where):
    """A copy of one saved buffer on the backend: a count (``step``) or an array shaped like ``p``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    try:
        arr = xp.array(_array_of(v), copy=True)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: a {type(v).__name__}, not a number or an array (a ragged list?)")
    if tuple(arr.shape) != tuple(p.shape) or arr.dtype != p.dtype:
        raise ValueError(f"{where}: shape {tuple(arr.shape)} {arr.dtype}, but the parameter is "
                         f"{tuple(p.shape)} {p.dtype}")
    return arr


def _array_of(v):
    """The array behind a Tensor (the one place this file reads ``Tensor.array`` of a loaded value)."""
    from .tensor import Tensor
    return v.array if isinstance(v, Tensor) else v


class SGD(Optimizer):
    """p ← p - lr·v with v ← momentum·v + (g + weight_decay·p) (v = g without momentum)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)

    def step(self):
        for group, p, state in self._params():
            g = p.grad.array
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.array
            mu = group["momentum"]
            if mu:
                buf = state.get("momentum_buffer")
                buf = state["momentum_buffer"] = g.copy() if buf is None else buf * mu + g
                g = g + mu * buf if group["nesterov"] else buf
            p.array -= group["lr"] * g


class Adam(Optimizer):
    """Adam: running means of g and g², bias-corrected, step lr·m̂/(√v̂ + eps).

    ``weight_decay`` here is L2 regularisation (added to g), as in ``torch.optim.Adam``;
    for decoupled decay use :class:`AdamW`.
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def step(self):
        for group, p, state in self._params():
            b1, b2 = group["betas"]
            lr, wd, eps, g = group["lr"], group["weight_decay"], group["eps"], p.grad.array
            decay = 1.0
            if wd and self.decoupled:
                decay = 1 - lr * wd  # AdamW: shrink the weights directly, outside the adaptive step
            elif wd:
                g = g + wd * p.array
            if not state:
                state["step"] = 0
                state["exp_avg"] = xp.zeros_like(p.array)
                state["exp_avg_sq"] = xp.zeros_like(p.array)
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            # bias corrections: m̂ = m / (1 - β1^t), √v̂ = √v / √(1 - β2^t)
            step, sqrt_bc2 = lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t)
            if backend.fused.adam:  # on a GPU: one fused kernel (minissl/speedups.py)
                backend.fused.adam(g, b1, b2, step, sqrt_bc2, eps, decay, p.array, m, v)
                continue
            m *= b1
            m += (1 - b1) * g                              # m ← β1 m + (1-β1) g
            v *= b2
            v += (1 - b2) * (g * g)                        # v ← β2 v + (1-β2) g²
            if decay != 1.0:
                p.array *= decay
            p.array -= m / (xp.sqrt(v) / sqrt_bc2 + eps) * step  # p ← p - lr · m̂ / (√v̂ + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 - lr·wd) before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# ---------------------------------------------------------------- schedules
class LambdaLR:
    """lr = initial_lr · lr_lambda(step), updated by ``step()`` after each optimiser step.

    The other schedules are LambdaLR with a particular factor, as in ``torch.optim.lr_scheduler``:
    ``StepLR`` (γ^⌊step / step_size⌋) and ``CosineAnnealingLR`` (η_min + ½(lr - η_min)(1 + cos(π·step/T_max)))."""

    def __init__(self, optimizer, lr_lambda):
        self.optimizer, self.lr_lambda, self.last_step = optimizer, lr_lambda, 0
        self._apply()

    last_epoch = property(lambda self: self.last_step)

    def _apply(self):
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * self.lr_lambda(self.last_step)

    def step(self):
        self.last_step += 1
        self._apply()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_step}

    def load_state_dict(self, state):
        self.last_step = int(state["last_epoch"])
        self._apply()


class StepLR(LambdaLR):
    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, lambda step: gamma ** (step // step_size))


class CosineAnnealingLR(LambdaLR):
    def __init__(self, optimizer, T_max, eta_min=0.0):  # noqa: N803 - PyTorch's argument name
        def factor(step, g=optimizer.param_groups[0]):
            base = g["initial_lr"]
            return (eta_min + (base - eta_min) * (1 + math.cos(math.pi * step / T_max)) / 2) / base
        if len({g["initial_lr"] for g in optimizer.param_groups}) > 1 and eta_min:
            raise NotImplementedError("CosineAnnealingLR with eta_min and groups of different lr is not "
                                      "implemented in minissl")
        super().__init__(optimizer, factor)


# ``torch.optim.lr_scheduler`` by its PyTorch path
lr_scheduler = SimpleNamespace(LambdaLR=LambdaLR, StepLR=StepLR, CosineAnnealingLR=CosineAnnealingLR)


def warmup_linear(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up from 0 to the base lr over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""
    def f(step):
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return LambdaLR(optimizer, f)


def warmup_cosine(optimizer, warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """Linear warm-up, then half a cosine from the base lr down to ``min_ratio``·lr at ``total_steps``."""
    def f(step):
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return LambdaLR(optimizer, f)


def param_groups_for_decay(model, weight_decay: float):
    """Two groups: matrices (and embeddings) decay, vectors (biases, norm weights) don't."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
