"""Hypothesis fuzz of the GGUF reader: random bytes, and valid small files
(built byte by byte from the spec by ``gguf_files``) with one header field -- a count, a
string or array length, a value or item type, a dimension, a tensor type or offset, the
version -- set to another value, or the file truncated, extended or a byte flipped.

Whatever the input:
- only :class:`GGUFError` escapes (its message names the file), from opening and from
  reading each tensor;
- memory stays proportional to the bytes the file really holds, never to a size it
  claims (tracemalloc peak): opening allocates at most ``OPEN_FACTOR`` x the file size
  (Python's cost of the parsed strings and dicts) plus a constant; reading a tensor at
  most ``READ_FACTOR`` x the float32 result, which is itself at most 8 x stored bytes;
- every tensor accepted lies inside the file, after the header, without overlap.
"""
import pathlib
import struct
import sys
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from gguf_files import (ARRAY, SAMPLE_KVS, STRING, TYPES, build, nbytes, random_blocks,  # noqa: E402
                        sample_file, with_field)

from minissl.gguf import GGUFError, read_gguf  # noqa: E402

OPEN_FACTOR, READ_FACTOR, SLACK = 16, 4, 32 * 1024
INTERESTING = [0, 1, 2, 3, 7, 8, 9, 12, 13, 31, 32, 33, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 63 - 1, 2 ** 63,
               2 ** 64 - 32, 2 ** 64 - 1]
_SCRATCH = {}


def scratch(factory):
    """One folder per test run, reused by every example."""
    if id(factory) not in _SCRATCH:
        _SCRATCH[id(factory)] = factory.mktemp("gguf_fuzz")
    return _SCRATCH[id(factory)]


def _peak_since(base):
    return tracemalloc.get_traced_memory()[1] - base


def check(raw: bytes, folder):
    """Open and read everything; assert the promises above. Returns the file, or None if refused."""
    p = folder / "f.gguf"
    p.write_bytes(raw)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        try:
            f = read_gguf(p)
        except GGUFError as e:
            assert str(e).startswith(f"GGUF file {str(p)!r}: ") and "\n" not in str(e)
            f = None
        assert _peak_since(base) <= OPEN_FACTOR * len(raw) + SLACK, (_peak_since(base), len(raw))
        if f is None:
            return None
        spans = sorted((t.offset, t.offset + t.nbytes) for t in f.tensors.values())
        assert all(f.data_start + stop <= len(raw) for _start, stop in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]) if a[0] < a[1] and b[0] < b[1])
        for name, t in f.tensors.items():
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            try:
                x = f.tensor(name)
            except GGUFError as e:
                assert "cannot dequantise" in str(e) and str(p) in str(e)
                continue
            assert x.shape == t.shape and x.nbytes <= 8 * t.nbytes + 8
            assert _peak_since(base) <= READ_FACTOR * x.nbytes + SLACK
        return f
    finally:
        if started:
            tracemalloc.stop()


@st.composite
def valid_files(draw):
    """A valid file: some of the sample metadata, then 0-3 tensors of random types and shapes."""
    kvs = draw(st.lists(st.sampled_from(SAMPLE_KVS), max_size=5, unique_by=lambda kv: kv[0]))
    kvs += [(f"x{i}", STRING, s) for i, s in enumerate(draw(st.lists(st.text(max_size=4), max_size=2)))]
    tensors = []
    for i in range(draw(st.integers(0, 3))):
        t = draw(st.sampled_from(sorted(TYPES)))
        block = TYPES[t][1]
        dims = [block * draw(st.integers(0, 2))] + draw(st.lists(st.integers(1, 3), max_size=2))
        n = nbytes(t, dims) // TYPES[t][2]
        tensors.append((f"t{i}", tuple(dims), t, random_blocks(t, n, seed=i).tobytes()))
    alignment = draw(st.sampled_from([8, 32, 64]))
    if alignment != 32:
        kvs.append(("general.alignment", 4, alignment))
    return build(kvs, tensors, alignment=alignment)


@settings(max_examples=80)
@given(st.binary(max_size=96))
def test_random_bytes(tmp_path_factory, raw):
    check(raw, scratch(tmp_path_factory))


@settings(max_examples=80)
@given(st.sampled_from([2, 3]), st.integers(0, 2 ** 64 - 1) | st.sampled_from(INTERESTING),
       st.integers(0, 2 ** 64 - 1) | st.sampled_from(INTERESTING), st.binary(max_size=96))
def test_random_body_after_a_valid_magic_and_version(tmp_path_factory, version, n_tensors, n_kv, body):
    check(b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + body, scratch(tmp_path_factory))


@settings(max_examples=250)
@given(valid_files(), st.data())
def test_mutated_valid_files(tmp_path_factory, built, data):
    raw, fields = built
    d = scratch(tmp_path_factory)
    assert check(raw, d) is not None  # the unmutated file reads back whole
    how = data.draw(st.sampled_from(["field", "field", "field", "two fields", "truncate", "append", "flip"]))
    if how in ("field", "two fields"):
        for _ in range(1 if how == "field" else 2):
            name = data.draw(st.sampled_from(sorted(fields)))
            width = struct.calcsize("<" + fields[name][1])
            value = data.draw(st.sampled_from(INTERESTING) | st.integers(0, 2 ** (8 * width) - 1)
                              | st.integers(-3, 3).map(lambda k, n=name: _current(raw, fields, n) + k))
            raw = with_field(raw, fields, name, value) if fields[name][1] not in "fd" else raw
    elif how == "truncate":
        raw = raw[:data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "append":
        raw = raw + data.draw(st.binary(min_size=1, max_size=64))
    else:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1:]
    check(raw, d)


def _current(raw, fields, name):
    at, fmt = fields[name]
    v = struct.unpack_from("<" + fmt, raw, at)[0]
    return int(v) if fmt not in "fd" else 0


def test_the_sample_file_passes_the_same_checks(tmp_path):
    assert set(check(sample_file()[0], tmp_path).tensors) == {f"w.{v[0].lower()}" for v in TYPES.values()}


def test_a_huge_claimed_array_allocates_nothing(tmp_path):
    raw, fields = build([("a", ARRAY, (12, [0.5] * 4))])
    for count in (2 ** 20, 2 ** 40, 2 ** 64 - 1):
        assert check(with_field(raw, fields, "kv0.value.count", count), tmp_path) is None
