"""Hostile ``.safetensors`` files: every malformed header is refused with the reader's
one error type (:class:`minissl.safetensors.SafetensorsError`), in one sentence naming the file
and the tensor, before anything is allocated. The rules are the reference
``safetensors`` library's: header length bounded and inside the file, a JSON object,
known dtypes, non-negative integer shapes, offsets that tile the data region exactly
(no gap, no overlap, nothing left over) with ``end - begin = prod(shape) · itemsize``,
and ``__metadata__`` a str -> str map."""
import json
import struct

import numpy as np
import pytest

import minissl as ms
from minissl.io import CheckpointError
from minissl.safetensors import SafetensorsError, read_safetensors, save_safetensors

F4 = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)  # four float32s: 16 bytes of data


def raw_file(tmp_path, header, data=F4, name="m.safetensors"):
    """A file with ``header`` written as-is (a dict is dumped to JSON, bytes kept)."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = tmp_path / name
    p.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return p


def t(dtype="F32", shape=(4,), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


# (id, header, data, words the message must contain besides the file name)
BAD = [
    # --- headers a lax reader would accept, reading the wrong bytes
    ("negative begin reads other bytes", {"a": t(shape=[1], offsets=[-4, 16])}, F4, ["'a'", "data_offsets"]),
    ("negative dim was inferred", {"a": t(shape=[-1, 2], offsets=[0, 16])}, F4, ["'a'", "shape"]),
    ("overlap", {"a": t(shape=[4], offsets=[0, 16]), "b": t(shape=[2], offsets=[8, 16])}, F4, ["'b'", "overlap"]),
    ("gap", {"a": t(shape=[1], offsets=[0, 4]), "b": t(shape=[2], offsets=[8, 16])}, F4, ["'b'", "gap"]),
    ("begin > end", {"a": t(shape=[0], offsets=[8, 4])}, F4, ["'a'", "data_offsets"]),
    ("bytes != shape x dtype", {"a": t(shape=[3], offsets=[0, 16])}, F4, ["'a'", "12", "16"]),
    ("data left over", {"a": t(shape=[2], offsets=[0, 8])}, F4, ["not covered", "8"]),
    ("first tensor not at 0", {"a": t(shape=[2], offsets=[8, 16])}, F4, ["'a'", "gap"]),
    # --- headers a lax reader would crash on with a raw traceback
    ("header is a list", [], b"", ["JSON object"]),
    ("header is a number", 3, b"", ["JSON object"]),
    ("entry is a string", {"a": "F32"}, F4, ["'a'", "object"]),
    ("no dtype", {"a": {"shape": [4], "data_offsets": [0, 16]}}, F4, ["'a'", "dtype"]),
    ("no shape", {"a": {"dtype": "F32", "data_offsets": [0, 16]}}, F4, ["'a'", "shape"]),
    ("no offsets", {"a": {"dtype": "F32", "shape": [4]}}, F4, ["'a'", "data_offsets"]),
    ("unknown dtype", {"a": t(dtype="F33")}, F4, ["'a'", "F33"]),
    ("dtype not a string", {"a": t(dtype=["F32"])}, F4, ["'a'", "dtype"]),
    ("shape a string", {"a": {"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}}, F4, ["'a'", "shape"]),
    ("shape of floats", {"a": t(shape=[4.0])}, F4, ["'a'", "shape"]),
    ("shape of bools", {"a": t(shape=[True, 4])}, F4, ["'a'", "shape"]),
    ("shape of nulls", {"a": t(shape=[None])}, F4, ["'a'", "shape"]),
    ("astronomical shape", {"a": t(shape=[0, 2 ** 70])}, F4, ["'a'", "shape"]),
    ("three offsets", {"a": t(offsets=[0, 8, 16])}, F4, ["'a'", "data_offsets"]),
    ("offsets not ints", {"a": t(offsets=["0", "16"])}, F4, ["'a'", "data_offsets"]),
    ("offsets of floats", {"a": t(offsets=[0.0, 16.0])}, F4, ["'a'", "data_offsets"]),
    ("end past the data", {"a": t(shape=[8], offsets=[0, 32])}, F4, ["'a'", "data_offsets"]),
    ("metadata not a dict", {"__metadata__": ["x"]}, b"", ["__metadata__"]),
    ("metadata value not str", {"__metadata__": {"format": 1}}, b"", ["__metadata__", "'format'"]),
    ("duplicate tensor name", b'{"a":' + json.dumps(t()).encode() + b',"a":' + json.dumps(t()).encode() + b"}",
     F4, ["'a'", "twice"]),
    ("not JSON", b"{not json", F4, ["JSON"]),
    ("not UTF-8", b'{"\xff":1}', F4, ["UTF-8"]),
    ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000, b"", ["JSON"]),
    ("empty header", b"", b"", ["JSON"]),
]


@pytest.mark.parametrize("header, data, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_header_is_refused_in_one_sentence(tmp_path, header, data, words):
    p = raw_file(tmp_path, header, data)
    with pytest.raises(SafetensorsError) as e:
        read_safetensors(p)
    msg = str(e.value)
    assert str(p) in msg, msg           # the file is named
    for w in words:                      # and the tensor / field and the problem
        assert w in msg, (w, msg)
    assert "\n" not in msg


@pytest.mark.parametrize("raw, words", [
    (b"", ["too short"]), (b"\x01\x02", ["too short"]),
    (struct.pack("<Q", 10 ** 6) + b"{}", ["header length", "past the end"]),
    (struct.pack("<Q", 2 ** 63) + b"{}", ["header length"]),          # would be a 9-exabyte read
    (struct.pack("<Q", 100_000_001) + b" " * 64, ["header length", "100000000"]),
], ids=["empty file", "2 bytes", "header past the end", "header 2**63", "header over the 100 MB bound"])
def test_bad_header_length_is_refused(tmp_path, raw, words):
    p = tmp_path / "m.safetensors"
    p.write_bytes(raw)
    with pytest.raises(SafetensorsError) as e:
        read_safetensors(p)
    assert str(p) in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_the_error_type_is_a_checkpoint_error_and_a_value_error(tmp_path):
    """One type to catch, and code that catches ``CheckpointError`` catches it too."""
    assert issubclass(SafetensorsError, CheckpointError) and issubclass(SafetensorsError, ValueError)
    assert ms.SafetensorsError is SafetensorsError


def test_valid_edge_cases_load(tmp_path):
    """What the format allows must keep working: empty files, zero-size tensors,
    metadata, padding spaces, 0-d tensors, tensors listed out of offset order."""
    p = raw_file(tmp_path, {}, b"")
    assert read_safetensors(p) == {}
    p = raw_file(tmp_path, b'{"__metadata__": {"format": "pt"}}       ', b"")
    assert read_safetensors(p) == {}
    p = raw_file(tmp_path, {"z": t(shape=[0, 3], offsets=[16, 16]), "b": t(shape=[2], offsets=[8, 16]),
                            "s": t(shape=[], offsets=[4, 8]), "a": t(shape=[1], offsets=[0, 4])})
    got = read_safetensors(p)
    assert got["z"].shape == (0, 3) and got["s"].shape == () and float(got["s"]) == 2.0
    np.testing.assert_array_equal(got["a"], [1.0])
    np.testing.assert_array_equal(got["b"], [3.0, 4.0])


def test_reader_memory_maps_and_copies_only_what_it_returns(tmp_path, monkeypatch):
    """The file is never read whole into memory (a 2 GB checkpoint would need 2 GB more);
    the arrays handed back are independent, writable copies."""
    arrs = {"w": np.arange(1000, dtype=np.float32), "ids": np.arange(10, dtype=np.int64)}
    p = tmp_path / "m.safetensors"
    save_safetensors(arrs, p)
    import builtins
    real_open = builtins.open
    reads = []

    class Spy:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            reads.append(n)
            return self.f.read(n)

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return self.f.__exit__(*a)

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Spy(real_open(*a, **k)))
    got = read_safetensors(p)
    monkeypatch.undo()
    assert reads and all(0 <= n < 200 for n in reads), reads  # only the 8-byte length and the header
    got["w"][0] = 42                                           # writable, and not the file
    assert read_safetensors(p)["w"][0] == 0
    assert got["w"].base is None or got["w"].base.nbytes <= got["w"].nbytes


def test_ms_load_safetensors_returns_tensors_and_round_trips_metadata(tmp_path):
    p = tmp_path / "m.safetensors"
    ms.save_safetensors({"w": ms.ones(2, 3), "ids": ms.arange(4)}, p, metadata={"format": "pt", "step": "7"})
    got = ms.load_safetensors(p)
    assert set(got) == {"w", "ids"} and all(isinstance(v, ms.Tensor) for v in got.values())
    assert got["w"].shape == (2, 3) and got["w"].dtype == np.float32 and got["ids"].dtype == np.int64
    assert ms.safetensors.read_safetensors_metadata(p) == {"format": "pt", "step": "7"}


@pytest.mark.parametrize("tensors, metadata, words", [
    ({"__metadata__": np.ones(2, np.float32)}, None, ["'__metadata__'", "reserved"]),
    ({3: np.ones(2, np.float32)}, None, ["3", "str"]),
    ({"a": np.ones(2, np.float32)}, {"step": 7}, ["metadata", "'step'", "str"]),
    ({"a": np.array(["x"])}, None, ["'a'", "dtype"]),
], ids=["reserved name", "int name", "metadata value not str", "string array"])
def test_save_safetensors_refuses_what_the_format_cannot_hold(tmp_path, tensors, metadata, words):
    p = tmp_path / "m.safetensors"
    with pytest.raises((TypeError, ValueError)) as e:
        save_safetensors(tensors, p, metadata=metadata)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert not p.exists()


def test_metadata_agrees_with_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    safe_open = pytest.importorskip("safetensors").safe_open
    p = tmp_path / "ours.safetensors"
    save_safetensors({"a": np.ones(3, np.float32)}, p, metadata={"format": "np", "note": "é"})
    with safe_open(str(p), "np") as f:
        assert f.metadata() == {"format": "np", "note": "é"}
    q = tmp_path / "theirs.safetensors"
    st.save_file({"a": np.ones(3, np.float32)}, str(q), metadata={"format": "np", "k": "v"})
    assert ms.safetensors.read_safetensors_metadata(q) == {"format": "np", "k": "v"}
