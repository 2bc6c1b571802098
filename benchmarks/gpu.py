"""The GPU path: minissl on CuPy against PyTorch on CUDA (if installed), and against minissl on NumPy.

    MINISSL_BACKEND=cupy python benchmarks/run_all.py --gpu [--quick]

Workloads (training steps: forward + backward + optimizer): the GPT and BERT
steps of the demos (as in the CPU table of run_all.py) and a GPU-sized GPT step,
6 layers, 384 wide, 6 heads, sequence 256, batch 64 (16 with ``--quick``).

* time: minissl (CuPy) and torch (CUDA) alternate in one process, with a device
  synchronisation before every clock read; medians, ratio (target ≤ 2×). Without
  torch's CUDA the torch column says why and the ratio is left out.
* speed-up: the same minissl step on the NumPy backend, in a subprocess (the
  backend is fixed when minissl is imported) with every CPU core.
* GPU memory: CuPy's memory pool after the steps (``total_bytes``: what the pool
  holds, at least the peak in use) and torch's ``max_memory_reserved``, both
  measured from an emptied pool around each workload.

The table goes to ``benchmarks/RESULTS_GPU.md`` (``run_all.py`` copies it into
RESULTS.md) and, as JSON, beside it. Without CuPy on a GPU :func:`run` returns a
one-line reason. Under tests/fakecupy it runs the same code on the CPU
(``--tiny`` shapes), which proves the path, not the numbers.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import benchlib  # noqa: E402

GPU_GPT = dict(n_layer=6, n_head=6, n_embd=384, T=256, B=64)
TINY_GPT = dict(n_layer=1, n_head=2, n_embd=16, T=8, B=2)


def workloads(quick=False, tiny=False):
    """name -> (kind, config): the three steps of the table."""
    import scaling
    if tiny:
        return {"GPT (tiny)": ("gpt", TINY_GPT), "BERT (tiny batch)": ("bert", dict(B=2, T=8))}
    return {"GPT demo step (demos/gpt_text.py)": ("gpt", dict(scaling.DEMO_GPT)),
            "BERT demo step (demos/bert_pretrain_finetune.py)": ("bert", dict(B=32, T=32)),
            f"GPT 6 layers, 384 wide, T=256, batch {16 if quick else GPU_GPT['B']}":
                ("gpt", dict(GPU_GPT, B=16) if quick else dict(GPU_GPT))}


def unavailable():
    """Why minissl cannot run on the GPU here (None when it can)."""
    if os.environ.get("MINISSL_BACKEND", "numpy").strip().lower() != "cupy":
        return "MINISSL_BACKEND is not 'cupy'"
    import minissl.backend as b  # raises BackendError with one clear sentence when CuPy or the GPU is missing
    return None if b.on_gpu else "minissl is not on the GPU"


def torch_cuda():
    """(torch, None) when PyTorch can use CUDA here, else (None, the reason)."""
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    if not torch.cuda.is_available():
        return None, "torch has no CUDA device"
    return torch, None


def steps(kind, cfg, torch_device):
    """(minissl step, torch step or None) for one workload."""
    import bert_step
    import scaling
    if kind == "gpt":
        return scaling.gpt_steps(**cfg, torch_device=torch_device or False)
    ours, theirs, _ = bert_step.steppers(cfg["B"], cfg["T"], device=torch_device or "cpu",
                                         torch_ref=bool(torch_device))
    return ours, theirs


def numpy_step_ms(kind, cfg, repeats=2):
    """Median ms of minissl's step on the NumPy backend, in a fresh process with every CPU core."""
    env = {**os.environ, "MINISSL_BACKEND": "numpy"}
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(v, None)
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import benchlib, gpu; "
            f"ours, _ = gpu.steps({kind!r}, {cfg!r}, None); "
            f"t = benchlib.time_alternating({{'m': ours}}, repeats={repeats}, warmup=1); "
            "print(benchlib.median_ms(t['m']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def measure(kind, cfg, torch, repeats):
    """One row: times, memory and the NumPy speed-up of one workload."""
    import cupy
    pool = cupy.get_default_memory_pool()
    gc.collect()
    pool.free_all_blocks()
    if torch:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    def sync():
        cupy.cuda.Device().synchronize()
        if torch:
            torch.cuda.synchronize()
    ours, theirs = steps(kind, cfg, "cuda" if torch else None)
    fns = {"ours": ours} if theirs is None else {"ours": ours, "theirs": theirs}
    t = benchlib.time_alternating(fns, repeats=repeats, warmup=2, sync=sync)
    row = dict(minissl_ms=benchlib.median_ms(t["ours"]), minissl_mib=pool.total_bytes() / 2 ** 20)
    if theirs is not None:
        row.update(torch_ms=benchlib.median_ms(t["theirs"]), torch_mib=torch.cuda.max_memory_reserved() / 2 ** 20)
        row["ratio"] = row["minissl_ms"] / row["torch_ms"]
    del ours, theirs, fns
    return row


def run(quick=False, write=True, tiny=False):
    """Measure every workload; returns the Markdown table (or a one-line reason it cannot run)."""
    why = unavailable()
    if why:
        return f"GPU path skipped: {why}."
    import cupy
    import scaling
    torch, no_torch = torch_cuda()
    reps = 3 if tiny else 5 if quick else 20
    rows = {}
    for name, (kind, cfg) in workloads(quick, tiny).items():
        print(f"  {name} ...", flush=True)
        try:
            row = measure(kind, cfg, torch, reps)
            row["numpy_ms"] = numpy_step_ms(kind, cfg, repeats=1 if quick or tiny else 2)
            row["speedup"] = row["numpy_ms"] / row["minissl_ms"]
            if kind == "gpt":
                row["gflop"] = scaling.gpt_flops(**cfg) / 1e9
        except Exception as e:  # noqa: BLE001 - one failing workload must not hide the others
            row = dict(error=f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}")
        rows[name] = row
        print(f"    {row}", flush=True)
    props = cupy.cuda.runtime.getDeviceProperties(0)
    device = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    import minissl.backend as b
    context = (f"Measured {time.strftime('%Y-%m-%d', time.gmtime())}; the NumPy column is the same step with "
               f"minissl on NumPy on the GPU machine's own {os.cpu_count()} CPU cores; minissl's fused CuPy kernels "
               + ("on." if b.SPEEDUPS else "off (MINISSL_SPEEDUPS=0)."))
    md = table(device, cupy.__version__, cupy.cuda.runtime.runtimeGetVersion(),
               torch.__version__ if torch else no_torch, rows, context)
    if write:
        with open(os.path.join(HERE, "RESULTS_GPU.md"), "w") as f:
            f.write(md + "\n")
        with open(os.path.join(HERE, "RESULTS_GPU.json"), "w") as f:
            json.dump(dict(device=device, cupy=cupy.__version__, rows=rows), f, indent=1)
    return md


def table(device, cupy_version, cuda_runtime, torch_info, rows, context=""):
    """The Markdown table of :func:`run`'s rows (a row with ``error`` says what failed), after ``context``."""
    def f(row, key, fmt):
        return fmt.format(row[key]) if key in row else "-"
    lines = [f"{device}; CuPy {cupy_version} (CUDA runtime {cuda_runtime}); torch: {torch_info}."
             + (f" {context}" if context else ""), "",
             "| workload | minissl CuPy ms | torch CUDA ms | ratio (target ≤ 2) | minissl NumPy ms (CPU) "
             "| GPU speed-up | minissl GPU MiB | torch GPU MiB |", "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | | |")
            continue
        lines.append(f"| {name} | {r['minissl_ms']:.1f} | {f(r, 'torch_ms', '{:.1f}')} | "
                     f"{f(r, 'ratio', '**{:.2f}**')} | {r['numpy_ms']:.0f} | {r['speedup']:.1f}× | "
                     f"{r['minissl_mib']:.0f} | {f(r, 'torch_mib', '{:.0f}')} |")
    return "\n".join(lines)


def info():
    """The GPU, CuPy, CUDA, NumPy and torch versions, and which fused kernels minissl uses (one line each)."""
    import cupy
    import numpy
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    lines = [f"{name}, {props.get('totalGlobalMem', 0) / 2 ** 30:.0f} GiB; CuPy {cupy.__version__}; CUDA runtime "
             f"{rt.runtimeGetVersion()}, driver {rt.driverGetVersion()}; NumPy {numpy.__version__}"]
    torch, no_torch = torch_cuda()
    lines.append(f"torch {torch.__version__} on CUDA" if torch else f"torch: {no_torch}")
    import minissl.backend as b
    lines.append(f"minissl backend {b.NAME} (on GPU: {b.on_gpu}); fused kernels: "
                 + ", ".join(k for k in b.speedups.FUSED if getattr(b.fused, k) is not None))
    return "\n".join(lines)


if __name__ == "__main__":
    print(info() if "--info" in sys.argv else run("--quick" in sys.argv, tiny="--tiny" in sys.argv))
