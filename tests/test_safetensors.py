"""minissl.io's NumPy-only safetensors reader/writer: exact round trips, the format's
byte layout, bfloat16 rounding, and agreement with the ``safetensors`` package."""
import json
import struct

import numpy as np
import pytest

from minissl.io import CheckpointError
from minissl.safetensors import read_safetensors, save_safetensors


def _arrays(seed=0):
    r = np.random.default_rng(seed)
    return {"a.weight": r.standard_normal((3, 5)).astype(np.float32),
            "b": r.standard_normal(7).astype(np.float32) * 1e3,
            "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
            "scalar": np.float32(2.5) * np.ones((), np.float32)}


def test_f32_round_trip_is_exact(tmp_path):
    arrs = _arrays()
    save_safetensors(arrs, tmp_path / "m.safetensors")
    back = read_safetensors(tmp_path / "m.safetensors")
    assert list(back) == list(arrs)
    for k in arrs:
        assert back[k].dtype == arrs[k].dtype and back[k].shape == arrs[k].shape
        np.testing.assert_array_equal(back[k], arrs[k])
    back["b"][0] = 0  # arrays handed back are writable, not views of a read-only buffer


def test_header_layout(tmp_path):
    """8-byte little-endian length, JSON padded to a multiple of 8, offsets from the data start."""
    x = np.array([1.0, -2.0], np.float32)
    save_safetensors({"x": x, "y": np.array([7], np.int32)}, tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["x"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["y"] == {"dtype": "I32", "shape": [1], "data_offsets": [8, 12]}
    assert raw[8 + n:] == struct.pack("<ff", 1.0, -2.0) + struct.pack("<i", 7)


def test_f16_round_trip_matches_numpy_half(tmp_path):
    x = _arrays()["a.weight"]
    save_safetensors({"x": x}, tmp_path / "h.safetensors", dtype="F16")
    back = read_safetensors(tmp_path / "h.safetensors")["x"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, x.astype(np.float16).astype(np.float32))


def test_bf16_keeps_top_16_bits_rounded_to_nearest_even(tmp_path):
    # bfloat16 has 8 mantissa bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 (even: 1);
    # 1 + 3·2^-8 is a tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
    x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -7, -3.140625, 1 + 2 ** -8 + 2 ** -20], np.float32)
    want = np.array([1.0, 1.0, 1 + 2 ** -6, 1 + 2 ** -7, -3.140625, 1 + 2 ** -7], np.float32)
    save_safetensors({"x": x}, tmp_path / "b.safetensors", dtype="BF16")
    np.testing.assert_array_equal(read_safetensors(tmp_path / "b.safetensors")["x"], want)
    r = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    save_safetensors({"r": r}, tmp_path / "r.safetensors", dtype="BF16")
    back = read_safetensors(tmp_path / "r.safetensors")["r"]
    assert np.all(np.abs(back - r) <= np.abs(r) * 2 ** -8)  # half a unit in the last place


def test_bad_files_raise_clear_errors(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="too short"):
        read_safetensors(p)
    p.write_bytes((10 ** 6).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="truncated"):
        read_safetensors(p)
    save_safetensors({"x": np.ones(100, np.float32)}, p)
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="data_offsets"):
        read_safetensors(p)


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_agrees_with_the_safetensors_package(tmp_path, dtype):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    arrs = _arrays(2)
    tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    # ours -> theirs
    save_safetensors(arrs, tmp_path / "ours.safetensors", dtype=dtype)
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    for k, v in arrs.items():
        want = torch.from_numpy(np.array(v))
        want = want.to(tdt) if want.is_floating_point() else want
        assert theirs[k].dtype == want.dtype
        assert torch.equal(theirs[k], want), k  # identical bits, incl. bf16 rounding
    # theirs -> ours
    tens = {k: (torch.from_numpy(np.array(v)).to(tdt) if v.dtype.kind == "f" else torch.from_numpy(np.array(v)))
            for k, v in arrs.items()}
    st.save_file(tens, str(tmp_path / "theirs.safetensors"), metadata={"format": "pt"})
    back = read_safetensors(tmp_path / "theirs.safetensors")
    assert set(back) == set(arrs)
    for k, t in tens.items():
        np.testing.assert_array_equal(back[k], t.float().numpy() if t.is_floating_point() else t.numpy())


def test_ms_load_safetensors_reads_the_packages_files_as_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    import minissl as ms
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    st.save_file({"w": w, "i": torch.tensor([1, 2], dtype=torch.int32)}, str(tmp_path / "t.safetensors"))
    got = ms.load_safetensors(tmp_path / "t.safetensors")
    assert isinstance(got["w"], ms.Tensor) and got["w"].dtype == np.float32 and got["i"].dtype == np.int32
    np.testing.assert_array_equal(got["w"].numpy(), w.numpy())
    ms.save_safetensors(got, tmp_path / "back.safetensors")
    assert torch.equal(st.load_file(str(tmp_path / "back.safetensors"))["w"], w)
