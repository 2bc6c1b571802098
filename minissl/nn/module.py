"""``Module``: a container of parameters and sub-modules, as in PyTorch.

Assigning a :class:`Parameter` or a :class:`Module` as an attribute registers
it, in definition order, so ``named_parameters()`` lists
``encoder.layer.0.attn.q_proj.weight`` and friends in the same order
every run (seeded runs reproduce). Buffers (``register_buffer``) are tensors
saved with the model but not trained, e.g. BatchNorm's running statistics.

The modules form a tree (a module shared by two parents is one object reached
by two paths). Traversals walk it depth first, a module before its children;
``named_modules()``/``named_parameters()`` list a shared module or parameter
once (its first path), while ``state_dict()`` lists it under every path, as
PyTorch does. The containers (ModuleList, Sequential, ModuleDict, ...) live in
:mod:`minissl.nn.containers`.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from ..backend import xp
from ..tensor import Tensor, as_array


class Parameter(Tensor):
    """A tensor that a Module trains: ``requires_grad`` is on by default."""

    def __init__(self, data, requires_grad: bool = True):
        data = as_array(data)
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


def _tied_hint(name, own, state_dict):
    """For a missing name whose Parameter the checkpoint holds under another name: how to load it."""
    twins = [k for k, t in own.items() if t is own[name] and k != name and k in state_dict]
    if not twins:
        return ""
    return (f" (it is the same Parameter as {twins[0]}, which the checkpoint has: load "
            "minissl.nn.utils.fill_tied(model, state_dict))")


IncompatibleKeys = namedtuple("IncompatibleKeys", "missing_keys unexpected_keys")


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        """``self.w = Parameter(...)`` / ``self.sub = Module()`` registers; PyTorch's rules for the rest:
        a registered parameter accepts only a Parameter or None, a sub-module a Module or None, and a
        buffer a Tensor or None (the buffer stays registered)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before assigning {name!r}")
        if isinstance(value, Parameter):
            self._forget(name)
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._parameters or name in self._modules:
            kind, wanted = ("parameter", "nn.Parameter") if name in self._parameters else ("child module", "nn.Module")
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as {kind} '{name}' ({wanted} or None "
                                "expected)" + (f"; to change its values write `with ms.no_grad(): "
                                               f"module.{name}.copy_(value)`" if kind == "parameter" else ""))
            (self._parameters if name in self._parameters else self._modules)[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        for table in ("_parameters", "_modules", "_buffers"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._modules or name in self._buffers:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def _check_name(self, name, kind, table):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in table:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        """Add ``param`` (a Parameter, or None for an absent one such as ``bias=False``) under ``name``."""
        self._check_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        self._parameters[name] = param

    def add_module(self, name, module):
        """Add ``module`` (or None) as the child ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module", self._modules)
        self._modules[name] = module

    register_module = add_module

    def register_buffer(self, name, value, persistent: bool = True):
        """Keep ``value`` (a Tensor) with the module: moved by ``.to()``, saved by ``state_dict()``
        unless ``persistent=False``, never trained."""
        self._check_name(name, "buffer", self._buffers)
        self._buffers[name] = value if isinstance(value, Tensor) or value is None else Tensor(value)
        (self._non_persistent_buffers.discard if persistent else self._non_persistent_buffers.add)(name)

    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(path, module) for this module and every descendant, depth first, a shared module once
        (``remove_duplicate=False``: under every path). ``memo`` holds modules already listed."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, _join(prefix, name), remove_duplicate)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        """(name, module) for the direct children, a child registered twice once."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        seen = set()  # ids: Tensor's == is element-wise, so tensors do not go in a set by value
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, t in getattr(m, table).items():
                if t is None or id(t) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(t))
                yield _join(mp, name), t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, Parameter) pairs in definition order; a shared parameter appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def get_submodule(self, target: str):
        """The module at dotted path ``target`` (``""`` is this module)."""
        mod = self
        for item in target.split(".") if target else []:
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = mod._modules[item]
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str):
        return self._get(target, "_parameters", "parameter")

    def get_buffer(self, target: str):
        return self._get(target, "_buffers", "buffer")

    def _get(self, target, table, what):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in getattr(mod, table):
            raise AttributeError(f"{type(mod).__name__} has no {what} `{name}`")
        return getattr(mod, table)[name]

    def apply(self, fn):
        """Call ``fn(m)`` on every child (recursively), then on this module; returns self (PyTorch's order)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------- modes
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Turn gradient recording on or off for every parameter (e.g. to freeze a pre-trained encoder)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.array[...] = 0

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------- dtype and device
    def to(self, *args, dtype=None, device=None, non_blocking=False):
        """``m.to(device)``, ``m.to(dtype)``, ``m.to(tensor)``, ``m.to(device, dtype)``: returns self.

        Casts every floating-point parameter (in place: the same Parameter objects,
        so an optimiser built earlier keeps working) and floating buffer to a
        floating ``dtype``; integer buffers keep theirs. One device per process
        (see :mod:`minissl.devices`): naming it is a no-op, the other raises."""
        from ..devices import parse_to
        dtype = parse_to(args, dtype, device)
        if dtype is None:
            return self
        if xp.dtype(dtype).kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={xp.dtype(dtype)}")
        return self._cast(dtype)

    def _cast(self, dtype):
        """Floating parameters (and their grads) change dtype in place; floating buffers are replaced."""
        dtype = xp.dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.dtype.kind == "f" and p.dtype != dtype:
                    p.array = p.array.astype(dtype)
                    if p.grad is not None:
                        p._grad = Tensor(p.grad.array.astype(dtype), _internal=True)
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f" and b.dtype != dtype:
                    m._buffers[name] = Tensor(b.array.astype(dtype), _internal=True)
        return self

    def float(self): return self._cast(xp.float32)
    def double(self): return self._cast(xp.float64)
    def half(self): return self._cast(xp.float16)

    def bfloat16(self):
        raise TypeError("Module.bfloat16(): NumPy and CuPy have no bfloat16 dtype; use .half() (float16) or "
                        "keep float32")

    def cpu(self):
        from ..devices import check
        check("cpu")
        return self

    def cuda(self, device=None):
        from ..devices import check
        check(device if device is not None else "cuda")
        return self

    # ------------------------------------------------------------- state
    def _state_tensors(self):
        """path -> tensor for every parameter and persistent buffer, under every path (tied ones too)."""
        out = OrderedDict()
        for mp, m in self.named_modules(remove_duplicate=False):
            for name, t in m._parameters.items():
                if t is not None:
                    out[_join(mp, name)] = t
            for name, t in m._buffers.items():
                if t is not None and name not in m._non_persistent_buffers:
                    out[_join(mp, name)] = t
        return out

    def state_dict(self):
        """Name -> Tensor for every parameter and persistent buffer (tied weights listed under each name)."""
        return OrderedDict((k, t.detach()) for k, t in self._state_tensors().items())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the parameters and buffers, all or nothing.

        Every name, shape and dtype is checked first; if anything differs the
        error lists each difference and the model is left exactly as it was.
        Returns ``(missing_keys, unexpected_keys)`` (a named tuple, as PyTorch).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{type(self).__name__}.load_state_dict expects a dict of name -> tensor (as "
                            f"state_dict() returns), got {type(state_dict).__name__}")
        own = self._state_tensors()
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
            problems += [f"{k}: missing from the checkpoint" + _tied_hint(k, own, state_dict) for k in missing]
            problems += [f"{k}: in the checkpoint but not in the model" for k in unexpected]
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__} (nothing was changed):\n  "
                               + "\n  ".join(problems))
        for k, arr in new.items():
            own[k].array = xp.array(arr, dtype=arr.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = [f"({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(([extra] if extra else []) + lines) + "\n)"

    def extra_repr(self) -> str:
        return ""
