"""Containers that register what they hold: ModuleList, Sequential, ModuleDict, ParameterList, ParameterDict.

A plain Python list or dict of layers is invisible to ``parameters()`` (the
optimiser would never see the weights); these hold the same things but register
each entry as a child module or parameter, named by its position (``"0"``,
``"1"``, ...) or its key, so state_dict names read ``layers.3.weight``.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from ..tensor import Tensor
from .module import Module, Parameter


def _index(i, n, what):
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for a {what} of length {n}")
    return i % n


class ModuleList(Module):
    """A list of modules whose parameters are registered (named ``0``, ``1``, ...)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, mods):
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)

    def __getitem__(self, i):
        if isinstance(i, slice):  # a slice is a container of the same kind, as in PyTorch
            return self._slice(list(self._modules.items())[i])
        return list(self._modules.values())[_index(i, len(self), type(self).__name__)]

    def _slice(self, items):
        return type(self)([m for _, m in items])

    def __setitem__(self, i, module):
        self.add_module(list(self._modules)[_index(i, len(self), type(self).__name__)], module)

    def __delitem__(self, i):
        mods = list(self._modules.values())
        del mods[i if isinstance(i, slice) else _index(i, len(self), type(self).__name__)]
        self._renumber(mods)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)


class Sequential(ModuleList):
    """Runs its modules one after another: ``Sequential(a, b)(x) == b(a(x))``.

    ``Sequential(OrderedDict([("fc", Linear(...)), ("act", ReLU())]))`` names the steps."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            self.extend(modules)

    def _slice(self, items):
        return type(self)(OrderedDict(items))

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


class ModuleDict(Module):
    """An ordered dict of modules: ``d["enc"]``, ``"enc" in d``, ``keys()/values()/items()``, ``update``."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        m = self[key]
        del self[key]
        return m

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add (key, module) pairs from a mapping or an iterable of pairs, in their order."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for j, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self[pair[0]] = pair[1]


def _as_parameter(value):
    """A plain Tensor is wrapped into a Parameter sharing its memory, as PyTorch's ParameterList/Dict do."""
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


class ParameterList(Module):
    """A list of Parameters, registered as ``0``, ``1``, ... (plain Tensors are wrapped into Parameters)."""

    def __init__(self, values=None):
        super().__init__()
        for v in values or ():
            self.append(v)

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ParameterList(list(self._parameters.values())[i])
        return list(self._parameters.values())[_index(i, len(self), "ParameterList")]

    def __setitem__(self, i, value):
        self.register_parameter(str(_index(i, len(self), "ParameterList")), _as_parameter(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())


class ParameterDict(Module):
    """An ordered dict of Parameters (plain Tensors are wrapped into Parameters)."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def update(self, parameters):
        for k, v in (parameters.items() if isinstance(parameters, Mapping) else parameters):
            self[k] = v
