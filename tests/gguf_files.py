"""Small GGUF files built byte by byte for the reader's tests, from the format's definition.

Independent of minissl's reader and of the ``gguf`` package, so the bad-file and fuzz
tests run without it. :func:`build` records where every header field sits
(``fields[name] = (byte offset, struct format)``) so a test can change exactly one
field with :func:`with_field`. Field names: ``version``, ``n_tensors``, ``n_kv``,
``kv{i}.key.len``, ``kv{i}.type``, ``kv{i}.value`` (``.len`` for strings,
``.item_type`` / ``.count`` for arrays), ``t{i}.name.len``, ``t{i}.n_dims``,
``t{i}.dim{j}``, ``t{i}.type``, ``t{i}.offset``.
"""
import struct

import numpy as np

from minissl.models.llama import SMOLLM2_INSTALL, find_smollm2  # noqa: E402,F401  (the tests' real file)

SCALAR_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
# GGML type id -> (name, weights per block, bytes per block), from ggml-common.h
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
         7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 12: ("Q4_K", 256, 144), 14: ("Q6_K", 256, 210),
         16: ("IQ2_XXS", 256, 66), 24: ("I8", 1, 1), 26: ("I32", 1, 4), 28: ("F64", 1, 8), 30: ("BF16", 1, 2)}


class _Out:
    def __init__(self):
        self.b, self.fields = bytearray(), {}

    def put(self, fmt, value, field=None):
        if field is not None:
            self.fields[field] = (len(self.b), fmt)
        self.b += struct.pack("<" + fmt, value)

    def string(self, s, field):
        raw = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        self.put("Q", len(raw), field + ".len")
        self.b += raw

    def value(self, vtype, v, field):
        if vtype == STRING:
            self.string(v, field)
        elif vtype == ARRAY:
            item, items = v
            self.put("I", item, field + ".item_type")
            self.put("Q", len(items), field + ".count")
            for i, x in enumerate(items):
                self.value(item, x, f"{field}[{i}]")
        else:
            self.put(SCALAR_FMT[vtype], v, field)


def nbytes(type_id, dims):
    _name, block, size = TYPES[type_id]
    return int(np.prod(dims, dtype=np.int64)) // block * size


def build(kvs=(), tensors=(), alignment=32, version=3):
    """``kvs``: (key, value type, value) with arrays as (item type, [items]); ``tensors``:
    (name, dims in GGML order, GGML type id, data bytes). Returns (bytes, fields)."""
    o = _Out()
    o.b += b"GGUF"
    o.put("I", version, "version")
    o.put("Q", len(tensors), "n_tensors")
    o.put("Q", len(kvs), "n_kv")
    for i, (key, vtype, v) in enumerate(kvs):
        o.string(key, f"kv{i}.key")
        o.put("I", vtype, f"kv{i}.type")
        o.value(vtype, v, f"kv{i}.value")
    offset, placed = 0, []
    for i, (name, dims, ttype, data) in enumerate(tensors):
        o.string(name, f"t{i}.name")
        o.put("I", len(dims), f"t{i}.n_dims")
        for j, d in enumerate(dims):
            o.put("Q", d, f"t{i}.dim{j}")
        o.put("I", ttype, f"t{i}.type")
        o.put("Q", offset, f"t{i}.offset")
        placed.append((offset, data))
        offset += -(-len(data) // alignment) * alignment
    o.b += bytes(-len(o.b) % alignment)
    start = len(o.b)
    for off, data in placed:
        o.b += bytes(start + off - len(o.b)) + data
    return bytes(o.b), o.fields


def with_field(raw, fields, name, value):
    """``raw`` with one recorded field replaced (the value wraps to the field's width)."""
    at, fmt = fields[name]
    width = struct.calcsize("<" + fmt)
    packed = (int(value) % (1 << 8 * width)).to_bytes(width, "little") if fmt not in "fd" else \
        struct.pack("<" + fmt, value)
    return raw[:at] + packed + raw[at + width:]


def random_blocks(type_id, n_blocks, seed=0):
    """``n_blocks`` blocks of random codes with finite, modest float16 scales at the
    format's scale positions (random bytes there could be inf or NaN)."""
    name, _block, size = TYPES[type_id]
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    scales = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q4_K": [0, 2],
              "Q6_K": [208]}.get(name, [])
    for at in scales:
        b[:, at:at + 2] = rng.uniform(-0.05, 0.05, (n_blocks, 1)).astype("<f2").view(np.uint8)
    return b


SAMPLE_KVS = [
    ("general.architecture", STRING, "llama"), ("u8", 0, 255), ("i8", 1, -128), ("u16", 2, 65535),
    ("i16", 3, -32768), ("u32", 4, 2 ** 32 - 1), ("i32", 5, -2 ** 31), ("f32", 6, 0.1), ("yes", 7, 1),
    ("u64", 10, 2 ** 64 - 1), ("i64", 11, -2 ** 63), ("f64", 12, 0.1), ("text", STRING, "héllo 世界 🙂"),
    ("tokens", ARRAY, (STRING, ["a", "", "é", "<0x0A>"])), ("ids", ARRAY, (5, [1, -2, 3])),
    ("flags", ARRAY, (7, [1, 0])), ("nested", ARRAY, (ARRAY, [(0, [1, 2]), (STRING, ["x"])])),
]


def sample_file(alignment=32, version=3):
    """A valid file with every value type and one small tensor of each type in TYPES."""
    tensors = []
    for t, (name, block, _size) in TYPES.items():
        dims = (block if block > 1 else 4, 2)
        data = random_blocks(t, nbytes(t, dims) // TYPES[t][2], seed=t).tobytes()
        if name in ("F32", "F16", "F64", "BF16"):  # finite floats
            dt = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<f4"}[name]
            vals = np.linspace(-2, 2, 8).astype(dt)
            data = (vals.view("<u2")[1::2] if name == "BF16" else vals).tobytes()
        tensors.append((f"w.{name.lower()}", dims, t, data))
    return build(SAMPLE_KVS, tensors, alignment=alignment, version=version)
