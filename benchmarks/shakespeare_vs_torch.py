"""nanoGPT's Shakespeare recipe trained by minissl and by PyTorch in one run: time and validation loss.

``demos/gpt_shakespeare.py`` trains a character-level GPT on Shakespeare with
nanoGPT's CPU recipe (4 layers, 4 heads, 128 wide, context 64, batch 12, 2,000
steps, lr 1e-3 -> 1e-4, betas 0.9/0.99, weight decay 0.1, clip 1). Here the same
network is also written in PyTorch (``gpt_vs_torch.TorchGPT``) and both train
side by side:

* the same initial weights (minissl's, seeded by ``--seed``, copied into torch;
  torch is seeded too), the same batches in the same order (drawn up front from
  ``--seed``), the same AdamW groups, schedule and clipping;
* the same validation data: the held-out works of ``shakespeare_split()``, 50
  fixed batches of 12 windows, as the demo scores them;
* steps alternate (minissl, torch, torch, minissl, ...) so a burst of load from
  another process slows both alike; both use ``--threads`` BLAS/torch threads
  (default 1: on a busy 2-core machine two OpenBLAS threads spin-wait and run
  several times slower).

Reported: the validation loss of each and their difference (float32 round-off
makes two trajectories drift apart, so they agree closely, not exactly), the
loss of the first step (same weights and batch: equal to 1e-4), the total
training time of each and their ratio, and the median time per step. nanoGPT's
own reported 1.88 is printed beside them as a landmark: it is measured on
tiny-Shakespeare's last 10%, other text than these held-out works.

    python benchmarks/shakespeare_vs_torch.py              # 2,000 steps (about 5 minutes here)
    python benchmarks/shakespeare_vs_torch.py --steps 500  # a smaller budget
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import benchlib  # noqa: F401  (puts the repository on sys.path)
from benchlib import machine, set_threads
from gpt_vs_torch import ms_step, torch_eval, torch_setup, torch_step

BATCH, EVAL_BATCHES, NANOGPT_VAL_LOSS = 12, 50, 1.88


def eval_batches(stream, T, n_batches=EVAL_BATCHES, batch=BATCH):
    """The demo's validation batches: windows spread evenly over the held-out works."""
    starts = np.linspace(0, len(stream) - T - 1, n_batches * batch).astype(int).reshape(n_batches, batch)
    return [(stream[s[:, None] + np.arange(T)], stream[s[:, None] + np.arange(1, T + 1)]) for s in starts]


def run(steps, seed=0, threads=1, eval_every=None, progress=True):
    import torch

    import minissl as ms
    from minissl.datasets import shakespeare_split
    from minissl.models.gpt import GPT, GPTConfig, evaluate_lm, make_optimizer
    from minissl.text import CharTokenizer
    set_threads(threads, torch)
    train_text, val_text = shakespeare_split()
    tok = CharTokenizer.from_corpus(train_text + val_text)
    tr, va = np.array(tok.encode(train_text)), np.array(tok.encode(val_text))
    ms.manual_seed(seed)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(tok.vocab_size, n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0))
    T = model.config.block_size
    starts = np.random.default_rng(seed).integers(0, len(tr) - T - 1, size=(steps, BATCH))  # as the demo draws them
    val = eval_batches(va, T)
    opt, sched = make_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99), warmup=min(100, steps // 10),
                                total_steps=steps)  # cosine down to 0.1 x lr = 1e-4
    tm, topt, tsched = torch_setup(model, sched)
    params = list(model.parameters())
    eval_every = eval_every or max(50, steps // 10)
    losses, secs = {"minissl": [], "torch": []}, {"minissl": [], "torch": []}
    curve = {"step": [], "minissl": [], "torch": []}
    bar = range(steps)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, desc="minissl + torch", mininterval=1.0)
    for i in bar:
        s = starts[i]
        x, y = tr[s[:, None] + np.arange(T)], tr[s[:, None] + np.arange(1, T + 1)]
        order = [("minissl", lambda: ms_step(model, opt, sched, params, x, y)),
                 ("torch", lambda: torch_step(tm, topt, tsched, x, y))]
        for name, fn in (order if i % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            losses[name].append(fn())
            secs[name].append(time.perf_counter() - t0)
        if (i + 1) % eval_every == 0 or i + 1 == steps:
            curve["step"].append(i + 1)
            curve["minissl"].append(evaluate_lm(model, val))
            curve["torch"].append(torch_eval(tm, val))
            if progress:
                bar.set_postfix(minissl=f"{curve['minissl'][-1]:.3f}", torch=f"{curve['torch'][-1]:.3f}")
    ms_val, t_val = curve["minissl"][-1], curve["torch"][-1]
    res = {"steps": steps, "seed": seed, "threads": threads, "batch": BATCH, "block_size": T,
           "params": model.num_parameters(), "vocab_size": tok.vocab_size,
           "val_loss_minissl": ms_val, "val_loss_torch": t_val, "val_loss_diff": ms_val - t_val,
           "val_loss_nanogpt_reported": NANOGPT_VAL_LOSS,
           "first_step_loss_diff": abs(losses["minissl"][0] - losses["torch"][0]),
           "train_s_minissl": float(sum(secs["minissl"])), "train_s_torch": float(sum(secs["torch"])),
           "ms_per_step_minissl": 1e3 * float(np.median(secs["minissl"][1:] or secs["minissl"])),
           "ms_per_step_torch": 1e3 * float(np.median(secs["torch"][1:] or secs["torch"])),
           "curve": curve, "machine": machine(torch)}
    res["time_ratio"] = res["train_s_minissl"] / res["train_s_torch"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000, help="training steps (nanoGPT's recipe: 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (the same for both)")
    ap.add_argument("--out", default=os.path.join("runs", "shakespeare_vs_torch.json"))
    a = ap.parse_args()
    if a.steps < 1 or a.threads < 1 or a.seed < 0:
        ap.error("--steps and --threads must be 1 or more, --seed 0 or more")
    res = run(a.steps, a.seed, a.threads)
    for k, v in res.items():
        if k not in ("curve", "machine"):
            print(f"{k:28s} {v:.4g}" if isinstance(v, float) else f"{k:28s} {v}")
    print(f"{'machine':28s} {res['machine']}")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
