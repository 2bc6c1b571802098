"""A small CNN's training step on 28x28 images: minissl vs PyTorch CPU.

The network is the size of a small Fashion-MNIST classifier::

    Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2)      28x28 -> 14x14
    Conv2d(16, 32, 3, padding=1) -> ReLU -> MaxPool2d(2)     14x14 -> 7x7
    Flatten -> Linear(32·7·7, 10), cross-entropy, Adam

Both libraries start from the same weights (minissl's state dict loaded into
torch) and see the same batches; the first losses are checked to agree. The
step is forward + backward + Adam. Time: the two steps alternate in one process
after warm-up (``benchlib.time_alternating``), medians and their ratio. Memory:
each library runs in a fresh subprocess, peak RSS rise over 3 steps
(``benchlib.peak_memory``). Threads: NumPy's BLAS and torch get the same count.

    python benchmarks/conv_vs_torch.py                 # batch 128, 2 threads, 30 alternating steps
    python benchmarks/conv_vs_torch.py --threads 1 --quick
    python benchmarks/conv_vs_torch.py --threads 1 --cpu-clock   # on a loaded machine: process CPU time
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import benchlib  # noqa: E402


def build(lib):
    n = lib.nn
    return n.Sequential(n.Conv2d(1, 16, 3, padding=1), n.ReLU(), n.MaxPool2d(2),
                        n.Conv2d(16, 32, 3, padding=1), n.ReLU(), n.MaxPool2d(2),
                        n.Flatten(), n.Linear(32 * 7 * 7, 10))


def flops(batch=128):
    """Multiply-adds ×2 of the convolutions and the linear layer, ×3 for forward + backward."""
    fwd = 2 * batch * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 32 * 7 * 7 * 10)
    return 3 * fwd


def steppers(batch=128, seed=0):
    """(minissl step, torch step, (first loss minissl, first loss torch)) on the same weights and batches."""
    import torch
    import minissl as ms
    ms.manual_seed(seed)
    ours, theirs = build(ms), build(torch)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    opt_ms, opt_t = ms.optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    data = [(rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)) for _ in range(4)]
    ms_data = [(ms.tensor(x), ms.tensor(y)) for x, y in data]
    t_data = [(torch.tensor(x), torch.tensor(y)) for x, y in data]
    first = (float(ms.nn.functional.cross_entropy(ours(ms_data[0][0]), ms_data[0][1])),
             float(torch.nn.functional.cross_entropy(theirs(t_data[0][0]), t_data[0][1]).detach()))
    assert abs(first[0] - first[1]) < 1e-4, first
    state = {"ms": 0, "t": 0}

    def step_ms():
        x, y = ms_data[state["ms"] % 4]
        state["ms"] += 1
        loss = ms.nn.functional.cross_entropy(ours(x), y)
        opt_ms.zero_grad()
        loss.backward()
        opt_ms.step()

    def step_t():
        x, y = t_data[state["t"] % 4]
        state["t"] += 1
        loss = torch.nn.functional.cross_entropy(theirs(x), y)
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()
    return step_ms, step_t, first


def step_for(lib, batch=128):
    """One library's step (what the memory child calls)."""
    ours, theirs, _ = steppers(batch)
    return ours if lib == "minissl" else theirs


def run(batch=128, repeats=30, threads=None, memory=True):
    ours, theirs, first = steppers(batch)
    t = benchlib.time_alternating({"minissl": ours, "torch": theirs}, repeats=repeats, warmup=3)
    a, b = benchlib.median_ms(t["minissl"]), benchlib.median_ms(t["torch"])
    row = dict(workload="small CNN (benchmarks/conv_vs_torch.py)", batch=batch, minissl_ms=a, torch_ms=b,
               time_ratio=a / b, first_losses=first)
    if memory:
        m = {lib: benchlib.peak_memory("conv_vs_torch:step_for", dict(lib=lib, batch=batch), steps=3, threads=threads)
             for lib in ("minissl", "torch")}
        row.update(minissl_mib=m["minissl"], torch_mib=m["torch"], memory_ratio=m["minissl"] / m["torch"])
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="10 repeats")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--profile", action="store_true", help="also print where minissl's step time goes")
    p.add_argument("--cpu-clock", action="store_true", help="time by process CPU time (for a loaded machine)")
    args = p.parse_args(argv)
    if args.cpu_clock:
        benchlib.use_cpu_clock()
    import torch
    threads = benchlib.set_threads(args.threads, torch)
    info = benchlib.machine(torch)
    r = run(args.batch, 10 if args.quick else args.repeats, threads, memory=not args.no_memory)
    print(f"{info['cpu']}, {threads} threads (BLAS {info['blas_threads']}, torch {info['torch_threads']}), "
          f"load {info.get('load_average', 0):.1f}, {'process CPU' if args.cpu_clock else 'wall'} time")
    print(f"first loss: minissl {r['first_losses'][0]:.6f}, torch {r['first_losses'][1]:.6f}")
    print(f"step (forward + backward + Adam), batch {args.batch}: minissl {r['minissl_ms']:.1f} ms, "
          f"torch {r['torch_ms']:.1f} ms, time ratio {r['time_ratio']:.2f}")
    if "memory_ratio" in r:
        print(f"peak memory of 3 steps: minissl {r['minissl_mib']:.0f} MiB, torch {r['torch_mib']:.0f} MiB, "
              f"memory ratio {r['memory_ratio']:.2f}")
    if args.profile:
        ours, _, _ = steppers(args.batch)
        total, top = benchlib.profile_by_op(ours, steps=5)
        print(f"minissl step, profiled: {1e3 * total:.0f} ms")
        for k, v in top:
            print(f"  {k}: {100 * v / total:.0f}%")
    return r


if __name__ == "__main__":
    main()
