"""safetensors, the format Hugging Face checkpoints use: read and write it, check it like the reference library.

An 8-byte little-endian header length N, N bytes of JSON ({name: {"dtype", "shape",
"data_offsets": [begin, end]}}, plus an optional "__metadata__": {str: str}), then the raw
little-endian tensor bytes, offsets counted from the end of the header. The reader checks
the header as the reference ``safetensors`` library does: the tensors must tile the data
region exactly, in some order, each with exactly prod(shape) * itemsize bytes. Nothing is
allocated before the sizes the header claims are checked against the file.
"""
from __future__ import annotations

import json
import math
import os

import numpy

from .io import CheckpointError, _BadTree, _host_array, write_atomic
from .tensor import tensor

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_ST_CODES = {numpy.dtype(v): k for k, v in _ST_DTYPES.items() if k != "BF16"}
_ST_MAX_HEADER = 100_000_000  # the reference library's bound: a header is never bigger than 100 MB


class SafetensorsError(CheckpointError):
    """The one error the safetensors reader raises: the file is not a valid safetensors file."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is a Python int; not a size


def _reject_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise _BadTree(f"tensor {dup!r} appears twice in the header")
    return dict(pairs)


def _read_st_header(path: str):
    """``(header, data_start, data_size)`` of a safetensors file, every entry validated.
    Reads only the 8-byte length and the header; the data is never touched."""
    err = lambda msg: SafetensorsError(f"safetensors file {path!r}: {msg}")  # noqa: E731
    size = os.path.getsize(path)
    if size < 8:
        raise err(f"too short to be a safetensors file ({size} bytes; the header length alone takes 8)")
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > _ST_MAX_HEADER:
            raise err(f"header length {n} is over the format's bound of {_ST_MAX_HEADER} bytes (not a safetensors "
                      "file?)")
        if n > size - 8:
            raise err(f"header length {n} runs past the end of the file ({size} bytes; truncated?)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError:
        raise err("the header is not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise err(f"the header is not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None
    except _BadTree as e:
        raise err(str(e)) from None
    if not isinstance(header, dict):
        raise err(f"the header is a JSON {type(header).__name__}, not a JSON object")
    data_size = size - 8 - n
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        bad = next((k for k, v in meta.items() if not isinstance(v, str)), None) if isinstance(meta, dict) else None
        raise err(f"__metadata__ must map str to str" + (f"; {bad!r} is not a str" if bad is not None else ""))
    spans = []
    for name, info in header.items():
        where = f"tensor {name!r}"
        if not isinstance(info, dict):
            raise err(f"{where} is a {type(info).__name__}, not an object with dtype, shape and data_offsets")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
        if missing:
            raise err(f"{where} has no {', '.join(missing)}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _ST_DTYPES:
            raise err(f"{where} has dtype {dtype!r}, which minissl cannot read (it reads {', '.join(_ST_DTYPES)})")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape) or len(shape) > 32:
            raise err(f"{where} has shape {shape!r}; a shape is a list of at most 32 non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise err(f"{where} has data_offsets {offsets!r}; they must be [begin, end] with "
                      f"0 <= begin <= end <= {data_size} (the data size)")
        itemsize = numpy.dtype(_ST_DTYPES[dtype]).itemsize
        nbytes = math.prod(shape) * itemsize
        if math.prod(max(d, 1) for d in shape) * itemsize >= 2 ** 63:  # NumPy cannot even describe it
            raise err(f"{where} has shape {shape}, too large for any array")
        if offsets[1] - offsets[0] != nbytes:
            raise err(f"{where} has shape {shape} of {dtype}, which is {nbytes} bytes, but its data_offsets "
                      f"{offsets} span {offsets[1] - offsets[0]} bytes")
        spans.append((offsets[0], offsets[1], name))
    end = 0  # sorted by offsets, each tensor must start where the previous one ended
    for begin, stop, name in sorted(spans):
        if begin != end:
            what = "overlaps the tensor before it" if begin < end else f"leaves a gap of {begin - end} bytes"
            raise err(f"tensor {name!r} starts at byte {begin} and {what} (which ends at byte {end})")
        end = stop
    if end != data_size:
        raise err(f"the data region is not covered: the tensors end at byte {end}, the data has {data_size} "
                  "bytes (truncated, or extra bytes appended)")
    return header, meta or {}, 8 + n, data_size


def read_safetensors(path, float_dtype=numpy.float32) -> dict:
    """A ``.safetensors`` file -> ``{name: numpy.ndarray}`` (host arrays, in file order).

    Floating-point tensors become ``float_dtype`` (``None`` keeps F16/F32/F64 as
    stored; BF16, which NumPy lacks, always becomes float32). The header is checked
    in full first (:class:`SafetensorsError` names the file, the tensor and the
    problem); the data is then memory-mapped, not read whole, and each returned
    array is its own copy, so nothing is allocated beyond the tensors asked for."""
    path = os.fspath(path)
    header, _meta, start, data_size = _read_st_header(path)
    out = {}
    body = numpy.memmap(path, dtype=numpy.uint8, mode="r", offset=start, shape=(data_size,)) if data_size else \
        numpy.zeros(0, numpy.uint8)
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = body[begin:end].view(_ST_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":  # bfloat16 = the top 16 bits of a float32
            arr = (raw.astype(numpy.uint32) << 16).view(numpy.float32)
        else:
            arr = raw.copy()  # our own memory: never hand out a view of the map
        if arr.dtype.kind == "f" and float_dtype is not None and arr.dtype != float_dtype:
            arr = arr.astype(float_dtype)
        out[name] = arr.reshape(info["shape"])
    del body  # unmaps the file (the copies above do not refer to it)
    return out


def read_safetensors_header(path) -> dict:
    """``{name: (dtype code, shape)}`` from the validated header alone: no tensor is read,
    so a loader can compare shapes with a config before allocating anything."""
    header, _meta, _start, _size = _read_st_header(os.fspath(path))
    return {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items()}


def read_safetensors_metadata(path) -> dict:
    """The file's ``__metadata__`` (str -> str; ``{}`` when absent)."""
    return _read_st_header(os.fspath(path))[1]


def load_safetensors(path) -> dict:
    """``{name: Tensor}`` from a ``.safetensors`` file (like ``safetensors.torch.load_file``).
    F16/BF16 become float32 (minissl's default float dtype); see :func:`read_safetensors`."""
    return {k: tensor(v) for k, v in read_safetensors(path).items()}


def save_safetensors(tensors: dict, path, metadata: dict | None = None, dtype: str = "F32") -> None:
    """Write ``{name: Tensor or array}`` as a ``.safetensors`` file, atomically.
    Floats are stored as ``dtype`` (F32, F16 or BF16); ``metadata`` is a str -> str dict
    kept in the header (Hugging Face writes ``{"format": "pt"}``)."""
    if dtype not in ("F32", "F16", "BF16"):
        raise ValueError(f"save_safetensors: dtype must be 'F32', 'F16' or 'BF16', got {dtype!r}")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        bad = [k for k, v in metadata.items() if not isinstance(v, str)] if isinstance(metadata, dict) else []
        raise TypeError(f"save_safetensors: metadata must map str to str" +
                        (f"; {bad[0]!r} is {type(metadata[bad[0]]).__name__}" if bad else ""))
    header = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save_safetensors: the name '__metadata__' is reserved by the format; rename the tensor")
        a = _host_array(t)
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
            code = _ST_CODES.get(a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype)
            if code is None:
                raise TypeError(f"save_safetensors: tensor {name!r} has dtype {a.dtype}, which safetensors cannot hold")
            b = numpy.ascontiguousarray(a, dtype=_ST_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # the spec pads the header to a multiple of 8 bytes
    write_atomic(path, [len(h).to_bytes(8, "little"), h, *chunks])
