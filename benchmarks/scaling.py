"""Training-step time and memory as the sequence and the width grow: minissl vs PyTorch.

The workload is the GPT of the GPT demo (pre-LN decoder, tied head, causal
attention, GELU-tanh MLP; forward + backward + gradient clipping + AdamW),
built by :func:`gpt_steps` for any size; the PyTorch twin and the step
functions come from ``gpt_vs_torch.py``. Two sweeps:

* sequence length T = 64, 128, 256, 512 at width 128 (attention's T² term
  shows here: its share of the FLOPs grows with T);
* width E = 128, 256, 512, 768 at T = 128 (matmul FLOPs grow as E²).

Time: the two libraries alternate in one process, medians, ratio. Memory: peak
RSS increase of the training steps, each library in its own fresh subprocess
(see ``benchlib.peak_memory``). The log-log plot puts both libraries on the same
axes: parallel lines mean the same growth exponent.

    python benchmarks/scaling.py [--quick] [--threads N] [--plot benchmarks/scaling.png]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import benchlib  # noqa: E402

VOCAB = 100          # a character vocabulary, as in the GPT demo
DEMO_GPT = dict(n_layer=4, n_head=4, n_embd=128, T=64, B=32)   # demos/gpt_text.py default model and batch


def gpt_flops(n_layer, n_embd, T, B, vocab=VOCAB, **_):
    """FLOPs of one training step: 3 × the forward pass (backward costs two matmuls per forward one).

    Forward, per layer: 24·N·E² for the q/k/v/out and MLP matmuls (N = B·T tokens)
    and 4·B·T²·E for QKᵀ and PV (computed in full; the causal mask only hides entries);
    the tied output head adds 2·N·E·V.
    """
    N = B * T
    fwd = n_layer * (24 * N * n_embd ** 2 + 4 * B * T * T * n_embd) + 2 * N * n_embd * vocab
    return 3 * fwd


def gpt_steps(n_layer=4, n_head=4, n_embd=128, T=64, B=32, vocab=VOCAB, seed=0, torch_device=None):
    """(minissl step, torch step, first losses) for the same GPT from the same weights on the same batch."""
    import minissl as ms
    from minissl.models.gpt import GPT, GPTConfig, make_optimizer
    import gpt_vs_torch as G
    ms.manual_seed(seed)
    model = GPT(GPTConfig(vocab, block_size=T, n_layer=n_layer, n_head=n_head, n_embd=n_embd))
    opt, sched = make_optimizer(model, lr=1e-3, weight_decay=0.1, warmup=10, total_steps=10_000)
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, vocab, (B, T)), rng.integers(0, vocab, (B, T))
    params = list(model.parameters())

    def ours():
        return G.ms_step(model, opt, sched, params, x, y)

    if torch_device is False:  # minissl only (memory children, GPU speed-up over NumPy)
        return ours, None
    tm, topt, tsched = G.torch_setup(model, sched)
    if torch_device and torch_device != "cpu":
        return ours, _torch_on(tm, topt, tsched, x, y, torch_device)

    def theirs():
        return G.torch_step(tm, topt, tsched, x, y)
    return ours, theirs


def _torch_on(tm, topt, tsched, x, y, device):
    """The torch step on another device (CUDA): the model moved there, the batch too."""
    import torch
    tm.to(device)
    # the optimizer was built on CPU tensors: rebuild it on the moved parameters, same groups
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": list(g["params"])} for g in topt.param_groups]
    topt = torch.optim.AdamW(groups)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step():
        loss = tm(xt, yt)
        topt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
        topt.step()
        return loss
    return step


def gpt_step(lib, **cfg):
    """One library's step alone (the memory children call this)."""
    ours, theirs = gpt_steps(**cfg, torch_device=False if lib == "minissl" else None)
    return ours if lib == "minissl" else theirs


def measure(cfg, repeats=3, memory=True, threads=None):
    """Time (alternating medians) and peak memory of both libraries for one configuration."""
    ours, theirs = gpt_steps(**cfg)
    l0, t0 = ours(), theirs()
    assert abs(l0 - t0) < 1e-3 * max(1.0, abs(t0)), f"minissl and torch disagree on the first loss: {l0} vs {t0}"
    ms_ms, t_ms, ratio = benchlib.compare(ours, theirs, repeats=repeats, warmup=1)
    row = dict(cfg, minissl_ms=ms_ms, torch_ms=t_ms, time_ratio=ratio, gflop=gpt_flops(**cfg) / 1e9)
    if memory:
        m = {lib: benchlib.peak_memory("scaling:gpt_step", dict(cfg, lib=lib), steps=2, threads=threads)
             for lib in ("minissl", "torch")}
        row.update(minissl_mib=m["minissl"], torch_mib=m["torch"], memory_ratio=m["minissl"] / max(m["torch"], 1e-9))
    return row


def sweeps(quick=False):
    """The configurations of both sweeps (2 layers, 4 heads; batch 8)."""
    base = dict(n_layer=2, n_head=4, n_embd=128, T=128, B=8)
    seqs = (64, 128, 256) if quick else (64, 128, 256, 512)
    widths = (128, 256) if quick else (128, 256, 512, 768)
    return ([("seq", dict(base, T=t)) for t in seqs] +
            [("width", dict(base, n_embd=e)) for e in widths if e != 128])  # width 128 = the seq-128 point


def run(quick=False, threads=None, memory=True, progress=True):
    rows = []
    for sweep, cfg in sweeps(quick):
        r = measure(cfg, repeats=2 if quick else 3, memory=memory, threads=threads)
        r["sweep"] = sweep
        rows.append(r)
        if progress:
            print(f"  {sweep:5s} T={cfg['T']:4d} E={cfg['n_embd']:4d}: minissl {r['minissl_ms']:8.1f} ms, "
                  f"torch {r['torch_ms']:8.1f} ms ({r['time_ratio']:.2f}x)"
                  + (f"; memory {r['minissl_mib']:.0f} vs {r['torch_mib']:.0f} MiB" if memory else ""), flush=True)
    return rows


def plot(rows, path):
    """Log-log: time (left) and peak memory (right) against T and against E."""
    from matplotlib import use
    use("Agg")
    import matplotlib.pyplot as plt
    has_mem = "minissl_mib" in rows[0]
    fig, axes = plt.subplots(2 if has_mem else 1, 2, figsize=(10, 7.5 if has_mem else 4), squeeze=False)
    for j, (sweep, key, label) in enumerate([("seq", "T", "sequence length T (E=128)"),
                                             ("width", "n_embd", "width E (T=128)")]):
        rs = [r for r in rows if r["sweep"] == sweep or (sweep == "width" and r["T"] == 128 and r["n_embd"] == 128)]
        rs.sort(key=lambda r: r[key])
        xs = [r[key] for r in rs]
        for i, (what, unit) in enumerate([("ms", "ms per step"), ("mib", "peak MiB")][:2 if has_mem else 1]):
            ax = axes[i][j]
            for lib, style in (("minissl", "o-"), ("torch", "s--")):
                ax.loglog(xs, [r[f"{lib}_{what}"] for r in rs], style, label=lib, base=2)
            ax.set_xlabel(label)
            ax.set_ylabel(unit)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    fig.suptitle("GPT training step (2 layers, batch 8): minissl vs PyTorch, log-log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(rows):
    head = "| sweep | T | E | GFLOP | minissl ms | torch ms | time ratio | minissl MiB | torch MiB | memory ratio |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        mem = (f"{r['minissl_mib']:.0f} | {r['torch_mib']:.0f} | {r['memory_ratio']:.2f}" if "minissl_mib" in r
               else "- | - | -")
        lines.append(f"| {r['sweep']} | {r['T']} | {r['n_embd']} | {r['gflop']:.1f} | {r['minissl_ms']:.1f} | "
                     f"{r['torch_ms']:.1f} | {r['time_ratio']:.2f} | {mem} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--plot", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "scaling.png"))
    a = p.parse_args()
    import torch
    n = benchlib.set_threads(a.threads, torch)
    print(f"{n} threads for NumPy's BLAS and torch")
    rows = run(a.quick, n, memory=not a.no_memory)
    print(table(rows))
    plot(rows, a.plot)
    print("plot:", a.plot)


if __name__ == "__main__":
    main()
