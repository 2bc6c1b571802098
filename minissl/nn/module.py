"""``Module``: a container of parameters and sub-modules, as in PyTorch.

Assigning a :class:`Parameter` or a :class:`Module` as an attribute registers
it, in definition order, so ``named_parameters()`` lists
``encoder.layer.0.attention.self.query.weight`` and friends in the same order
every run (seeded runs reproduce). Buffers (``register_buffer``) are arrays
saved with the model but not trained, e.g. BatchNorm's running statistics.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from ..backend import xp
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: ``requires_grad`` is on by default."""

    def __init__(self, data, requires_grad: bool = True):
        data = data.array if isinstance(data, Tensor) else xp.asarray(data)
        super().__init__(data, requires_grad=requires_grad, _internal=True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def _as_array(v):
    """The backend array of a checkpoint value, or None when it is not one (ragged lists, strings)."""
    if isinstance(v, Tensor):
        return v.array
    try:
        arr = xp.asarray(v)
    except (ValueError, TypeError):
        return None
    return arr if arr.dtype.kind in "biuf" else None


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before assigning {name!r}")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for table in ("_parameters", "_modules", "_buffers"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def register_buffer(self, name, value):
        """Keep ``value`` (a Tensor) with the module's state, without training it."""
        self._buffers[name] = value if isinstance(value, Tensor) or value is None else Tensor(value)

    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------- traversal
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, prefix="", recurse=True):
        """(name, Parameter) pairs in definition order; a shared parameter appears once."""
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mp}.{name}" if mp else name), p

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self):
        for mp, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.array[...] = 0

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------- state
    def state_dict(self):
        """Name -> Tensor for every parameter and buffer (tied weights listed under each name)."""
        out = OrderedDict()
        for mp, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for name, t in table.items():
                    if t is not None:
                        out[f"{mp}.{name}" if mp else name] = t.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the parameters and buffers, all or nothing.

        Every name, shape and dtype is checked first; if anything differs the
        error lists each difference and the model is left exactly as it was.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{type(self).__name__}.load_state_dict expects a dict of name -> tensor (as "
                            f"state_dict() returns), got {type(state_dict).__name__}")
        own = self.state_dict()
        targets = {}
        for mp, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for name, t in table.items():
                    if t is not None:
                        targets[f"{mp}.{name}" if mp else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        new = {}
        for k, v in state_dict.items():
            if k not in own:
                continue
            arr = _as_array(v)
            if arr is None:
                problems.append(f"{k}: a {type(v).__name__} in the checkpoint, not an array "
                                "(a ragged nested list, or not numbers at all?)")
            elif tuple(arr.shape) != own[k].shape:
                problems.append(f"{k}: shape {tuple(arr.shape)} in the checkpoint, {own[k].shape} in the model")
            elif arr.dtype != own[k].dtype:
                problems.append(f"{k}: dtype {arr.dtype} in the checkpoint, {own[k].dtype} in the model")
            else:
                new[k] = arr
        if strict:
            problems += [f"{k}: missing from the checkpoint" for k in missing]
            problems += [f"{k}: in the checkpoint but not in the model" for k in unexpected]
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__} (nothing was changed):\n  "
                               + "\n  ".join(problems))
        for k, arr in new.items():
            targets[k].array = xp.array(arr, dtype=arr.dtype, copy=True)
        return missing, unexpected

    def __repr__(self):
        lines = [f"({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(([extra] if extra else []) + lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class ModuleList(Module):
    """A list of modules whose parameters are registered (named ``0``, ``1``, ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        setattr(self, str(len(self._modules)), m)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Runs its modules one after another: ``Sequential(a, b)(x) == b(a(x))``."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x
