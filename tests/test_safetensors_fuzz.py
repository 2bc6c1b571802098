"""Hypothesis fuzz of the safetensors reader: random bytes, and valid files with one
part of the header or the length mutated. Whatever the input, the reader either
returns arrays whose bytes all come from the file's data region (total ``nbytes`` at
most the file size) or raises its own :class:`SafetensorsError` -- never another
exception. Where the reference ``safetensors`` package is installed, a file we accept
must be one it accepts too (we are at least as strict), with the same values."""
import json
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minissl.safetensors import SafetensorsError, read_safetensors, save_safetensors

try:
    from safetensors.numpy import load as reference_load
except ImportError:  # pragma: no cover - the comparison is skipped without it
    reference_load = None

DTYPES = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64",
          "F8_E4M3", "X", "", "f32"]
SCALARS = st.none() | st.booleans() | st.integers(-2 ** 66, 2 ** 66) | st.floats() | st.text(max_size=5)
JSON_VALUES = st.recursive(SCALARS,
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                           max_leaves=8)


def check(raw: bytes, tmp_path):
    p = tmp_path / "f.safetensors"
    p.write_bytes(raw)
    try:
        out = read_safetensors(p, float_dtype=None)
    except SafetensorsError as e:
        assert str(p) in str(e)
        return None
    (n,) = struct.unpack("<Q", raw[:8])
    widened = any(v.get("dtype") == "BF16" for k, v in json.loads(raw[8:8 + n]).items() if k != "__metadata__")
    # every returned byte comes from the file; BF16 (absent from NumPy) comes back as float32: twice its bytes
    assert sum(a.nbytes for a in out.values()) <= len(raw) * (2 if widened else 1)
    if reference_load is not None:
        ref = reference_load(raw)  # must not raise: anything we accept is a valid file
        assert set(ref) == set(out)
        for k, v in ref.items():
            assert v.shape == out[k].shape
            if v.dtype != np.dtype("V2"):  # numpy has no bfloat16; safetensors hands back raw bytes
                assert v.tobytes() == out[k].tobytes(), k
    return out


_SCRATCH = {}


def scratch(factory):
    """One folder per test run, reused by every example (a new folder each would cost more than the read)."""
    if id(factory) not in _SCRATCH:
        _SCRATCH[id(factory)] = factory.mktemp("fuzz")
    return _SCRATCH[id(factory)]


@st.composite
def valid_files(draw):
    """A valid file from the writer: 0-3 tensors of random dtypes and shapes."""
    n = draw(st.integers(0, 3))
    tensors = {}
    for i in range(n):
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
        dt = draw(st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_]))
        tensors[f"t{i}"] = (np.arange(int(np.prod(shape))) % 3).astype(dt).reshape(shape)
    return tensors


@settings(max_examples=60)
@given(st.binary(max_size=64))
def test_random_bytes(tmp_path_factory, raw):
    check(raw, scratch(tmp_path_factory))


@settings(max_examples=60)
@given(st.binary(max_size=40), st.integers(0, 2 ** 64 - 1) | st.integers(0, 80))
def test_random_length_and_header_bytes(tmp_path_factory, body, n):
    check(struct.pack("<Q", n) + body, scratch(tmp_path_factory))


@settings(max_examples=100)
@given(valid_files(), st.data())
def test_mutated_valid_files(tmp_path_factory, tensors, data):
    d = scratch(tmp_path_factory)
    save_safetensors(tensors, d / "ok.safetensors", dtype="F32")
    raw = (d / "ok.safetensors").read_bytes()
    out = check(raw, d)
    assert set(out) == set(tensors)                      # the unmutated file reads back whole
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data_bytes = raw[8 + n:]
    how = data.draw(st.sampled_from(["field", "entry", "metadata", "truncate", "append", "flip", "length"]))
    if how == "field" and tensors:
        name = data.draw(st.sampled_from(sorted(tensors)))
        key = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header[name][key] = data.draw(JSON_VALUES | st.sampled_from(DTYPES)
                                      | st.lists(st.integers(-3, 40), max_size=4))
    elif how == "entry":
        header[data.draw(st.text(max_size=3))] = data.draw(JSON_VALUES)
    elif how == "metadata":
        header["__metadata__"] = data.draw(JSON_VALUES)
    if how in ("field", "entry", "metadata"):
        h = json.dumps(header).encode()
        raw = struct.pack("<Q", len(h)) + h + data_bytes
    elif how == "truncate":
        raw = raw[:data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "append":
        raw = raw + data.draw(st.binary(min_size=1, max_size=16))
    elif how == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1:]
    else:
        raw = struct.pack("<Q", data.draw(st.integers(0, 2 ** 64 - 1))) + raw[8:]
    check(raw, d)
