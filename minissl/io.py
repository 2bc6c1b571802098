"""Saving and loading: ``ms.save`` / ``ms.load`` (NumPy ``.npz``, written atomically).

A checkpoint is a (possibly nested) dict of tensors, arrays and plain values
(numbers, strings, lists), e.g. ``{"model": model.state_dict(), "step": 10}``.
Arrays go into the ``.npz`` under their path (``model/encoder.weight``);
everything else goes into one JSON entry. The file is written to a temporary
name beside the target and renamed over it, so a crash mid-write never leaves
a half-written checkpoint under the real name.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy

from . import backend
from .tensor import Tensor, tensor

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
        arrays[name] = backend.to_numpy(obj.array if isinstance(obj, Tensor) else obj)
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
            return tensor(arr) if node["tensor"] else arr
        if "__list__" in node:
            items = [_unflatten(v, arrays) for v in node["__list__"]]
            return tuple(items) if node["tuple"] else items
    return node


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` (a ``.npz`` file) atomically."""
    arrays = {}
    tree = _flatten(obj, "", arrays)
    arrays[_META] = numpy.frombuffer(json.dumps({"version": 1, "tree": tree}).encode(), dtype=numpy.uint8)
    buf = io.BytesIO()
    numpy.savez(buf, **arrays)
    _atomic_write(os.fspath(path), [buf.getvalue()])


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


# ---------------------------------------------------------------- safetensors
# The format Hugging Face checkpoints use: an 8-byte little-endian header
# length N, N bytes of JSON ({name: {"dtype", "shape", "data_offsets": [begin, end]}}),
# then the raw little-endian tensor bytes, offsets counted from the end of the header.
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U8": "u1", "BOOL": "?"}
_ST_CODES = {numpy.dtype(v): k for k, v in _ST_DTYPES.items()}


def load_safetensors(path, float_dtype=numpy.float32) -> dict:
    """Read a ``.safetensors`` file into NumPy arrays (F32/F16/BF16 become ``float_dtype``)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise CheckpointError(f"{path!r} is too short to be a safetensors file")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise CheckpointError(f"{path!r}: header length {n} runs past the end of the file (truncated?)")
    try:
        header = json.loads(raw[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path!r} is not a safetensors file (bad JSON header: {e})") from None
    body = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if end > len(body):
            raise CheckpointError(f"{path!r}: tensor {name!r} ends at byte {end}, past the data ({len(body)} bytes)")
        dt = info["dtype"]
        if dt == "BF16":  # bfloat16 = the top 16 bits of a float32
            bits = numpy.frombuffer(body[begin:end], dtype="<u2").astype(numpy.uint32) << 16
            arr = bits.view(numpy.float32)
        elif dt in _ST_DTYPES:
            arr = numpy.frombuffer(body[begin:end], dtype=_ST_DTYPES[dt])
        else:
            raise CheckpointError(f"{path!r}: tensor {name!r} has dtype {dt}, which minissl cannot read")
        arr = arr.reshape(info["shape"])
        if arr.dtype.kind == "f":
            arr = arr.astype(float_dtype)
        out[name] = arr.copy() if not arr.flags.writeable else arr
    return out


def save_safetensors(tensors: dict, path, dtype: str = "F32") -> None:
    """Write arrays as a ``.safetensors`` file (floats stored as ``dtype``: F32, F16 or BF16); atomic."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        a = backend.to_numpy(t.array if isinstance(t, Tensor) else t)
        if a.dtype.kind == "f":
            if dtype == "BF16":
                bits = numpy.ascontiguousarray(a, dtype="<f4").view(numpy.uint32)
                # round to nearest even, as torch does when casting to bfloat16
                b = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
                code = "BF16"
            else:
                code = dtype
                b = numpy.ascontiguousarray(a, dtype=_ST_DTYPES[code]).tobytes()
        else:
            code = _ST_CODES.get(a.dtype)
            if code is None:
                raise TypeError(f"save_safetensors: {name!r} has dtype {a.dtype}, which safetensors cannot hold")
            b = numpy.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # the spec pads the header to a multiple of 8 bytes
    _atomic_write(os.fspath(path), [len(h).to_bytes(8, "little"), h, *chunks])


def _atomic_write(path, parts):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            for p in parts:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
