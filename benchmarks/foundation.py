"""Foundation speed: one training step of minissl vs PyTorch (CPU), same shapes, same process.

Two workloads, float32:

* ``mlp``: a 4-layer MLP, 1024 wide, batch 256 (Linear-ReLU ×3, Linear to 10
  classes), cross-entropy, AdamW step;
* ``vocab``: Linear (256 -> 10,000) + cross-entropy over a 10,000-word
  vocabulary, batch 256, AdamW step (the output layer of a language model).

A step is forward + backward + optimiser update. The two libraries run
alternately (minissl, torch, minissl, ...) so that load from other processes
hits both alike; we report medians and the ratio minissl / torch. PyTorch gets
as many threads as NumPy's BLAS uses (``--threads`` overrides).

    python benchmarks/foundation.py [--repeats 30] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import benchlib  # noqa: E402  (benchmarks/benchlib.py: the shared timer and thread setting)
import minissl as ms  # noqa: E402
import minissl.nn.functional as F  # noqa: E402
from minissl import nn, optim  # noqa: E402


def ms_mlp(width, depth, classes):
    layers = []
    for i in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, classes))


def torch_copy(model, torch):
    """The same architecture in PyTorch, with minissl's initial weights."""
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            lin = torch.nn.Linear(m.in_features, m.out_features)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(m.weight.numpy()))
                lin.bias.copy_(torch.from_numpy(m.bias.numpy()))
            layers.append(lin)
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def make_steps(name, torch, batch):
    rng = np.random.default_rng(0)
    if name == "mlp":
        width, classes = 1024, 10
        model = ms_mlp(width, 4, classes)
        x = rng.standard_normal((batch, width)).astype(np.float32)
    else:
        width, classes = 256, 10_000
        model = nn.Sequential(nn.Linear(width, classes))
        x = rng.standard_normal((batch, width)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    tmodel = torch_copy(model, torch)
    opt = optim.AdamW(model.parameters(), lr=1e-4)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=1e-4, foreach=True)
    xm, ym = ms.tensor(x), ms.tensor(y)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def ours():
        loss = F.cross_entropy(model(xm), ym)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def theirs():
        loss = torch.nn.functional.cross_entropy(tmodel(xt), yt)
        topt.zero_grad()
        loss.backward()
        topt.step()
        return loss.item()
    return ours, theirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: what NumPy's BLAS uses)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--only", choices=["mlp", "vocab"], default=None)
    args = p.parse_args(argv)
    import torch
    blas = benchlib.set_threads(args.threads, torch)
    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads; numpy {np.__version__} with "
          f"{blas or '?'} BLAS threads; {os.cpu_count()} CPUs; minissl backend {ms.backend.NAME}")
    rows = []
    for name in ([args.only] if args.only else ["mlp", "vocab"]):
        ours, theirs = make_steps(name, torch, args.batch)
        l0, t0 = ours(), theirs()
        assert abs(l0 - t0) < 1e-4 * max(1.0, abs(t0)), (l0, t0)  # same weights, same data: same first loss
        ma, mb, _ = benchlib.compare(ours, theirs, repeats=args.repeats, warmup=args.warmup)  # alternating medians, ms
        rows.append((name, ma, mb, ma / mb))
    print(f"\n{'workload':10s} {'minissl ms':>11s} {'torch ms':>9s} {'ratio':>6s}")
    for name, ma, mb, r in rows:
        print(f"{name:10s} {ma:11.2f} {mb:9.2f} {r:6.2f}")
    return rows


if __name__ == "__main__":
    main()
