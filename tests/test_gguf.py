"""The GGUF reader (minissl/gguf.py): metadata of every type, the tensor directory, and
dequantisation checked two independent ways -- against the ``gguf`` package's reference
(files written by its own GGUFWriter, quantised by its own quantize functions) and
against per-weight loops transcribed from GGML's C ``dequantize_row_*`` -- plus the real
SmolLM2 file when present, and one clear sentence for each kind of bad file."""
import pathlib
import struct
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from gguf_files import (ARRAY, SAMPLE_KVS, SMOLLM2_INSTALL, STRING, TYPES, build, find_smollm2, nbytes,  # noqa: E402
                        random_blocks, sample_file, with_field)

from minissl.gguf import GGUFError, read_gguf  # noqa: E402
from minissl.io import read_gguf as read_gguf_from_io  # noqa: E402


def write(tmp_path, raw, name="f.gguf"):
    p = tmp_path / name
    p.write_bytes(raw)
    return p


# ------------------------------------------------------------ per-weight references, transcribed from ggml-quants.c
def _h(b, i):
    return np.frombuffer(bytes(b[i:i + 2]), "<f2")[0].astype(np.float32)


def _scale_min_k4(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def reference_block(name, b):
    """One block -> its weights, one weight at a time, as GGML's C code does it."""
    b = [int(x) for x in b]
    f = np.float32
    y = [None] * TYPES[next(t for t, v in TYPES.items() if v[0] == name)][1]
    if name == "Q8_0":
        d = _h(b, 0)
        return [d * f(v - 256 if v > 127 else v) for v in b[2:34]]
    if name in ("Q4_0", "Q4_1"):
        d, qs = _h(b, 0), b[2:18] if name == "Q4_0" else b[4:20]
        for j in range(16):
            if name == "Q4_0":
                y[j], y[j + 16] = f((qs[j] & 0xF) - 8) * d, f((qs[j] >> 4) - 8) * d
            else:
                m = _h(b, 2)
                y[j], y[j + 16] = f(qs[j] & 0xF) * d + m, f(qs[j] >> 4) * d + m
        return y
    if name in ("Q5_0", "Q5_1"):
        d = _h(b, 0)
        k = 2 if name == "Q5_0" else 4
        qh, qs = struct.unpack("<I", bytes(b[k:k + 4]))[0], b[k + 4:k + 20]
        for j in range(16):
            x0 = (qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)
            x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)
            if name == "Q5_0":
                y[j], y[j + 16] = f(x0 - 16) * d, f(x1 - 16) * d
            else:
                m = _h(b, 2)
                y[j], y[j + 16] = f(x0) * d + m, f(x1) * d + m
        return y
    if name == "Q4_K":
        d, dmin, scales, q = _h(b, 0), _h(b, 2), b[4:16], b[16:144]
        out, i, qi = [], 0, 0
        for _j in range(0, 256, 64):
            sc, m = _scale_min_k4(i, scales)
            d1, m1 = d * f(sc), dmin * f(m)
            sc, m = _scale_min_k4(i + 1, scales)
            d2, m2 = d * f(sc), dmin * f(m)
            out += [d1 * f(q[qi + l] & 0xF) - m1 for l in range(32)]
            out += [d2 * f(q[qi + l] >> 4) - m2 for l in range(32)]
            qi, i = qi + 32, i + 2
        return out
    if name == "Q6_K":
        ql, qh, sc, d = b[0:128], b[128:192], [s - 256 if s > 127 else s for s in b[192:208]], _h(b, 208)
        y = [None] * 256
        for n in range(2):
            for l in range(32):
                s = n * 8 + l // 16
                L, H = ql[n * 64:], qh[n * 32:]
                q1 = ((L[l] & 0xF) | (((H[l] >> 0) & 3) << 4)) - 32
                q2 = ((L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4)) - 32
                q3 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32
                q4 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32
                for k, qv in enumerate((q1, q2, q3, q4)):
                    y[n * 128 + 32 * k + l] = d * f(sc[s + 2 * k]) * f(qv)
        return y
    raise AssertionError(name)


@pytest.mark.parametrize("type_id", [t for t, v in TYPES.items() if v[1] > 1 and v[0] != "IQ2_XXS"])
def test_dequantisation_equals_ggml_per_weight_loops(tmp_path, type_id):
    name, block, size = TYPES[type_id]
    blocks = random_blocks(type_id, 6, seed=type_id)
    f = read_gguf(write(tmp_path, build([], [("w", (block, 6), type_id, blocks.tobytes())])[0]))
    got = f.tensor("w")
    assert got.dtype == np.float32 and got.shape == (6, block)
    want = np.array([reference_block(name, blk) for blk in blocks], dtype=np.float32)
    np.testing.assert_array_equal(got, want)  # the same float32 operations in the same order: bit-identical
    assert np.abs(want).max() > 0


def test_plain_float_tensors_and_the_shape_order(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 7  # NumPy shape (2, 3, 4) = GGML ne (4, 3, 2)
    bf = (x.view(np.uint32) >> 16).astype("<u2")                        # bfloat16 by truncation
    raw, _ = build([], [("a", (4, 3, 2), 0, x.tobytes()), ("h", (4, 3, 2), 1, x.astype("<f2").tobytes()),
                        ("d", (4, 3, 2), 28, x.astype("<f8").tobytes()), ("b", (4, 3, 2), 30, bf.tobytes()),
                        ("i", (4, 3, 2), 26, np.arange(24, dtype="<i4").tobytes())])
    f = read_gguf(write(tmp_path, raw))
    assert f.tensors["a"].shape == (2, 3, 4) and f.tensors["a"].dims == (4, 3, 2)
    np.testing.assert_array_equal(f.tensor("a"), x)
    np.testing.assert_array_equal(f.tensor("h"), x.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(f.tensor("d"), x)
    np.testing.assert_array_equal(f.tensor("b"), (bf.astype(np.uint32) << 16).view(np.float32))
    assert f.tensor("i").dtype == np.int32 and f.tensor("i")[1, 2, 3] == 23
    assert np.abs(f.tensor("b") - x).max() <= np.abs(x).max() * 2 ** -7  # truncation keeps 8 significant bits


def test_sample_file_metadata_and_directory(tmp_path):
    raw, _ = sample_file()
    f = read_gguf_from_io(write(tmp_path, raw))  # the same function, reached through minissl.io
    m = f.metadata
    assert f.version == 3 and f.alignment == 32 and f.data_start % 32 == 0
    assert m["u8"] == 255 and m["i8"] == -128 and m["u64"] == 2 ** 64 - 1 and m["i64"] == -2 ** 63
    assert m["f32"] == float(np.float32(0.1)) and m["f64"] == 0.1 and m["yes"] is True
    assert m["text"] == "héllo 世界 🙂" and m["tokens"] == ["a", "", "é", "<0x0A>"]
    assert m["ids"].dtype == np.int32 and m["ids"].tolist() == [1, -2, 3]
    assert m["flags"].tolist() == [True, False]
    assert m["nested"][0].tolist() == [1, 2] and m["nested"][1] == ["x"]
    assert f.value_types["tokens"] == "ARRAY[STRING]" and f.value_types["u16"] == "UINT16"
    assert list(f.tensors) == [f"w.{v[0].lower()}" for v in TYPES.values()]
    for t in f.tensors.values():
        assert t.offset % 32 == 0 and t.nbytes == nbytes(next(k for k, v in TYPES.items() if v[0] == t.type), t.dims)


def test_raw_is_a_view_of_the_map_and_tensor_a_copy(tmp_path):
    f = read_gguf(write(tmp_path, sample_file()[0]))
    r = f.raw("w.f32")
    assert not r.flags.writeable and not r.flags.owndata
    t = f.tensor("w.f32")
    assert t.flags.writeable and not np.shares_memory(t, r)
    with f:
        pass
    with pytest.raises(ValueError, match="closed"):
        f.tensor("w.f32")
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        read_gguf(write(tmp_path, sample_file()[0])).tensor("nope")


def test_custom_alignment_and_version_2(tmp_path):
    kvs = [("general.alignment", 4, 64)]
    x = np.arange(40, dtype=np.float32)
    raw, _ = build(kvs, [("a", (8,), 0, x[:8].tobytes()), ("b", (32,), 0, x[8:].tobytes())], alignment=64, version=2)
    f = read_gguf(write(tmp_path, raw))
    assert f.version == 2 and f.alignment == 64 and f.tensors["b"].offset == 64 and f.data_start % 64 == 0
    np.testing.assert_array_equal(f.tensor("b"), x[8:])


# ------------------------------------------------------------ against the gguf package (GGUFWriter + its quantize/dequantize)
def test_every_metadata_type_written_by_gguf_reads_back(tmp_path):
    gguf = pytest.importorskip("gguf")
    V = gguf.GGUFValueType
    p = tmp_path / "meta.gguf"
    w = gguf.GGUFWriter(p, "llama")
    scalars = {"u8": (w.add_uint8, 200), "i8": (w.add_int8, -100), "u16": (w.add_uint16, 60000),
               "i16": (w.add_int16, -30000), "u32": (w.add_uint32, 4_000_000_000), "i32": (w.add_int32, -2_000_000_000),
               "f32": (w.add_float32, 1 / 3), "u64": (w.add_uint64, 2 ** 64 - 1), "i64": (w.add_int64, -2 ** 63),
               "f64": (w.add_float64, 1 / 3), "t": (w.add_bool, True), "f": (w.add_bool, False),
               "s": (w.add_string, "naïve 漢字 🙂")}  # (GGUFWriter drops an empty string)
    for k, (add, v) in scalars.items():
        add(k, v)
    arrays = {"a.u8": ([0, 255], V.UINT8), "a.i8": ([-128, 127], V.INT8), "a.u16": ([1, 65535], V.UINT16),
              "a.i16": ([-5, 5], V.INT16), "a.u32": ([7, 2 ** 32 - 1], V.UINT32), "a.i32": ([-7, 7], V.INT32),
              "a.f32": ([0.5, -1.25], V.FLOAT32), "a.u64": ([2 ** 64 - 1], V.UINT64), "a.i64": ([-2 ** 63, 3], V.INT64),
              "a.f64": ([0.1, 1e300], V.FLOAT64), "a.bool": ([True, False, True], V.BOOL),
              "a.str": (["x", "", "ÿ"], V.STRING)}
    for k, (v, sub) in arrays.items():
        w.add_key_value(k, v, V.ARRAY, sub_type=sub)
    w.add_key_value("a.nested", [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    f = read_gguf(p)
    m = f.metadata
    assert m["general.architecture"] == "llama"
    for k, (_add, v) in scalars.items():
        want = float(np.float32(v)) if k == "f32" else v
        assert m[k] == want and type(m[k]) is type(want), k
    for k, (v, sub) in arrays.items():
        got = m[k] if sub == V.STRING else m[k].tolist()
        assert got == ([float(np.float32(x)) for x in v] if sub == V.FLOAT32 else v), k
        assert f.value_types[k] == f"ARRAY[{sub.name}]"
    assert [a.tolist() for a in m["a.nested"]] == [[1, 2], [3]]
    ref = gguf.GGUFReader(p)  # and the reference reader sees the same values (it cannot do nested arrays)
    for k, field in ref.fields.items():
        if k.startswith("GGUF.") or k == "a.nested":
            continue
        got = m[k].tolist() if isinstance(m[k], np.ndarray) else m[k]
        assert got == field.contents(), k


def test_tensors_quantised_by_gguf_dequantise_identically(tmp_path):
    gguf = pytest.importorskip("gguf")
    Q = gguf.GGMLQuantizationType
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 512)).astype(np.float32) * np.linspace(0.1, 3, 512, dtype=np.float32)
    p = tmp_path / "q.gguf"
    w = gguf.GGUFWriter(p, "llama")
    w.add_custom_alignment(64)
    w.add_tensor("f32", x)
    w.add_tensor("f16", x.astype(np.float16))
    w.add_tensor("f64", x[:2].astype(np.float64))
    quantised = ["BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
    for name in quantised:
        w.add_tensor(name, gguf.quants.quantize(x, Q[name]), raw_dtype=Q[name])
    for name in ("Q4_K", "Q6_K"):  # gguf can read but not write K-quants: random blocks with sane scales
        t = int(Q[name])
        w.add_tensor(name, random_blocks(t, 12, seed=t).reshape(6, -1), raw_dtype=Q[name])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    f = read_gguf(p)
    assert f.alignment == 64
    ref = gguf.GGUFReader(p)
    assert [t.name for t in ref.tensors] == list(f.tensors)
    for t in ref.tensors:
        mine = f.tensor(t.name)
        want = t.data if t.name == "f64" else gguf.quants.dequantize(t.data, t.tensor_type)  # (it has no F64 path)
        assert f.tensors[t.name].type == t.tensor_type.name and mine.shape == want.shape, t.name
        assert mine.dtype == np.float32
        np.testing.assert_array_equal(mine, want.astype(np.float32), err_msg=t.name)
        if t.name in quantised:  # and the quantiser's round trip is close to x (a sanity check of the setup)
            assert np.abs(mine - x).max() < 0.3 * np.abs(x).max(), t.name


# ------------------------------------------------------------ the real SmolLM2-135M-Instruct file
needs_smollm2 = pytest.mark.skipif(find_smollm2() is None, reason=f"the SmolLM2 GGUF is not here; {SMOLLM2_INSTALL}")


@needs_smollm2
def test_real_smollm2_metadata_and_directory():
    f = read_gguf(find_smollm2())
    m = f.metadata
    assert m["general.architecture"] == "llama" and m["llama.block_count"] == 30
    assert m["llama.embedding_length"] == 576 and m["llama.feed_forward_length"] == 1536
    assert m["llama.attention.head_count"] == 9 and m["llama.attention.head_count_kv"] == 3
    assert m["llama.vocab_size"] == 49152 and len(m["tokenizer.ggml.tokens"]) == 49152
    assert m["llama.rope.freq_base"] == 100000.0 and m["tokenizer.ggml.model"] == "gpt2"
    assert len(m["tokenizer.ggml.merges"]) == 48900 and m["tokenizer.ggml.tokens"][:3] == \
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert len(f.tensors) == 2 + 30 * 9  # token_embd, output_norm, 9 per block (tied output: no output.weight)
    t = f.tensors
    assert (t["token_embd.weight"].type, t["token_embd.weight"].shape) == ("Q8_0", (49152, 576))
    assert (t["blk.0.attn_k.weight"].type, t["blk.0.attn_k.weight"].shape) == ("Q4_1", (192, 576))
    assert (t["blk.29.ffn_down.weight"].type, t["blk.29.ffn_down.weight"].shape) == ("Q4_1", (576, 1536))
    assert (t["output_norm.weight"].type, t["output_norm.weight"].shape) == ("F32", (576,))
    gain = f.tensor("blk.3.attn_norm.weight")  # a real RMSNorm gain: finite, of order 1
    assert np.isfinite(gain).all() and 0.05 < np.median(np.abs(gain)) < 20


@needs_smollm2
@pytest.mark.slow  # ~5 s: 272 tensors (135M weights) dequantised twice
def test_real_smollm2_every_tensor_equals_gguf():
    gguf = pytest.importorskip("gguf")
    f = read_gguf(find_smollm2())
    ref = gguf.GGUFReader(find_smollm2())
    for rt in ref.tensors:  # every tensor, bit for bit
        np.testing.assert_array_equal(f.tensor(rt.name), gguf.quants.dequantize(rt.data, rt.tensor_type),
                                      err_msg=rt.name)


# ------------------------------------------------------------ bad files: one GGUFError sentence naming the file and the problem
def _sample():
    return sample_file()


def _set(name, value):
    return lambda: with_field(*_sample(), name, value)


def _tensor_file(dims=(32,), ttype=0, data=None, offset=None, alignment=32, kvs=()):
    data = bytes(nbytes(ttype, dims)) if data is None else data
    raw, fields = build(list(kvs), [("w", dims, ttype, data)], alignment=alignment)
    return with_field(raw, fields, "t0.offset", offset) if offset is not None else raw


def _two_tensors(second_offset):
    raw, fields = build([], [("a", (32,), 0, bytes(128)), ("b", (32,), 0, bytes(128))])
    return with_field(raw, fields, "t1.offset", second_offset)


def _nested(levels):
    """An array of an array of ... (``levels`` deep) of one uint8."""
    v = (0, [1])
    for _ in range(levels - 1):
        v = (ARRAY, [v])
    return v


KV_STRING_AT = SAMPLE_KVS.index(("text", STRING, "héllo 世界 🙂"))
KV_BOOL_AT = [k for k, *_ in SAMPLE_KVS].index("yes")
KV_ARRAY_AT = [k for k, *_ in SAMPLE_KVS].index("tokens")

BAD = {
    "empty file": (lambda: b"", r"magic bytes b'GGUF' \(found b''\)"),
    "wrong magic": (lambda: b"GGML" + _sample()[0][4:], r"magic bytes b'GGUF' \(found b'GGML'\)"),
    "version 1": (_set("version", 1), r"GGUF version 1; minissl reads versions 2 and 3"),
    "version 4": (_set("version", 4), r"GGUF version 4;"),
    "big-endian": (_set("version", 3 << 24), r"version 50331648 \(a big-endian file\?\)"),
    "truncated header": (lambda: _sample()[0][:13], r"the tensor and metadata counts needs 16 bytes at byte 8 .*"
                         r"truncated"),
    "kv count": (_set("n_kv", 2 ** 63), r"claims 9223372036854775808 metadata entries but has only \d+ bytes left"),
    "tensor count": (_set("n_tensors", 10 ** 6), r"claims 1000000 tensors but has only \d+ bytes left"),
    "key length": (_set("kv0.key.len", 2 ** 64 - 1), r"metadata key 0 \(a string of 18446744073709551615 bytes\) "
                   r"needs .*truncated"),
    "string length": (_set(f"kv{KV_STRING_AT}.value.len", 10 ** 12), r"metadata 'text' \(a string of 10{12} bytes\)"),
    "array length": (_set(f"kv{KV_ARRAY_AT}.value.count", 2 ** 40),
                     r"metadata 'tokens' claims 1099511627776 items of STRING \(at least 8 bytes each\)"),
    "value type": (_set("kv1.type", 13), r"metadata 'u8' has value type 13, which is no GGUF type"),
    "array item type": (_set(f"kv{KV_ARRAY_AT}.value.item_type", 99), r"'tokens' is an array of value type 99"),
    "bool byte": (_set(f"kv{KV_BOOL_AT}.value", 2), r"metadata 'yes' is a bool stored as 2"),
    "not utf-8": (lambda: build([("k", STRING, b"\xff\xfe")])[0], r"metadata 'k' is not UTF-8 text"),
    "duplicate key": (lambda: build([("k", 0, 1), ("k", 0, 2)])[0], r"metadata key 'k' appears twice"),
    "nesting": (lambda: build([("deep", ARRAY, _nested(17))])[0],
                r"metadata 'deep'(\[0\]){16} nests arrays more than 16 deep"),
    "alignment type": (lambda: build([("general.alignment", 10, 32)])[0], r"general.alignment is a UINT64"),
    "alignment value": (lambda: build([("general.alignment", 4, 48)])[0], r"general.alignment is 48, not a power of two"),
    "misaligned offset": (lambda: _tensor_file(offset=4), r"tensor 'w' starts at data offset 4, not a multiple of "
                          r"the alignment 32"),
    "offset past end": (lambda: _tensor_file(offset=2 ** 64 - 32), r"tensor 'w' \(128 bytes at data offset "
                        r"18446744073709551584\) runs past the end of the file"),
    "truncated data": (lambda: _tensor_file()[:-1], r"tensor 'w' \(128 bytes at data offset 0\) runs past the end .*"
                       r"127 bytes"),
    "overlap": (lambda: _two_tensors(0), r"tensor '[ab]' \(data bytes 0..128\) overlaps tensor '[ab]'"),
    "unknown type": (lambda: with_field(*build([], [("w", (32,), 0, bytes(128))]), "t0.type", 99),
                     r"tensor 'w' has GGML type 99"),
    "removed type": (lambda: with_field(*build([], [("w", (32,), 0, bytes(128))]), "t0.type", 4),
                     r"tensor 'w' is stored as Q4_2, a type GGML has removed"),
    "too many dims": (lambda: with_field(*build([], [("w", (32,), 0, bytes(128))]), "t0.n_dims", 5),
                      r"tensor 'w' has 5 dimensions; GGML allows at most 4"),
    "dims overflow": (lambda: _tensor_file(dims=(2 ** 32, 2 ** 32), data=b""), r"dimensions \[4294967296, "
                      r"4294967296\], whose product overflows"),
    "partial block": (lambda: _tensor_file(dims=(16,), ttype=8, data=bytes(34)),
                      r"rows of 16 weights, not a multiple of Q8_0's block of 32"),
    "duplicate tensor": (lambda: build([], [("w", (8,), 0, bytes(32)), ("w", (8,), 0, bytes(32))])[0],
                         r"tensor 'w' appears twice"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_say_which_file_and_what(tmp_path, case):
    make, pattern = BAD[case]
    p = write(tmp_path, make(), f"{case.replace(' ', '_')}.gguf")
    with pytest.raises(GGUFError, match=pattern) as e:
        read_gguf(p)
    msg = str(e.value)
    assert msg.startswith(f"GGUF file {str(p)!r}: ") and msg.count("\n") == 0


def test_unsupported_type_is_named_when_its_tensor_is_asked_for(tmp_path):
    f = read_gguf(write(tmp_path, _tensor_file(dims=(256,), ttype=16), "iq.gguf"))  # the rest stays readable
    assert f.tensors["w"].type == "IQ2_XXS" and f.raw("w").nbytes == 66
    with pytest.raises(GGUFError, match=r"iq.gguf'.*tensor 'w' is stored as IQ2_XXS, which minissl cannot dequantise"):
        f.tensor("w")


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_gguf(tmp_path / "absent.gguf")
