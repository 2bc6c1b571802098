"""Reading GGUF, the file format of llama.cpp / GGML, written from its definition.

A GGUF file is four parts, little-endian throughout::

    header      "GGUF" | version: uint32 | tensor_count: uint64 | kv_count: uint64
    metadata    kv_count times:  key: string | value_type: uint32 | value
    tensor info tensor_count times:  name: string | n_dims: uint32 | dims: uint64[n_dims]
                                     | ggml_type: uint32 | offset: uint64
    (padding to the alignment)
    data        the tensors' bytes, each at ``data_start + offset``

A *string* is ``length: uint64`` then that many bytes of UTF-8; an *array* is
``item_type: uint32 | count: uint64 | items`` (items may be arrays again).
``dims`` list the fastest-varying dimension first (GGML's ``ne[0]`` is the length
of a row), so the NumPy shape is ``dims`` reversed. The alignment is the metadata
value ``general.alignment`` (32 when absent); every offset is a multiple of it.

Quantised tensors are stored as *blocks*: a row of ``ne[0]`` weights is cut
into blocks of 32 (or 256 for the "K" types), and each block keeps a few scales
plus small integer codes. ``dequantize_*`` below undo one format each, as the
formula from the format's definition.

:func:`read_gguf` checks every count, length and offset the file claims against
the bytes it really has *before* allocating anything, and refuses bad files with
one :class:`GGUFError` sentence naming the file and the problem. The data part
is memory-mapped; only the tensors you ask for are copied (and dequantised).
"""
from __future__ import annotations

import math
import mmap
import os
import struct

import numpy as np


class GGUFError(ValueError):
    """The one error :func:`read_gguf` raises: the file is not a GGUF file minissl can read."""


VERSIONS = (2, 3)          # version 1 (2023) used 32-bit counts; nothing current writes it
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4               # GGML_MAX_DIMS
MAX_NESTING = 16           # arrays of arrays of ...: deeper is refused, not recursed into

# value types: id -> (name, NumPy dtype or None for string/array); struct formats beside
VALUE_TYPES = {0: ("UINT8", "<u1"), 1: ("INT8", "<i1"), 2: ("UINT16", "<u2"), 3: ("INT16", "<i2"),
               4: ("UINT32", "<u4"), 5: ("INT32", "<i4"), 6: ("FLOAT32", "<f4"), 7: ("BOOL", "<u1"),
               8: ("STRING", None), 9: ("ARRAY", None), 10: ("UINT64", "<u8"), 11: ("INT64", "<i8"),
               12: ("FLOAT64", "<f8")}
_STRUCT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
_MIN_VALUE_BYTES = {8: 8, 9: 12}  # a string is at least its length; an array at least type + count

# GGML tensor types: id -> (name, weights per block, bytes per block). Sizes come from
# ggml-common.h; a type listed without sizes was removed from GGML and cannot be laid out.
QK, QK_K = 32, 256
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", QK, 2 + 16), 3: ("Q4_1", QK, 2 + 2 + 16),
    4: ("Q4_2", None, None), 5: ("Q4_3", None, None),
    6: ("Q5_0", QK, 2 + 4 + 16), 7: ("Q5_1", QK, 2 + 2 + 4 + 16), 8: ("Q8_0", QK, 2 + 32), 9: ("Q8_1", QK, 4 + 4 + 32),
    10: ("Q2_K", QK_K, 2 + 2 + 16 + 64), 11: ("Q3_K", QK_K, 2 + 64 + 32 + 12), 12: ("Q4_K", QK_K, 2 + 2 + 12 + 128),
    13: ("Q5_K", QK_K, 2 + 2 + 12 + 32 + 128), 14: ("Q6_K", QK_K, 128 + 64 + 16 + 2), 15: ("Q8_K", QK_K, 4 + 256 + 32),
    16: ("IQ2_XXS", QK_K, 2 + 64), 17: ("IQ2_XS", QK_K, 2 + 64 + 8), 18: ("IQ3_XXS", QK_K, 2 + 64 + 32),
    19: ("IQ1_S", QK_K, 2 + 32 + 16), 20: ("IQ4_NL", QK, 2 + 16), 21: ("IQ3_S", QK_K, 2 + 64 + 32 + 8 + 4),
    22: ("IQ2_S", QK_K, 2 + 64 + 16), 23: ("IQ4_XS", QK_K, 2 + 2 + 128 + 4),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", QK_K, 32 + 16 + 8), 30: ("BF16", 1, 2),
    31: ("Q4_0_4_4", None, None), 32: ("Q4_0_4_8", None, None), 33: ("Q4_0_8_8", None, None),
    34: ("TQ1_0", QK_K, 2 + 52), 35: ("TQ2_0", QK_K, 2 + 64),
    36: ("IQ4_NL_4_4", None, None), 37: ("IQ4_NL_4_8", None, None), 38: ("IQ4_NL_8_8", None, None),
    39: ("MXFP4", QK, 1 + 16),
}


# ------------------------------------------------------------------ dequantisation
# Each function takes the blocks of one tensor as a (n_blocks, bytes_per_block) uint8
# array and returns the weights as (n_blocks, weights_per_block) float32.
def _f16(raw: np.ndarray) -> np.ndarray:
    """Bytes -> float16 numbers -> float32, one per block (shape (n, 1)) when raw is (n, 2)."""
    return np.ascontiguousarray(raw).view("<f2").astype(np.float32)


def dequantize_q8_0(b: np.ndarray) -> np.ndarray:
    """Q8_0, 34 bytes per 32 weights: a float16 scale ``d``, then 32 signed bytes ``q``.
    ``w[i] = d * q[i]`` -- the simplest block format: 8-bit codes with one scale each 32."""
    d, q = _f16(b[:, 0:2]), b[:, 2:34].view(np.int8)
    return d * q


def dequantize_q4_0(b: np.ndarray) -> np.ndarray:
    """Q4_0, 18 bytes per 32 weights: a float16 scale ``d``, then 16 bytes of 4-bit codes.
    Byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high
    nibble. Codes run 0..15 around a zero of 8: ``w = d * (q - 8)``."""
    d, qs = _f16(b[:, 0:2]), b[:, 2:18]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return d * q


def dequantize_q4_1(b: np.ndarray) -> np.ndarray:
    """Q4_1, 20 bytes per 32 weights: float16 scale ``d`` and float16 minimum ``m``, then
    16 bytes of 4-bit codes in Q4_0's nibble order. An offset instead of a fixed zero:
    ``w = d * q + m``, so a block of all-positive weights uses all 16 codes."""
    d, m, qs = _f16(b[:, 0:2]), _f16(b[:, 2:4]), b[:, 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
    return d * q + m


def _fifth_bits(qh_bytes: np.ndarray) -> np.ndarray:
    """Q5's 32 high bits (a little-endian uint32) -> (n, 32) values 0 or 16: bit ``i`` is
    the fifth bit of weight ``i``."""
    qh = np.ascontiguousarray(qh_bytes).view("<u4")                 # (n, 1)
    return (((qh >> np.arange(32, dtype=np.uint32)) & 1) << 4).astype(np.uint8)


def dequantize_q5_0(b: np.ndarray) -> np.ndarray:
    """Q5_0, 22 bytes per 32 weights: float16 ``d``, 4 bytes of fifth bits, 16 bytes of
    low nibbles (Q4_0's order). ``q = low | fifth << 4`` runs 0..31 around 16:
    ``w = d * (q - 16)``."""
    d, high, qs = _f16(b[:, 0:2]), _fifth_bits(b[:, 2:6]), b[:, 6:22]
    q = (np.concatenate([qs & 0x0F, qs >> 4], axis=1) | high).astype(np.int8) - 16
    return d * q


def dequantize_q5_1(b: np.ndarray) -> np.ndarray:
    """Q5_1, 24 bytes per 32 weights: float16 ``d`` and ``m``, fifth bits, low nibbles
    as Q5_0; ``w = d * q + m`` with ``q`` in 0..31."""
    d, m, high, qs = _f16(b[:, 0:2]), _f16(b[:, 2:4]), _fifth_bits(b[:, 4:8]), b[:, 8:24]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1) | high
    return d * q + m


def _k_scales_mins(s: np.ndarray):
    """The 12 packed bytes of Q4_K/Q5_K -> 8 six-bit scales and 8 six-bit mins per block.
    Sub-blocks 0-3: scale = low 6 bits of byte j, min = low 6 bits of byte j+4.
    Sub-blocks 4-7: the low 4 bits sit in byte j+8 (scale low nibble, min high nibble)
    and the top 2 bits are the spare top bits of bytes j-4 (scale) and j (min)."""
    a, b, c = s[:, 0:4], s[:, 4:8], s[:, 8:12]
    scales = np.concatenate([a & 63, (c & 0x0F) | ((a >> 6) << 4)], axis=1)
    mins = np.concatenate([b & 63, (c >> 4) | ((b >> 6) << 4)], axis=1)
    return scales.astype(np.float32), mins.astype(np.float32)


def dequantize_q4_k(b: np.ndarray) -> np.ndarray:
    """Q4_K, 144 bytes per 256 weights (a "super-block" of 8 sub-blocks of 32): float16
    ``d`` and ``dmin``, 12 bytes of six-bit sub-block scales ``sc`` and mins ``mn``
    (:func:`_k_scales_mins`), 128 bytes of 4-bit codes. The codes come in 4 runs of 32
    bytes; run ``r`` holds sub-block ``2r`` in its low nibbles and ``2r + 1`` in its high
    nibbles. Two levels of scale: ``w = (d * sc) * q - (dmin * mn)``."""
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k_scales_mins(b[:, 4:16])
    runs = b[:, 16:144].reshape(-1, 4, 1, 32)                        # (n, run, nibble, 32)
    q = np.concatenate([runs & 0x0F, runs >> 4], axis=2).reshape(-1, 8, 32)
    return ((d * sc)[:, :, None] * q - (dmin * mn)[:, :, None]).reshape(-1, QK_K)


def dequantize_q6_k(b: np.ndarray) -> np.ndarray:
    """Q6_K, 210 bytes per 256 weights: 128 bytes of low 4 bits ``ql``, 64 bytes of high 2
    bits ``qh``, 16 signed 8-bit scales (one per 16 weights), float16 ``d`` last.
    Each half of 128 weights uses 64 ``ql`` bytes and 32 ``qh`` bytes: weight ``32k + l``
    (k = 0..3, l = 0..31) has low nibble from ``ql[l + 32 (k % 2)]`` (low nibble for
    k < 2, high for k >= 2) and high bits ``(qh[l] >> 2k) & 3``. ``q`` runs 0..63
    around 32: ``w = (d * scale) * (q - 32)``."""
    ql, qh = b[:, 0:128].reshape(-1, 2, 64), b[:, 128:192].reshape(-1, 2, 32)
    scales, d = b[:, 192:208].view(np.int8).astype(np.float32), _f16(b[:, 208:210])
    low = np.concatenate([ql[:, :, :32] & 0x0F, ql[:, :, 32:] & 0x0F, ql[:, :, :32] >> 4, ql[:, :, 32:] >> 4], axis=2)
    high = np.concatenate([(qh >> s) & 3 for s in (0, 2, 4, 6)], axis=2)  # (n, half, 128)
    q = (low | (high << 4)).astype(np.int8) - 32
    return ((d * scales)[:, :, None] * q.reshape(-1, 16, 16)).reshape(-1, QK_K)


def _plain(dtype):
    def convert(b):
        with np.errstate(over="ignore"):  # an F64 beyond float32's range becomes inf, as in torch
            return np.ascontiguousarray(b).view(dtype).astype(np.float32)
    return convert


def _bf16(b: np.ndarray) -> np.ndarray:
    """BF16 is the top 16 bits of a float32: shift them back into place."""
    return (np.ascontiguousarray(b).view("<u2").astype(np.uint32) << 16).view(np.float32)


DEQUANTIZE = {"F32": _plain("<f4"), "F16": _plain("<f2"), "BF16": _bf16, "F64": _plain("<f8"),
              "Q8_0": dequantize_q8_0, "Q4_0": dequantize_q4_0, "Q4_1": dequantize_q4_1,
              "Q5_0": dequantize_q5_0, "Q5_1": dequantize_q5_1, "Q4_K": dequantize_q4_k, "Q6_K": dequantize_q6_k}
_BY_NAME = {v[0]: v for v in GGML_TYPES.values()}
INTEGER_TYPES = {"I8": "<i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}  # returned as integers, not floats


# ------------------------------------------------------------------ the file
class GGUFTensor:
    """One entry of the tensor directory: where a tensor's bytes are and what they mean."""
    __slots__ = ("name", "dims", "type", "offset", "nbytes")

    def __init__(self, name, dims, type_name, offset, nbytes):
        self.name, self.dims, self.type, self.offset, self.nbytes = name, dims, type_name, offset, nbytes

    @property
    def shape(self) -> tuple:
        """NumPy's (and PyTorch's) shape: GGML's ``ne`` reversed."""
        return tuple(reversed(self.dims))

    def __repr__(self):
        return f"GGUFTensor({self.name!r}, shape={self.shape}, type={self.type}, offset={self.offset})"


class _Cursor:
    """Reads the header fields one by one, checking each length against the bytes left."""

    def __init__(self, buf, size, path):
        self.buf, self.size, self.path, self.pos = buf, size, path, 0

    def fail(self, msg):
        return GGUFError(f"GGUF file {self.path!r}: {msg}")

    def need(self, n, what):
        if n > self.size - self.pos:
            raise self.fail(f"{what} needs {n} bytes at byte {self.pos} but the file ends at byte {self.size} "
                            "(truncated or corrupt)")

    def unpack(self, fmt, what):
        n = struct.calcsize(fmt)
        self.need(n, what)
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v[0] if len(v) == 1 else v

    def string(self, what):
        n = self.unpack("<Q", f"the length of {what}")
        self.need(n, f"{what} (a string of {n} bytes)")
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8 text") from None

    def value(self, vtype, what, depth=0):
        if vtype not in VALUE_TYPES:
            raise self.fail(f"{what} has value type {vtype}, which is no GGUF type (0..12)")
        name, dtype = VALUE_TYPES[vtype]
        if name == "STRING":
            return self.string(what)
        if name == "ARRAY":
            return self.array(what, depth)
        v = self.unpack(_STRUCT[vtype], what)
        if name == "BOOL":
            if v not in (0, 1):
                raise self.fail(f"{what} is a bool stored as {v} (only 0 and 1 are valid)")
            return bool(v)
        return float(v) if name.startswith("FLOAT") else int(v)

    def array(self, what, depth):
        if depth >= MAX_NESTING:
            raise self.fail(f"{what} nests arrays more than {MAX_NESTING} deep")
        item, count = self.unpack("<IQ", f"the item type and length of {what}")
        if item not in VALUE_TYPES:
            raise self.fail(f"{what} is an array of value type {item}, which is no GGUF type (0..12)")
        name, dtype = VALUE_TYPES[item]
        least = np.dtype(dtype).itemsize if dtype else _MIN_VALUE_BYTES[item]
        if count > (self.size - self.pos) // least:  # before allocating anything for it
            raise self.fail(f"{what} claims {count} items of {name} (at least {least} bytes each) but only "
                            f"{self.size - self.pos} bytes are left in the file")
        if dtype is None:
            return [self.value(item, f"{what}[{i}]", depth + 1) for i in range(count)]
        arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
        self.pos += arr.nbytes
        if name == "BOOL":
            if arr.size and arr.max() > 1:
                raise self.fail(f"{what} is a bool array holding {int(arr.max())} (only 0 and 1 are valid)")
            arr = arr.astype(bool)
        return arr


class GGUFFile:
    """An opened, fully validated GGUF file.

    - ``metadata``: ``{key: value}`` -- ints, floats, bools, strs; arrays of numbers as
      NumPy arrays, arrays of strings (or of arrays) as lists.
    - ``value_types``: ``{key: "UINT32" | "STRING" | "ARRAY[FLOAT32]" | ...}``.
    - ``tensors``: ``{name: GGUFTensor}`` in file order (shape, GGML type, offset).
    - ``tensor(name)``: the weights as a new float32 array (dequantised if needed).
    - ``raw(name)``: the stored bytes, a read-only view of the memory map (no copy).
    """

    def __init__(self, path, version, metadata, value_types, tensors, alignment, data_start, buf):
        self.path, self.version, self.metadata, self.value_types = path, version, metadata, value_types
        self.tensors, self.alignment, self.data_start, self._buf = tensors, alignment, data_start, buf

    def __repr__(self):
        return (f"GGUFFile({self.path!r}, version={self.version}, {len(self.metadata)} metadata keys, "
                f"{len(self.tensors)} tensors)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Drop this object's hold on the memory map (arrays from ``raw`` keep it alive)."""
        self._buf = None

    def _info(self, name) -> GGUFTensor:
        if name not in self.tensors:
            raise KeyError(f"GGUF file {self.path!r} has no tensor {name!r}")
        if self._buf is None:
            raise ValueError(f"GGUF file {self.path!r} is closed; open it again with read_gguf")
        return self.tensors[name]

    def raw(self, name) -> np.ndarray:
        """The tensor's bytes exactly as stored (uint8, read-only, no copy)."""
        t = self._info(name)
        start = self.data_start + t.offset
        return self._buf[start:start + t.nbytes]

    def tensor(self, name) -> np.ndarray:
        """The tensor as a new float32 array of shape ``GGUFTensor.shape`` (I8..I64 keep
        their integer dtype). Raises :class:`GGUFError` naming a type minissl cannot decode."""
        t = self._info(name)
        raw = self.raw(name)
        if t.type in INTEGER_TYPES:
            return raw.view(INTEGER_TYPES[t.type]).reshape(t.shape).copy()
        if t.type not in DEQUANTIZE:
            raise GGUFError(f"GGUF file {self.path!r}: tensor {name!r} is stored as {t.type}, which minissl cannot "
                            f"dequantise (it reads {', '.join(list(DEQUANTIZE) + list(INTEGER_TYPES))})")
        out = DEQUANTIZE[t.type](raw.reshape(-1, _BY_NAME[t.type][2]))
        return out.reshape(t.shape)


def _fail(path, msg):
    return GGUFError(f"GGUF file {path!r}: {msg}")


def read_gguf(path) -> GGUFFile:
    """Open a ``.gguf`` file: parse and check its header, metadata and tensor directory,
    and memory-map its data. Nothing is allocated for a count, length or offset before it
    is checked against the file's size; any problem is one :class:`GGUFError`."""
    path = os.fspath(path)
    size = os.path.getsize(path)  # a missing file is FileNotFoundError, as for open()
    with open(path, "rb") as f:
        if size < 4 or f.read(4) != b"GGUF":
            f.seek(0)
            raise _fail(path, f"does not start with the magic bytes b'GGUF' (found {f.read(4)!r}); not a GGUF file")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    c = _Cursor(buf, size, path)
    c.pos = 4
    version = c.unpack("<I", "the version")
    if version not in VERSIONS:
        hint = " (a big-endian file?)" if version >= 1 << 16 else ""
        raise c.fail(f"has GGUF version {version}{hint}; minissl reads versions {VERSIONS[0]} and {VERSIONS[1]}")
    n_tensors, n_kv = c.unpack("<QQ", "the tensor and metadata counts")
    # each key/value takes >= 13 bytes (key length, type, a 1-byte value); each tensor entry >= 24
    if n_kv > (size - c.pos) // 13:
        raise c.fail(f"claims {n_kv} metadata entries but has only {size - c.pos} bytes left (13 is the least "
                     "one entry takes)")
    metadata, value_types = {}, {}
    for i in range(n_kv):
        key = c.string(f"metadata key {i}")
        if key in metadata:
            raise c.fail(f"metadata key {key!r} appears twice")
        vtype = c.unpack("<I", f"the type of metadata {key!r}")
        start = c.pos
        metadata[key] = c.value(vtype, f"metadata {key!r}")
        value_types[key] = _type_name(buf, start, vtype)
    if n_tensors > (size - c.pos) // 24:
        raise c.fail(f"claims {n_tensors} tensors but has only {size - c.pos} bytes left (24 is the least one "
                     "tensor entry takes)")
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if "general.alignment" in metadata and value_types["general.alignment"] != "UINT32":
        raise c.fail(f"general.alignment is a {value_types['general.alignment']}, the format says UINT32")
    if alignment <= 0 or alignment & (alignment - 1):
        raise c.fail(f"general.alignment is {alignment}, not a power of two")
    entries = []
    for i in range(n_tensors):
        name = c.string(f"the name of tensor {i}")
        where = f"tensor {name!r}"
        n_dims = c.unpack("<I", f"the number of dimensions of {where}")
        if n_dims > MAX_DIMS:
            raise c.fail(f"{where} has {n_dims} dimensions; GGML allows at most {MAX_DIMS}")
        dims = c.unpack(f"<{n_dims}Q", f"the dimensions of {where}") if n_dims else ()
        dims = tuple(dims) if isinstance(dims, tuple) else (dims,)
        ggml_type, offset = c.unpack("<IQ", f"the type and offset of {where}")
        entries.append((name, dims, ggml_type, offset))
    data_start = -(-c.pos // alignment) * alignment
    data_size = size - data_start
    if entries and data_size < 0:
        raise c.fail(f"the data section should start at byte {data_start} but the file ends at byte {size} "
                     "(truncated)")
    tensors, spans = {}, []
    for name, dims, ggml_type, offset in entries:
        where = f"tensor {name!r}"
        if name in tensors:
            raise c.fail(f"{where} appears twice in the tensor directory")
        if ggml_type not in GGML_TYPES:
            raise c.fail(f"{where} has GGML type {ggml_type}, which is no type minissl knows")
        type_name, block, type_size = GGML_TYPES[ggml_type]
        if block is None:
            raise c.fail(f"{where} is stored as {type_name}, a type GGML has removed; minissl cannot lay it out")
        count = math.prod(dims)
        if math.prod(max(d, 1) for d in dims) >= 2 ** 63:
            raise c.fail(f"{where} has dimensions {list(dims)}, whose product overflows a 64-bit count")
        row = dims[0] if dims else 1
        if row % block:
            raise c.fail(f"{where} has rows of {row} weights, not a multiple of {type_name}'s block of {block}")
        nbytes = count // block * type_size
        if offset % alignment:
            raise c.fail(f"{where} starts at data offset {offset}, not a multiple of the alignment {alignment}")
        if offset > data_size or nbytes > data_size - offset:
            raise c.fail(f"{where} ({nbytes} bytes at data offset {offset}) runs past the end of the file, whose "
                         f"data section has {max(data_size, 0)} bytes (truncated?)")
        tensors[name] = GGUFTensor(name, dims, type_name, offset, nbytes)
        spans.append((offset, offset + nbytes, name))
    end, before = 0, None
    for begin, stop, name in sorted(spans):
        if begin < end:
            raise c.fail(f"tensor {name!r} (data bytes {begin}..{stop}) overlaps tensor {before!r}, which ends at "
                         f"{end}")
        if stop > begin:
            end, before = stop, name
    return GGUFFile(path, version, metadata, value_types, tensors, alignment, data_start,
                    np.frombuffer(buf, dtype=np.uint8))


def _type_name(buf, start, vtype) -> str:
    """"UINT32", "STRING", "ARRAY[STRING]", "ARRAY[ARRAY]" ... for ``value_types``."""
    name = VALUE_TYPES[vtype][0]
    if name == "ARRAY":
        return f"ARRAY[{VALUE_TYPES[struct.unpack_from('<I', buf, start)[0]][0]}]"
    return name
