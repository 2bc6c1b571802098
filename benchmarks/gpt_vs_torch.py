"""Faithfulness check: minissl's GPT against the same GPT written in PyTorch.

Both models get the same configuration, the same initial weights (copied from
minissl into PyTorch), the same batches in the same order, AdamW with decay on
matrices only, the same warm-up + cosine schedule and gradient clipping. We
report:

* the loss of the first step (same weights, same batch) and after one update;
  both must agree to 1e-4;
* the validation loss after N steps (within 2%: float32 round-off makes the
  two trajectories drift apart slowly, so they cannot agree exactly);
* time per training step (forward + backward + clip + AdamW) as a ratio,
  measured alternately in one process, median over steps; PyTorch gets as many
  threads as NumPy's BLAS uses (2 here);
* peak memory as a ratio: each library trains in its own fresh subprocess
  (so neither sees the other's allocator), the peak resident set size is reset
  after building the model and data (``/proc/self/clear_refs``) and the peak
  increase over the following steps (``VmHWM - VmRSS`` before) is what the
  training step itself needed: activations, gradients and optimizer state.

    python benchmarks/gpt_vs_torch.py             # micro preset, 200 steps
    python benchmarks/gpt_vs_torch.py --quick     # nano preset, 60 steps
    python benchmarks/gpt_vs_torch.py --generation  # KV cache vs none, 256 new tokens
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def torch_modules():
    import torch
    from torch import nn
    import torch.nn.functional as TF

    class Attn(nn.Module):
        def __init__(s, c):
            super().__init__()
            s.n_head = c.n_head
            s.q_proj, s.k_proj, s.v_proj, s.out_proj = (nn.Linear(c.n_embd, c.n_embd, c.bias) for _ in range(4))

        def forward(s, x):
            B, T, E = x.shape
            q, k, v = (p(x).view(B, T, s.n_head, E // s.n_head).transpose(1, 2) for p in (s.q_proj, s.k_proj, s.v_proj))
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return s.out_proj(y.transpose(1, 2).reshape(B, T, E))

    class MLP(nn.Module):
        def __init__(s, c):
            super().__init__()
            s.fc1, s.gelu = nn.Linear(c.n_embd, 4 * c.n_embd, c.bias), nn.GELU(approximate="tanh")
            s.fc2 = nn.Linear(4 * c.n_embd, c.n_embd, c.bias)

        def forward(s, x):
            return s.fc2(s.gelu(s.fc1(x)))

    class Block(nn.Module):
        def __init__(s, c):
            super().__init__()
            s.attn_norm, s.attn, s.mlp_norm, s.mlp = nn.LayerNorm(c.n_embd), Attn(c), nn.LayerNorm(c.n_embd), MLP(c)

        def forward(s, x):
            x = x + s.attn(s.attn_norm(x))
            return x + s.mlp(s.mlp_norm(x))

    class TorchGPT(nn.Module):
        """The same network, parameter names equal to minissl's."""

        def __init__(s, c):
            super().__init__()
            s.wte, s.wpe = nn.Embedding(c.vocab_size, c.n_embd), nn.Embedding(c.block_size, c.n_embd)
            s.h = nn.ModuleList(Block(c) for _ in range(c.n_layer))
            s.ln_f = nn.LayerNorm(c.n_embd)
            s.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
            if c.tie_weights:
                s.lm_head.weight = s.wte.weight

        def forward(s, idx, targets):
            x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device))
            for b in s.h:
                x = b(x)
            logits = s.lm_head(s.ln_f(x))
            return TF.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)

    return TorchGPT


def __getattr__(name):  # ``gpt_vs_torch.TorchGPT`` builds the class on first use (torch imported lazily)
    if name == "TorchGPT":
        return torch_modules()
    raise AttributeError(name)


def copy_weights(model, tmodel):
    import torch
    tp = dict(tmodel.named_parameters())
    with torch.no_grad():
        for name, p in model.named_parameters():
            tp[name].copy_(torch.from_numpy(p.numpy()))
    assert set(tp) == {n for n, _ in model.named_parameters()}, "parameter names differ"


def setup(preset, batch, steps, seed=0):
    import minissl as ms
    from minissl.models.gpt import GPT, GPTConfig, make_optimizer
    from minissl.text import CharTokenizer, load_pydoc_corpus
    train = "\n".join(load_pydoc_corpus("train").texts())
    val = "\n".join(load_pydoc_corpus("validation").texts())
    tok = CharTokenizer.from_corpus(train + val)
    tr, va = np.array(tok.encode(train)), np.array(tok.encode(val))
    ms.manual_seed(seed)
    cfg = GPTConfig.preset(preset, tok.vocab_size)
    T = cfg.block_size
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(tr) - T - 1, size=(steps, batch))  # the data order, fixed up front
    batches = [(tr[s[:, None] + np.arange(T)], tr[s[:, None] + np.arange(1, T + 1)]) for s in starts]
    vs = np.arange(0, len(va) - T - 1, T)[:64]
    val_batches = [(va[vs[i:i + 16, None] + np.arange(T)], va[vs[i:i + 16, None] + np.arange(1, T + 1)])
                   for i in range(0, len(vs), 16)]
    model = GPT(cfg)
    opt, sched = make_optimizer(model, lr=1e-3, weight_decay=0.1, warmup=max(1, steps // 10), total_steps=steps)
    return model, opt, sched, batches, val_batches


def torch_setup(model, sched):
    import torch
    tm = torch_modules()(model.config)
    copy_weights(model, tm)
    dec = [p for p in tm.parameters() if p.ndim >= 2]
    rest = [p for p in tm.parameters() if p.ndim < 2]
    g0 = sched.optimizer.param_groups[0]
    topt = torch.optim.AdamW([{"params": dec, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                             lr=g0["initial_lr"], betas=g0["betas"], eps=g0["eps"])
    tsched = torch.optim.lr_scheduler.LambdaLR(topt, sched.lr_lambda)
    return tm, topt, tsched


def ms_step(model, opt, sched, params, x, y):
    import minissl as ms
    loss = model(x, y).loss
    opt.zero_grad()
    loss.backward()
    ms.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()
    return loss.item()


def torch_step(tm, topt, tsched, x, y):
    import torch
    loss = tm(torch.from_numpy(x), torch.from_numpy(y))
    topt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
    topt.step()
    tsched.step()
    return loss.item()


def torch_eval(tm, val_batches):
    import torch
    with torch.no_grad():
        return float(np.mean([tm(torch.from_numpy(x), torch.from_numpy(y)).item() for x, y in val_batches]))


def peak_memory(lib, preset, batch, steps):
    """Run in a fresh process: peak RSS increase (MiB) over ``steps`` training steps."""
    def status(key):
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) / 1024
    model, opt, sched, batches, _ = setup(preset, batch, steps)
    if lib == "torch":
        import torch
        torch.set_num_threads(2)
        tm, topt, tsched = torch_setup(model, sched)
        del model, opt
        step = lambda x, y: torch_step(tm, topt, tsched, x, y)  # noqa: E731
    else:
        params = list(model.parameters())
        step = lambda x, y: ms_step(model, opt, sched, params, x, y)  # noqa: E731
    import gc
    gc.collect()
    before = status("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark
    for x, y in batches:
        step(x, y)
    return status("VmHWM") - before


def generation_speed(preset="micro", new_tokens=256, prompt_len=16, repeats=3):
    """Seconds to generate ``new_tokens`` greedily with and without the KV cache (median of repeats)."""
    import minissl as ms
    from minissl.models.gpt import GPT, GPTConfig
    ms.manual_seed(0)
    cfg = GPTConfig.preset(preset, 100, block_size=prompt_len + new_tokens)  # no sliding window: the cache is used throughout
    model = GPT(cfg)
    prompt = np.random.default_rng(0).integers(0, 100, size=(1, prompt_len))
    times, outs = {True: [], False: []}, {}
    for _ in range(repeats):
        for use_cache in (True, False):
            t0 = time.perf_counter()
            outs[use_cache] = model.generate(prompt, new_tokens, do_sample=False, use_cache=use_cache)
            times[use_cache].append(time.perf_counter() - t0)
    res = {"preset": preset, "new_tokens": new_tokens, "s_with_cache": float(np.median(times[True])),
           "s_without_cache": float(np.median(times[False])), "identical": bool((outs[True] == outs[False]).all())}
    res["speedup"] = res["s_without_cache"] / res["s_with_cache"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--generation", action="store_true", help="time KV-cache generation only")
    ap.add_argument("--memory", choices=["minissl", "torch"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    preset = a.preset or ("nano" if a.quick else "micro")
    batch = a.batch or (16 if a.quick else 8)
    steps = a.steps or (60 if a.quick else 200)
    if a.generation:
        print(json.dumps(generation_speed(a.preset or "micro"), indent=2))
        return
    if a.memory:
        print(json.dumps(peak_memory(a.memory, preset, batch, 3)))
        return
    import torch
    from tqdm import tqdm
    from minissl.models.gpt import evaluate_lm
    torch.set_num_threads(2)  # OpenBLAS under NumPy uses the 2 cores of this machine
    model, opt, sched, batches, val_batches = setup(preset, batch, steps)
    tm, topt, tsched = torch_setup(model, sched)
    params = list(model.parameters())
    ms_loss, t_loss, ms_t, t_t = [], [], [], []
    for i, (x, y) in enumerate(tqdm(batches, desc="train both")):
        order = [(ms_loss, ms_t, lambda: ms_step(model, opt, sched, params, x, y)),
                 (t_loss, t_t, lambda: torch_step(tm, topt, tsched, x, y))]
        for losses, times, fn in (order if i % 2 == 0 else order[::-1]):  # alternate who goes first
            t0 = time.perf_counter()
            losses.append(fn())
            times.append(time.perf_counter() - t0)
    ms_val, t_val = evaluate_lm(model, val_batches), torch_eval(tm, val_batches)
    mem = {lib: json.loads(subprocess.run([sys.executable, __file__, "--memory", lib, "--preset", preset,
                                           "--batch", str(batch)], capture_output=True, text=True,
                                          check=True).stdout) for lib in ("minissl", "torch")}
    res = {"preset": preset, "batch": batch, "block_size": model.config.block_size, "steps": steps,
           "params": model.num_parameters(),
           "first_step_loss_diff": abs(ms_loss[0] - t_loss[0]), "second_step_loss_diff": abs(ms_loss[1] - t_loss[1]),
           "val_loss_minissl": ms_val, "val_loss_torch": t_val, "val_rel_diff": abs(ms_val - t_val) / t_val,
           "ms_per_step_minissl": 1e3 * float(np.median(ms_t[1:])), "ms_per_step_torch": 1e3 * float(np.median(t_t[1:])),
           "peak_mib_minissl": mem["minissl"], "peak_mib_torch": mem["torch"]}
    res["time_ratio"] = res["ms_per_step_minissl"] / res["ms_per_step_torch"]
    res["memory_ratio"] = mem["minissl"] / mem["torch"]
    for k, v in res.items():
        print(f"{k:24s} {v:.6g}" if isinstance(v, float) else f"{k:24s} {v}")
    ok = res["first_step_loss_diff"] < 1e-4 and res["second_step_loss_diff"] < 1e-4 and res["val_rel_diff"] < 0.02
    print("faithful:", ok)
    os.makedirs("runs", exist_ok=True)
    with open(os.path.join("runs", f"gpt_vs_torch_{preset}.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
