"""fakecupy: a strict CPU stand-in for CuPy, to find code that runs on NumPy but not on CuPy.

NOT CuPy, and no substitute for a GPU run. It wraps NumPy arrays and refuses what
CuPy refuses (each rule read from CuPy 13/14's source or docs):

* implicit device-to-host conversion: ``numpy.asarray(a)``, ``np.testing`` on a
  device array, ``numpy.float32(a)`` raise TypeError (``__array__`` raises);
* host data in device ops: a ``numpy.ndarray`` or a list as an operand of an
  operator, ufunc or function raises TypeError; ``a[...] = numpy_array`` with a
  basic index raises ValueError (CuPy routes it to ``fill``);
* functions whose array argument is a Python scalar or list (``unravel_index(3, s)``);
* reductions and integer indexing give 0-d arrays, not NumPy scalars: unhashable,
  no ``__index__`` (a 0-d array cannot index a list or size a ``range``), no ``round()``;
* ``default_rng()`` Generators without ``permutation``, ``choice``, ``shuffle``, ``normal``;
* ``cupy.array`` of a list that mixes device arrays with other objects.

``ElementwiseKernel`` and ``ReductionKernel`` evaluate the kernel's own source with
NumPy, for the subset of CUDA C++ that minissl's kernels use (see ``_kernels.py`` for
the subset and for what only a GPU can prove).

It does not model: CuPy's wrap-around of out-of-range indices, undefined order of
repeated-index assignment (set ``FAKECUPY_LOG=path`` to log candidates), type
promotion differences, random streams, numerics or speed.

Use (from the repository root)::

    PYTHONPATH=tests/fakecupy MINISSL_BACKEND=cupy python -m pytest -q
    PYTHONPATH=tests/fakecupy MINISSL_BACKEND=cupy python demos/gpt_text.py --quick
"""
import builtins
import os
import sys
import traceback

import numpy as _np

__version__ = "0+fakecupy"
_LOG = os.environ.get("FAKECUPY_LOG")


def _note(msg):
    if not _LOG:
        return
    st = [f for f in traceback.extract_stack()[:-2] if "fakecupy" not in f.filename]
    where = "; ".join(f"{f.filename}:{f.lineno}" for f in st[-3:])
    with open(_LOG, "a") as fh:
        fh.write(f"{msg} @ {where}\n")


class ndarray:
    __slots__ = ("_a", "__weakref__")
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = _np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _of(cls, a):
        o = object.__new__(cls)
        o._a = a
        return o

    # --- conversions
    def __array__(self, *a, **k):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __int__(self): return int(self._a)
    def __float__(self): return float(self._a)
    def __complex__(self): return complex(self._a)

    def __bool__(self):
        if self._a.size == 1:
            return bool(self._a)
        raise ValueError("The truth value of an array with more than one element is ambiguous.")

    def __index__(self):
        raise TypeError("'cupy.ndarray' object cannot be interpreted as an integer (fakecupy: no __index__)")

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __repr__(self): return repr(self._a)
    def __str__(self): return str(self._a)
    def __format__(self, spec): return format(self._a[()] if self._a.ndim == 0 else self._a, spec)
    def __copy__(self): return ndarray._of(self._a.copy())
    def __deepcopy__(self, memo): return ndarray._of(self._a.copy())
    def __reduce__(self): return (array, (self._a.copy(),))

    def get(self, stream=None, order="C", out=None):
        return _np.array(self._a, order=order)

    def set(self, arr, stream=None):
        if not isinstance(arr, _np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self._a.dtype != arr.dtype:
            raise TypeError("dtype mismatch in set")
        if self._a.shape != arr.shape:
            raise ValueError("Shape mismatch")
        self._a[...] = arr

    # --- attributes
    shape = property(lambda s: s._a.shape)
    dtype = property(lambda s: s._a.dtype)
    ndim = property(lambda s: s._a.ndim)
    size = property(lambda s: s._a.size)
    itemsize = property(lambda s: s._a.itemsize)
    nbytes = property(lambda s: s._a.nbytes)
    strides = property(lambda s: s._a.strides)
    T = property(lambda s: ndarray._of(s._a.T))
    mT = property(lambda s: ndarray._of(s._a.mT))
    real = property(lambda s: ndarray._of(s._a.real))
    imag = property(lambda s: ndarray._of(s._a.imag))
    base = property(lambda s: None if s._a.base is None else ndarray._of(s._a.base))

    @property
    def flags(self):
        return _Flags(self._a.flags)

    @shape.setter
    def shape(self, v):
        self._a.shape = v

    def __getattr__(self, name):
        if name in _NDARRAY_METHODS:
            meth = getattr(self._a, name)

            def call(*args, **kw):
                return _wrap(meth(*_unwrap(args, name), **_unwrap(kw, name)))
            return call
        raise AttributeError(f"fakecupy: 'cupy.ndarray' has no attribute {name!r}")

    # --- indexing
    def __getitem__(self, key):
        k = _key(key)
        r = self._a[k]
        if isinstance(r, _np.generic):  # CuPy gives a 0-d *view* where NumPy copies out a scalar
            r = self._a[(k if isinstance(k, tuple) else (k,)) + (Ellipsis,)]
        return _wrap(r)

    def __setitem__(self, key, value):
        k = _key(key)
        advanced = _is_advanced(k)
        if isinstance(value, ndarray):
            v = value._a
        elif isinstance(value, _np.ndarray):
            if not advanced and value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            v = value
        elif isinstance(value, (list, tuple)):
            if not advanced:
                raise TypeError(f"Unsupported type {type(value)} (fakecupy: basic-index assignment of a list calls fill)")
            v = _np.asarray(value)
        else:
            v = value
        if advanced:
            _check_repeated_set(k, self._a.shape)
        self._a[k] = v

    # --- ufunc protocol: numpy ufuncs on cupy arrays go to cupy
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return NotImplemented
        return _call_ufunc(ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        name = func.__name__
        mod = func.__module__ or ""
        target = sys.modules[__name__]
        for part in mod.split(".")[1:]:
            if part.startswith("_"):
                break
            target = getattr(target, part, None)
            if target is None:
                return NotImplemented
        f = getattr(target, name, None)
        if f is None:
            return NotImplemented
        return f(*args, **kwargs)


class _Flags:
    def __init__(self, f):
        self.c_contiguous = f.c_contiguous
        self.f_contiguous = f.f_contiguous
        self.owndata = f.owndata

    def __getitem__(self, k):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous, "OWNDATA": self.owndata}[k]


_NDARRAY_METHODS = set("""all any argmax argmin argpartition argsort astype choose clip compress conj conjugate copy
cumprod cumsum diagonal dot fill flatten item max mean min nonzero partition prod ptp put ravel repeat reshape round
scatter_add scatter_max scatter_min sort squeeze std sum swapaxes take tobytes tofile tolist trace transpose var view
reduced_view toDlpack""".split())


def _ops():
    import operator
    binops = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift", "lt", "le", "eq", "ne", "gt", "ge", "divmod"]
    for op in binops:
        if op in ("and", "or"):
            f = getattr(operator, op + "_")
        else:
            f = getattr(operator, op, None) or getattr(builtins, op)

        def fwd(self, other, f=f, op=op):
            if isinstance(other, (_np.ndarray, list, tuple)) and not (isinstance(other, _np.ndarray) and other.ndim == 0 and op in ("lt", "le", "eq", "ne", "gt", "ge")):
                raise TypeError(f"Unsupported type {type(other)} (fakecupy: operator {op} mixes a cupy array with host data)")
            if not isinstance(other, (ndarray, int, float, complex, bool, _np.generic)) and \
                    getattr(other, "__array_ufunc__", None) is None and getattr(other, "__array_priority__", 0) > 100:
                return NotImplemented  # CuPy's _should_use_rop
            o = other._a if isinstance(other, ndarray) else other
            if not isinstance(o, (_np.ndarray, int, float, complex, bool, _np.generic)):
                raise TypeError(f"Unsupported type {type(other)} (fakecupy: operator {op})")
            return _wrap(f(self._a, o))

        def rev(self, other, f=f, op=op):
            if isinstance(other, (_np.ndarray, list, tuple)):
                raise TypeError(f"Unsupported type {type(other)} (fakecupy: reflected {op} mixes host data)")
            return _wrap(f(other, self._a))
        setattr(ndarray, f"__{op}__", fwd)
        if op not in ("lt", "le", "eq", "ne", "gt", "ge"):
            setattr(ndarray, f"__r{op}__", rev)
        if op not in ("lt", "le", "eq", "ne", "gt", "ge", "divmod"):
            iop = getattr(operator, "i" + op)

            def inplace(self, other, iop=iop, op=op):
                if isinstance(other, (_np.ndarray, list, tuple)):
                    raise TypeError(f"Unsupported type {type(other)} (fakecupy: in-place {op} with host data)")
                o = other._a if isinstance(other, ndarray) else other
                r = iop(self._a, o)
                assert r is self._a
                return self
            setattr(ndarray, f"__i{op}__", inplace)
    for u in ("neg", "pos", "abs", "invert"):
        f = getattr(operator, u)
        setattr(ndarray, f"__{u}__", lambda self, f=f: _wrap(f(self._a)))


_ops()


def _wrap(r):
    if isinstance(r, ndarray):
        return r
    if isinstance(r, _np.ndarray):
        return ndarray._of(r)
    if isinstance(r, _np.generic):
        return ndarray._of(_np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    if isinstance(r, list):
        return [_wrap(x) for x in r]
    return r


def _unwrap(x, where="", allow_host=False):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _np.ndarray):
        if allow_host:
            return x
        raise TypeError(f"Unsupported type <class 'numpy.ndarray'> (fakecupy: {where} got a host NumPy array)")
    if isinstance(x, tuple):
        return tuple(_unwrap(v, where, allow_host) for v in x)
    if isinstance(x, list):
        return [_unwrap(v, where, allow_host) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v, where, allow_host) for k, v in x.items()}
    return x


def _key(key):
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for p in parts:
        if isinstance(p, ndarray):
            out.append(p._a)
        elif isinstance(p, list):
            out.append(_np.asarray(_unwrap(p, "index list")))
        else:
            out.append(p)
    return tuple(out) if isinstance(key, tuple) else out[0]


def _is_advanced(k):
    parts = k if isinstance(k, tuple) else (k,)
    return any(isinstance(p, _np.ndarray) and p.ndim >= 0 and not (p.ndim == 0 and p.dtype.kind in "iu") for p in parts) \
        or any(isinstance(p, _np.ndarray) and p.dtype == bool for p in parts)


def _check_repeated_set(k, shape):
    parts = k if isinstance(k, tuple) else (k,)
    ints = [p for p in parts if isinstance(p, _np.ndarray) and p.dtype.kind in "iu" and p.ndim > 0]
    if len(ints) == 1 and len(parts) == 1:
        idx = ints[0].ravel() % max(shape[0], 1)
        if len(_np.unique(idx)) != len(idx):
            _note("REPEATED-INDEX assignment (value undefined on CuPy)")


def _call_ufunc(ufunc, inputs, kwargs):
    for x in inputs:
        if isinstance(x, (list, tuple)):
            raise TypeError(f"Unsupported type {type(x)} (fakecupy: ufunc {ufunc.__name__} got a list)")
    args = _unwrap(tuple(inputs), f"ufunc {ufunc.__name__}")
    kw = dict(kwargs)
    if "out" in kw:
        o = kw["out"]
        o = o[0] if isinstance(o, tuple) else o
        kw["out"] = _unwrap(o, "out")
    if "where" in kw:
        kw["where"] = _unwrap(kw["where"], "where")
    return _wrap(ufunc(*args, **kw))


class _Func:
    """A CuPy-like function: refuses host NumPy arrays, returns device arrays."""

    def __init__(self, f, name, allow_host=False):
        self.f, self.__name__, self.allow_host = f, name, allow_host
        self.__module__ = "cupy"

    def __call__(self, *args, **kw):
        if isinstance(self.f, _np.ufunc):
            return _call_ufunc(self.f, args, kw)
        base = self.__name__.split(".")[-1]
        if args and base not in _FIRST_ARG_FREE and not isinstance(args[0], ndarray):
            if base in _SEQ_OF_ARRAYS and isinstance(args[0], (list, tuple)):
                if not all(isinstance(v, ndarray) for v in args[0]):
                    raise TypeError(f"fakecupy: {self.__name__} needs a sequence of cupy arrays")
            else:
                raise TypeError(f"fakecupy: {self.__name__} needs a cupy.ndarray, got {type(args[0]).__name__}")
        return _wrap(self.f(*_unwrap(args, self.__name__, self.allow_host), **_unwrap(kw, self.__name__, self.allow_host)))

    def __getattr__(self, name):  # ufunc.at / reduce / outer
        attr = getattr(self.f, name)
        if name in ("at",):
            def at(a, idx, b=None):
                raise AttributeError("fakecupy: cupy ufunc.at not assumed available; use cupyx.scatter_add")
            return at
        if callable(attr):
            return _Func(attr, f"{self.__name__}.{name}")
        return attr


def _nested_has_device(x):
    if isinstance(x, ndarray):
        return True
    if isinstance(x, (list, tuple)):
        return any(_nested_has_device(v) for v in x)
    return False


def _leaves(x):
    if isinstance(x, (list, tuple)):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0):
    if isinstance(obj, ndarray):
        r = obj._a.astype(dtype if dtype is not None else obj.dtype, copy=copy)
        return ndarray._of(r)
    if _nested_has_device(obj):
        leaves = list(_leaves(obj))
        if not all(isinstance(v, ndarray) for v in leaves) or len({v.shape for v in leaves}) != 1:
            raise TypeError("Implicit conversion to a NumPy array is not allowed (fakecupy: cupy.array of a list "
                            "mixing device arrays with other objects or shapes)")
        return ndarray._of(_np.array(_unwrap(obj), dtype=dtype))
    a = _np.array(obj, dtype=dtype, copy=True, ndmin=ndmin)
    if a.dtype.char not in "?bhilqBHILQefdFD":
        raise ValueError(f"Unsupported dtype {a.dtype}")
    return ndarray._of(a)


def asarray(a, dtype=None, order=None, *, blocking=False):
    if isinstance(a, ndarray):
        return a if dtype is None or _np.dtype(dtype) == a.dtype else ndarray._of(a._a.astype(dtype))
    return array(a, dtype=dtype)


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get()
    return _np.asarray(a)


def get_array_module(*args):
    return sys.modules[__name__]


class _NS:
    def __init__(self, mod, name, missing=()):
        self._mod, self._name, self._missing = mod, name, set(missing)

    def __getattr__(self, name):
        if name in self._missing:
            raise AttributeError(f"fakecupy: {self._name}.{name} is not in CuPy")
        v = getattr(self._mod, name)
        if callable(v) and not isinstance(v, type):
            return _Func(v, f"{self._name}.{name}")
        return v


linalg = _NS(_np.linalg, "cupy.linalg")
fft = _NS(_np.fft, "cupy.fft")


class _Lib:
    stride_tricks = _NS(_np.lib.stride_tricks, "cupy.lib.stride_tricks")


lib = _Lib()


class Generator:
    """cupy.random.Generator: only the methods CuPy 13/14 has (no permutation/choice/shuffle/normal)."""

    def __init__(self, seed):
        self._g = _np.random.default_rng(seed)

    def random(self, size=None, dtype=_np.float64, out=None):
        return ndarray._of(_np.asarray(self._g.random(size, dtype=_np.float32 if _np.dtype(dtype) == _np.float32 else _np.float64)).astype(dtype, copy=False))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=_np.float64):
        low, high = _unwrap(low, "uniform"), _unwrap(high, "uniform")
        return ndarray._of(_np.asarray(self._g.uniform(low, high, size)).astype(dtype, copy=False))

    def integers(self, low, high=None, size=None, dtype=_np.int64, endpoint=False):
        if high is None:
            lo, hi = 0, int(low)
        else:
            lo, hi = int(low), int(high)
        return ndarray._of(_np.asarray(self._g.integers(lo, hi, size, dtype=dtype, endpoint=endpoint)))

    def standard_normal(self, size=None, dtype=_np.float64, out=None):
        if _np.dtype(dtype).char not in "fd":
            raise TypeError("Unsupported dtype for standard_normal")
        return ndarray._of(_np.asarray(self._g.standard_normal(size, dtype=dtype)))

    def standard_exponential(self, size=None, dtype=_np.float64, method="inv", out=None):
        return ndarray._of(_np.asarray(self._g.standard_exponential(size)).astype(dtype))

    def exponential(self, scale=1.0, size=None):
        return self.standard_exponential(size) * scale

    def poisson(self, lam=1.0, size=None):
        if isinstance(lam, _np.ndarray):
            raise TypeError("lam is required to be a cupy.ndarray or a scalar")
        return ndarray._of(_np.asarray(self._g.poisson(_unwrap(lam), size)))

    def binomial(self, n, p, size=None):
        return ndarray._of(_np.asarray(self._g.binomial(_unwrap(n), _unwrap(p), size)))

    def gamma(self, shape, scale=1.0, size=None):
        return ndarray._of(_np.asarray(self._g.gamma(_unwrap(shape), scale, size)))

    def beta(self, a, b, size=None, dtype=_np.float64):
        return ndarray._of(_np.asarray(self._g.beta(_unwrap(a), _unwrap(b), size)).astype(dtype))

    def geometric(self, p, size=None):
        return ndarray._of(_np.asarray(self._g.geometric(_unwrap(p), size)))


class _Random(_NS):
    Generator = Generator

    def default_rng(self, seed=None):
        return Generator(seed)


random = _Random(_np.random, "cupy.random")

_FIRST_ARG_FREE = {"zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "identity", "tri",
                   "einsum", "meshgrid", "broadcast_arrays", "iinfo", "finfo", "dtype", "result_type", "promote_types",
                   "can_cast", "issubdtype", "isscalar", "ndim", "shape", "as_strided", "indices", "zeros_like",
                   "default_rng", "ix_"}
_SEQ_OF_ARRAYS = {"concatenate", "stack", "hstack", "vstack", "column_stack", "dstack"}
_NOT_IN_CUPY = {"errstate", "seterr", "geterr", "set_printoptions", "printoptions", "object_", "str_", "bytes_",
                "longdouble", "float128", "fromiter", "frompyfunc", "vectorize", "loadtxt", "genfromtxt",
                "nditer", "ndenumerate", "ndindex", "add_newdoc", "char", "rec", "ma", "polynomial", "emath"}


def __getattr__(name):
    if name in _NOT_IN_CUPY:
        raise AttributeError(f"fakecupy: cupy.{name} does not exist")
    v = getattr(_np, name)
    if isinstance(v, type) or not callable(v):
        return v
    return _Func(v, name)


class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 1

    @staticmethod
    def getDeviceProperties(i):
        return {"name": b"fakecupy (NumPy on the CPU)", "totalGlobalMem": 0}

    @staticmethod
    def runtimeGetVersion():
        return 0

    @staticmethod
    def driverGetVersion():
        return 0


class _MemoryPool:
    """The device memory pool's API; the fake holds no device memory, so every count is 0."""

    def used_bytes(self): return 0
    def total_bytes(self): return 0
    def free_all_blocks(self): pass


_POOL = _MemoryPool()


def get_default_memory_pool():
    return _POOL


class cuda:
    runtime = _Runtime()

    class Device:
        def __init__(self, i=0):
            pass

        def synchronize(self):
            pass

    @staticmethod
    def get_current_stream():
        class S:
            def synchronize(self):
                pass
        return S()



from ._kernels import ElementwiseKernel, ReductionKernel  # noqa: E402,F401 - after ndarray and _wrap exist
