"""Saving and loading: ``ms.save`` / ``ms.load`` (NumPy ``.npz``, written atomically).

A checkpoint is a (possibly nested) dict of tensors, arrays and plain values
(numbers, strings, lists), e.g. ``{"model": model.state_dict(), "step": 10}``.
Arrays go into the ``.npz`` under their path (``model/encoder.weight``);
everything else goes into one JSON entry. The file is written to a temporary
name beside the target and renamed over it, so a crash mid-write never leaves
a half-written checkpoint under the real name.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy

from . import backend
from .tensor import Tensor

_META = "__minissl__"


class CheckpointError(ValueError):
    pass


def _flatten(obj, prefix, arrays):
    """Arrays into ``arrays`` under their path; the rest into a JSON-able tree."""
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or "/" in str(k):
                raise TypeError(f"ms.save: dict keys must be str or int without '/', got {k!r} at {prefix!r}")
            items.append([k, _flatten(v, f"{prefix}{k}/", arrays)])  # JSON keeps str vs int apart here
        return {"__dict__": items}
    if isinstance(obj, Tensor) or backend.is_array(obj):
        name = prefix.rstrip("/") or "_root"
        arrays[name] = backend.to_numpy(obj.data if isinstance(obj, Tensor) else obj)
        return {"__array__": name, "tensor": isinstance(obj, Tensor)}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(v, f"{prefix}{i}/", arrays) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, numpy.generic):
        return obj.item()
    raise TypeError(f"ms.save cannot store a {type(obj).__name__} (at {prefix.rstrip('/') or 'top level'}); "
                    "save tensors, arrays, numbers, strings, lists and dicts")


def _unflatten(node, arrays):
    if isinstance(node, dict):
        if "__dict__" in node:
            return {k: _unflatten(v, arrays) for k, v in node["__dict__"]}
        if "__array__" in node:
            arr = arrays[node["__array__"]]
            return Tensor(arr) if node["tensor"] else arr
        if "__list__" in node:
            items = [_unflatten(v, arrays) for v in node["__list__"]]
            return tuple(items) if node["tuple"] else items
    return node


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` (a ``.npz`` file) atomically."""
    arrays = {}
    tree = _flatten(obj, "", arrays)
    arrays[_META] = numpy.frombuffer(json.dumps({"version": 1, "tree": tree}).encode(), dtype=numpy.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path):
    """Read a checkpoint written by :func:`save`. Tensors come back as Tensors on the backend."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ms.load: no checkpoint at {path!r}")
    try:
        with numpy.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise CheckpointError(f"ms.load: {path!r} is a .npz file but not a minissl checkpoint "
                                      "(no metadata entry); was it written by ms.save?")
            meta = json.loads(bytes(z[_META]).decode())
            arrays = {k: z[k] for k in z.files if k != _META}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"ms.load: {path!r} is truncated or not a minissl checkpoint "
                              f"({type(e).__name__}: {e}); nothing was loaded") from None
    return _unflatten(meta["tree"], arrays)
