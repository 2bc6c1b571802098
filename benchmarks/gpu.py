"""The GPU path: minissl on CuPy against PyTorch on CUDA, and against minissl on NumPy.

    MINISSL_BACKEND=cupy python benchmarks/run_all.py --gpu [--quick]

Workload: the GPT training step (forward + backward + clipping + AdamW) at a
GPU-sized configuration: 6 layers, 384 wide, 6 heads, sequence 256, batch 64.
minissl (CuPy) and torch (CUDA) run alternately in one process with a device
synchronisation before every clock read; medians, ratio (target ≤ 2×). The
NumPy backend runs the same step in a subprocess (the backend is fixed when
minissl is imported), all CPU cores, for the speed-up. GPU memory: CuPy's
pool size and torch's ``max_memory_reserved`` after the steps (both are what
the process holds on the device). The table is written to
``benchmarks/RESULTS_GPU.md``, which ``run_all.py`` copies into RESULTS.md.
Without CuPy, a GPU or CUDA torch, :func:`run` returns a one-line reason and
nothing else happens.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import benchlib  # noqa: E402

GPU_GPT = dict(n_layer=6, n_head=6, n_embd=384, T=256, B=64)


def unavailable():
    """Why the GPU path cannot run here (None when it can)."""
    if os.environ.get("MINISSL_BACKEND", "numpy").strip().lower() != "cupy":
        return "MINISSL_BACKEND is not 'cupy'"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "torch has no CUDA device"
    import minissl.backend as b  # exits with one clear sentence when CuPy or the GPU is missing
    return None if b.on_gpu else "minissl is not on the GPU"


def numpy_step_ms(cfg, steps=2):
    """Median ms of minissl's step on the NumPy backend, in a fresh process with every CPU core."""
    env = {**os.environ, "MINISSL_BACKEND": "numpy"}
    env.pop("OPENBLAS_NUM_THREADS", None)
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import benchlib, scaling; "
            f"ours, _ = scaling.gpt_steps(**{cfg!r}, torch_device=False); "
            f"t = benchlib.time_alternating({{'m': ours}}, repeats={steps}, warmup=1); "
            "print(benchlib.median_ms(t['m']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def run(quick=False, write=True):
    why = unavailable()
    if why:
        return f"GPU path skipped: {why}."
    import cupy
    import torch
    import scaling
    cfg = dict(GPU_GPT, B=16) if quick else dict(GPU_GPT)

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()

    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    torch.cuda.reset_peak_memory_stats()
    ours, theirs = scaling.gpt_steps(**cfg, torch_device="cuda")
    a, b, r = benchlib.compare(ours, theirs, repeats=5 if quick else 20, warmup=3, sync=sync)
    mem_ms, mem_t = pool.total_bytes() / 2 ** 20, torch.cuda.max_memory_reserved() / 2 ** 20
    cpu = numpy_step_ms(cfg, steps=1 if quick else 2)
    gflop = scaling.gpt_flops(**cfg) / 1e9
    name = torch.cuda.get_device_name()
    md = "\n".join([
        f"{name}; CuPy {cupy.__version__}, torch {torch.__version__}; GPT step, {cfg['n_layer']} layers, "
        f"{cfg['n_embd']} wide, {cfg['n_head']} heads, T={cfg['T']}, batch {cfg['B']} ({gflop:.0f} GFLOP/step).", "",
        "| | minissl (CuPy) | torch (CUDA) | ratio | minissl (NumPy, CPU) | GPU speed-up over NumPy |",
        "|---|---|---|---|---|---|",
        f"| ms per step | {a:.1f} | {b:.1f} | **{r:.2f}** (target ≤ 2) | {cpu:.0f} | {cpu / a:.1f}× |",
        f"| GFLOP/s | {gflop / a * 1e3:.0f} | {gflop / b * 1e3:.0f} | | {gflop / cpu * 1e3:.0f} | |",
        f"| device memory held, MiB | {mem_ms:.0f} | {mem_t:.0f} | {mem_ms / mem_t:.2f} | | |"])
    if write:
        with open(os.path.join(HERE, "RESULTS_GPU.md"), "w") as f:
            f.write(md + "\n")
    return md


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
    if "--json" in sys.argv:
        print(json.dumps({"ok": unavailable() is None}))
