"""Op-level speed: forward + backward of the hot ops, minissl vs PyTorch, same shapes, same process.

Each workload builds the same float32 inputs for both libraries, runs the op,
and back-propagates the same random upstream gradient (so the backward does
the full work, not a shortcut for ``sum()``). Runs alternate; medians; ratio
minissl / torch. The shapes are those of the demos' Transformers at a
``bert-base``-like width where it matters (vocabulary 30k, width 768).

    python benchmarks/ops.py [--quick] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import benchlib  # noqa: E402


def _pair(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s, dtype=np.float32) for s in shapes]


def workloads(quick=False, tiny=False):
    """name -> (description, builder); a builder returns (minissl fn, torch fn).

    ``quick`` halves the batch-like axes; ``tiny`` shrinks every axis (the smoke test).
    """
    s, W, V, T = (64, 32, 100, 8) if tiny else (2 if quick else 1, 768, 30522, 128)
    n, b = 4096 // s, max(32 // s, 1)
    return {
        "matmul": (f"({n}x{W}) @ ({W}x{W}), linear fwd+bwd", lambda t: _linear(t, n, W, W)),
        "softmax": (f"({2 * b},4,{T},{T}) over the last axis", lambda t: _softmax(t, (2 * b, 4, T, T))),
        "layer_norm": (f"({n},{W}) with weight and bias", lambda t: _layer_norm(t, n, W)),
        "cross_entropy": (f"({n // 4},{V}) logits, vocab {V:,}", lambda t: _cross_entropy(t, n // 4, V)),
        "attention": (f"causal, (B={b},H=4,T={T},d=32)", lambda t: _attention(t, b, 4, T, 32)),
        "embedding": (f"({b}x{T}) ids into {V}x{W}", lambda t: _embedding(t, b, T, V, W)),
    }


def _run_both(ms_fwd, t_fwd, ms_inputs, t_inputs, g):
    """Wrap forward functions into forward+backward steps with upstream gradient g."""
    import minissl as ms

    def ours():
        for x in ms_inputs:
            x.grad = None
        ms_fwd(*ms_inputs).backward(ms.tensor(g))

    def theirs():
        for x in t_inputs:
            x.grad = None
        t_fwd(*t_inputs).backward(t_g)
    import torch
    t_g = torch.from_numpy(g)
    return ours, theirs


def _leaves(arrays, torch):
    import minissl as ms
    return ([ms.tensor(a, requires_grad=True) for a in arrays],
            [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays])


def _linear(torch, n, i, o):
    import minissl.nn.functional as F
    x, w, b = _pair([(n, i), (o, i), (o,)])
    (g,) = _pair([(n, o)], 1)
    m, t = _leaves([x, w, b], torch)
    return _run_both(F.linear, torch.nn.functional.linear, m, t, g)


def _softmax(torch, shape):
    import minissl.nn.functional as F
    (x,) = _pair([shape])
    (g,) = _pair([shape], 1)
    m, t = _leaves([x], torch)
    return _run_both(lambda a: F.softmax(a, -1), lambda a: torch.softmax(a, -1), m, t, g)


def _layer_norm(torch, n, d):
    import minissl.nn.functional as F
    x, w, b = _pair([(n, d), (d,), (d,)])
    (g,) = _pair([(n, d)], 1)
    m, t = _leaves([x, w, b], torch)
    return _run_both(lambda a, w, b: F.layer_norm(a, d, w, b), lambda a, w, b: torch.nn.functional.layer_norm(a, (d,), w, b),
                     m, t, g)


def _cross_entropy(torch, n, v):
    import minissl as ms
    import minissl.nn.functional as F
    (z,) = _pair([(n, v)])
    y = np.random.default_rng(2).integers(0, v, n)
    y[::7] = -100  # some ignored rows, as in masked-LM batches
    m, t = _leaves([z], torch)
    ym, yt = ms.tensor(y), torch.from_numpy(y)
    g = np.float32(1.0)
    return _run_both(lambda a: F.cross_entropy(a, ym), lambda a: torch.nn.functional.cross_entropy(a, yt), m, t,
                     np.asarray(g))


def _attention(torch, B, H, T, d):
    import minissl.nn.functional as F
    q, k, v = _pair([(B, H, T, d)] * 3)
    (g,) = _pair([(B, H, T, d)], 1)
    m, t = _leaves([q, k, v], torch)
    return _run_both(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                     lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True), m, t, g)


def _embedding(torch, B, T, V, D):
    import minissl as ms
    import minissl.nn.functional as F
    (w,) = _pair([(V, D)])
    ids = np.random.default_rng(3).integers(0, V, (B, T))
    (g,) = _pair([(B, T, D)], 1)
    m, t = _leaves([w], torch)
    im, it = ms.tensor(ids), torch.from_numpy(ids)
    return _run_both(lambda w: F.embedding(im, w), lambda w: torch.nn.functional.embedding(it, w), m, t, g)


def run(quick=False, repeats=None, progress=True, tiny=False):
    import torch
    rows = []
    for name, (desc, build) in workloads(quick, tiny).items():
        ours, theirs = build(torch)
        a, b, r = benchlib.compare(ours, theirs, repeats=repeats or (5 if quick else 15), warmup=2)
        rows.append(dict(op=name, shape=desc, minissl_ms=a, torch_ms=b, ratio=r))
        if progress:
            print(f"  {name:14s} {desc:38s} minissl {a:8.2f} ms  torch {b:8.2f} ms  {r:5.2f}x", flush=True)
    return rows


def table(rows):
    lines = ["| op (forward + backward) | shape | minissl ms | torch ms | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {r['op']} | {r['shape']} | {r['minissl_ms']:.2f} | {r['torch_ms']:.2f} | {r['ratio']:.2f} |"
              for r in rows]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    import torch
    print(f"{benchlib.set_threads(a.threads, torch)} threads for NumPy's BLAS and torch")
    print(table(run(a.quick)))


if __name__ == "__main__":
    main()
