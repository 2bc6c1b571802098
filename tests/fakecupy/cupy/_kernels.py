"""fakecupy's ElementwiseKernel and ReductionKernel: the kernel's own source, evaluated with NumPy.

A kernel body is CUDA C++, so the fake cannot compile it. It reads the small
subset that minissl's kernels are written in (minissl/speedups.py) and
evaluates each statement over whole arrays:

* statements ``name = expr;`` (an output, written into its array with the
  output's dtype) and ``T name = expr;`` (a local); ``;`` separates them;
* expressions of numbers, parameters, ``+ - * /``, ``%`` on integers, ``==``
  and the other comparisons (bool, counted as 0/1 as in C), parentheses, the
  functions ``exp log tanh erf sqrt max min`` and casts ``T(...)`` to a
  parameter type; ``i`` is the flat index of the element, as in CuPy;
* CuPy's rules at the call: type placeholders (``T``) are decided by the
  arrays passed and must agree (TypeError "Type is mismatched" otherwise);
  Python scalars take the placeholder's type; host NumPy arrays are refused;
  inputs broadcast; an output passed in must have the broadcast shape; a
  reduction's ``reduce_expr`` must be ``a + b`` (the only one minissl uses).

It cannot prove what only the GPU decides: that the source compiles with
NVRTC (C++ syntax this subset accepts but C++ rejects, or type errors), float
rounding of the device's exp/erf/tanh, the order of a parallel sum, speed, or
anything about memory. ``benchmarks/gpu_check.sh`` runs the same tests on a GPU.
"""
import re

import numpy as _np

_FUNCS = {"exp": _np.exp, "log": _np.log, "tanh": _np.tanh, "sqrt": _np.sqrt, "max": _np.maximum,
          "min": _np.minimum}
_CTYPES = {"float32": _np.float32, "float64": _np.float64, "float": _np.float32, "double": _np.float64,
           "int32": _np.int32, "int64": _np.int64, "bool": _np.bool_}
_UNSUPPORTED = re.compile(r"[?{}\[\]]|&&|\|\||!(?!=)|\+\+|--|\+=|-=|\*=|/=")


def _erf(x):
    from scipy.special import erf
    return erf(x)


_FUNCS["erf"] = _erf


def _params(spec):
    """'T x, int64 c' -> [(type, name)], refusing CuPy features the fake does not model (raw, pointers)."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        words = part.split()
        if len(words) != 2 or words[0] == "raw":
            raise NotImplementedError(f"fakecupy: kernel parameter {part!r} (only 'TYPE name' is emulated)")
        out.append((words[0], words[1]))
    return out


def _statements(body):
    if _UNSUPPORTED.search(body):
        raise NotImplementedError(f"fakecupy: kernel body uses C syntax the fake does not evaluate: {body!r}")
    return [s.strip() for s in body.split(";") if s.strip()]


class _Kernel:
    def __init__(self, in_params, out_params, name):
        self.ins, self.outs, self.name = _params(in_params), _params(out_params), name
        names = [n for _, n in self.ins + self.outs]
        if "i" in names:
            raise ValueError("Can not use 'i' as a parameter name")

    def _types(self, args, outs):
        """Decide each type placeholder from the arrays, as CuPy's _decide_params_type does."""
        from . import ndarray
        types = {}
        for (t, n), a in list(zip(self.outs, outs)) + list(zip(self.ins, args)):
            if isinstance(a, _np.ndarray):
                raise TypeError(f"Unsupported type <class 'numpy.ndarray'> (fakecupy: kernel {self.name} got a "
                                f"host array for {n})")
            if a is None or not isinstance(a, ndarray):
                continue
            want = _CTYPES.get(t)
            if want is not None:
                if a.dtype != want:
                    raise TypeError(f"Type is mismatched. {n} {a.dtype} {t}")
            elif t in types and types[t] != a.dtype:
                raise TypeError(f"Type is mismatched. {n} {a.dtype} {types[t]} {t}")
            else:
                types[t] = a.dtype
        return types

    def _value(self, t, a, types):
        from . import ndarray
        dtype = _CTYPES.get(t) or types.get(t)
        if dtype is None:
            raise TypeError(f"fakecupy: kernel {self.name}: the type {t} is not decided by any array argument")
        if isinstance(a, ndarray):
            return a._a
        return _np.asarray(a, dtype=dtype)[()]  # a Python scalar becomes the parameter's C type

    def _namespace(self, types):
        ns = dict(_FUNCS)
        for t, dtype in list(types.items()) + list(_CTYPES.items()):
            ns[t] = (lambda d: lambda v: _np.asarray(v).astype(d)[()])(_np.dtype(dtype))
        return ns

    def _run(self, body, ns, outs, out_types):
        """Evaluate ``body``; outputs are written into ``outs`` (name -> array) with their dtype."""
        for stmt in _statements(body):
            m = re.fullmatch(r"(?:const\s+)?(?:(\w+)\s+)?(\w+)\s*=(?!=)\s*(.+)", stmt, re.S)
            if not m:
                raise NotImplementedError(f"fakecupy: kernel {self.name}: cannot evaluate statement {stmt!r}")
            decl, name, expr = m.groups()
            value = eval(expr, {"__builtins__": {}}, ns)  # noqa: S307 - our own kernel source
            if decl is not None:  # a local: C converts the value to the declared type
                ns[name] = ns[decl](value)
            elif name in outs:
                outs[name][...] = _np.asarray(value).astype(out_types[name], copy=False)
                ns[name] = outs[name]
            else:
                raise NotImplementedError(f"fakecupy: kernel {self.name}: assignment to {name!r}, which is "
                                          "neither an output nor a declared local")


class ElementwiseKernel(_Kernel):
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name)``, emulated (see module docstring)."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        super().__init__(in_params, out_params, name)
        self.operation = operation

    def __call__(self, *args, size=None, block_size=None):
        from . import _wrap, ndarray
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"Wrong number of arguments for {self.name!r}")
        ins, given = args[:len(self.ins)], list(args[len(self.ins):]) or [None] * len(self.outs)
        types = self._types(ins, given)
        values = [self._value(t, a, types) for (t, _), a in zip(self.ins, ins)]
        shape = _np.broadcast_shapes(*[v.shape for v, a in zip(values, ins) if isinstance(a, ndarray)])
        ns = self._namespace(types)
        ns.update({n: (_np.broadcast_to(v, shape) if isinstance(a, ndarray) else v)
                   for (_, n), v, a in zip(self.ins, values, ins)})
        ns["i"] = _np.arange(int(_np.prod(shape)), dtype=_np.int64).reshape(shape)
        out_types = {n: _np.dtype(_CTYPES.get(t) or types[t]) for t, n in self.outs}
        outs = {}
        for (t, n), a in zip(self.outs, given):
            if a is None:
                a = ndarray._of(_np.empty(shape, out_types[n]))
            elif a.shape != shape:
                raise ValueError("Out shape is mismatched")
            outs[n] = a._a
            ns[n] = a._a
        self._run(self.operation, ns, outs, out_types)
        res = [_wrap(outs[n]) for _, n in self.outs]
        return res[0] if len(res) == 1 else tuple(res)


class ReductionKernel(_Kernel):
    """``cupy.ReductionKernel(in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name)``,
    emulated for ``reduce_expr == 'a + b'`` (see module docstring)."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 reduce_type=None, **kwargs):
        super().__init__(in_params, out_params, name)
        if reduce_expr.replace(" ", "") != "a+b":
            raise NotImplementedError(f"fakecupy: ReductionKernel {name}: only reduce_expr 'a + b' is emulated")
        if len(self.outs) != 1:
            raise NotImplementedError(f"fakecupy: ReductionKernel {name}: one output only")
        self.map_expr, self.post_map_expr, self.identity, self.reduce_type = map_expr, post_map_expr, identity, reduce_type

    def __call__(self, *args, out=None, axis=None, keepdims=False, stream=None):
        from . import _wrap, ndarray
        if len(args) != len(self.ins):
            raise TypeError(f"Wrong number of arguments for {self.name!r}")
        types = self._types(args, [out])
        values = [self._value(t, a, types) for (t, _), a in zip(self.ins, args)]
        shape = _np.broadcast_shapes(*[v.shape for v, a in zip(values, args) if isinstance(a, ndarray)])
        ns = self._namespace(types)
        ns.update({n: (_np.broadcast_to(v, shape) if isinstance(a, ndarray) else v)
                   for (_, n), v, a in zip(self.ins, values, args)})
        (t, name), = self.outs
        out_type = _np.dtype(_CTYPES.get(t) or types[t])
        red_type = _np.dtype(_CTYPES.get(self.reduce_type) or types.get(self.reduce_type) or out_type)
        mapped = _np.broadcast_to(_np.asarray(eval(self.map_expr, {"__builtins__": {}}, ns)), shape)  # noqa: S307
        total = mapped.astype(red_type).sum(axis=axis, keepdims=keepdims, dtype=red_type)
        ns["a"] = total
        res = _np.empty(total.shape, out_type) if out is None else out._a
        self._run(self.post_map_expr, ns, {name: res}, {name: out_type})
        return _wrap(res)
