"""Shared benchmark machinery: one timer, one memory probe, one thread setting.

Every benchmark script uses these, so that a ratio in one table means the same
thing as a ratio in another:

* :func:`set_threads` gives NumPy's BLAS (through threadpoolctl) and PyTorch the
  same number of threads. On a loaded 2-core machine, OpenBLAS with 2 threads
  can be several times slower than with 1 (its threads spin-wait for a core),
  so comparing 2 NumPy threads against 1 torch thread, or the reverse, says
  nothing about the libraries.
* :func:`time_alternating` runs the contenders in turn (A B, B A, A B ...), so
  a burst of load from another process hits both alike, and returns every
  sample; tables report medians.
* :func:`peak_memory` runs one training step's setup in a *fresh* subprocess,
  resets the peak resident set size after the model, data and both libraries
  are loaded (``/proc/self/clear_refs``), runs the steps and reports how far
  the peak rose (``VmHWM`` after minus ``VmRSS`` before): the memory the steps
  themselves need (activations, gradients, optimizer state), measured the same
  way for NumPy's allocations and torch's.
* :func:`matmul_gflops` is the machine's float32 matmul throughput, measured
  with NumPy's own ``a @ b`` on large square matrices: the physical limit a
  training step made of matmuls can approach.
"""
from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def blas_threads():
    """How many threads NumPy's BLAS uses (None without threadpoolctl, which comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=None)


_limiter = None

# Wall-clock time by default. ``use_cpu_clock()`` switches every timer to the
# process's CPU time: on a machine shared with other jobs, wall time mostly
# measures the scheduler, while CPU time of a single-threaded run is the work
# itself (with more threads, spinning BLAS threads would inflate it).
CLOCK = time.perf_counter


def use_cpu_clock(flag=True):
    global CLOCK
    CLOCK = time.process_time if flag else time.perf_counter
    return CLOCK


def set_threads(n=None, torch=None):
    """Use ``n`` threads in NumPy's BLAS and in torch (default: what the BLAS uses now). Returns n."""
    global _limiter
    n = n or blas_threads() or os.cpu_count()
    try:
        from threadpoolctl import threadpool_limits
        _limiter = threadpool_limits(limits=n, user_api="blas")  # kept alive: the limit lasts while it does
    except ImportError:
        pass
    if torch is None:
        try:
            import torch
        except ImportError:
            torch = None
    if torch is not None:
        torch.set_num_threads(n)
    return n


def machine(torch=None):
    """A description of where the numbers come from (for RESULTS.md)."""
    cpu = platform.processor() or "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas_threads": blas_threads()}
    if torch is not None:
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    try:
        info["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def time_alternating(fns, repeats=10, warmup=2, sync=None, clock=None):
    """Time each callable of ``fns`` (name -> fn) ``repeats`` times, taking turns.

    The order rotates every round so no contender always runs right after the
    same other one. ``sync`` (e.g. ``torch.cuda.synchronize``) is called before
    each clock read for asynchronous devices. ``clock`` defaults to :data:`CLOCK`.
    Returns name -> list of seconds.
    """
    clock = clock or CLOCK
    names = list(fns)
    sync = sync or (lambda: None)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    sync()
    times = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t0 = clock()
            fns[n]()
            sync()
            times[n].append(clock() - t0)
    return times


def median_ms(samples):
    return 1e3 * statistics.median(samples)


def compare(ours, theirs, repeats=10, warmup=2, sync=None, clock=None):
    """Alternate two callables; returns (ms ours, ms theirs, ratio ours/theirs) from the medians."""
    t = time_alternating({"ours": ours, "theirs": theirs}, repeats, warmup, sync, clock)
    a, b = median_ms(t["ours"]), median_ms(t["theirs"])
    return a, b, a / b


def matmul_workload(n=2048):
    """(fn, flops): NumPy's float32 ``a @ b`` on n×n matrices, to time next to a training step."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return (lambda: a @ b), 2 * n ** 3


def matmul_gflops(n=2048, repeats=5):
    """Best float32 GFLOP/s of NumPy's ``a @ b`` on n×n matrices (2n³ flops each)."""
    fn, flops = matmul_workload(n)
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return flops / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- peak memory
def _status_mib(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024


def _release_free_heap():
    """Give memory that is free but kept by malloc back to the OS, so the baseline
    RSS holds only live data (minissl asks glibc to keep freed memory, see
    ``minissl.backend``; without this the steps could reuse memory that the
    setup freed, and their peak would look smaller than it is)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure_step_memory(step, steps=3):
    """Peak RSS increase (MiB) while running ``step()`` ``steps`` times in *this* process.

    Meant for a fresh process (see :func:`peak_memory`): resets the high-water
    mark first, so what came before (imports, model, data) does not count.
    """
    gc.collect()
    _release_free_heap()
    before = _status_mib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:  # not Linux, or not allowed: the peak then includes the setup
        pass
    for _ in range(steps):
        step()
    return _status_mib("VmHWM") - before


def peak_memory(target, kwargs, steps=3, threads=None, env=None):
    """Run ``module:function(**kwargs)`` (which returns a step callable) in a fresh
    subprocess and return the peak RSS increase of ``steps`` calls, in MiB.

    Both NumPy and torch are imported in the child whichever library is measured,
    so the two children start from the same footprint.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--peak", target, json.dumps(kwargs), str(steps),
           str(threads or 0)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode:
        raise RuntimeError(f"memory child {target} {kwargs} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def _child(target, kwargs, steps, threads):
    try:
        import torch  # noqa: F401  same import footprint in both children
    except ImportError:
        torch = None
    set_threads(int(threads) or None, torch)
    mod, fn = target.split(":")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    step = getattr(importlib.import_module(mod), fn)(**json.loads(kwargs))
    # no step before the reset: the optimizer state, built lazily by the first step, counts in the peak
    print(json.dumps({"peak_mib": max(measure_step_memory(step, int(steps)), 0.0)}))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--peak":
    _child(*sys.argv[2:6])


# ---------------------------------------------------------------- where the time goes
def _op_methods():
    """(file, first line) of every minissl op's forward/backward -> "Op.forward" / "Op.backward"."""
    from minissl.tensor import Function
    names, todo = {}, list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        for meth in ("forward", "backward"):
            f = cls.__dict__.get(meth)
            if f is not None:
                names[(f.__code__.co_filename, f.__code__.co_firstlineno)] = f"{cls.__name__}.{meth}"
    return names


def profile_by_op(fn, steps=5, top=8):
    """Run ``fn`` ``steps`` times under cProfile; own time grouped by minissl op.

    Returns (seconds per call in all, [(label, seconds per call), ...] largest first).
    Time spent in NumPy inside an op's forward/backward counts for that op.
    """
    import cProfile
    import pstats
    prof = cProfile.Profile(CLOCK)
    prof.enable()
    for _ in range(steps):
        fn()
    prof.disable()
    stats, ops = pstats.Stats(prof).stats, _op_methods()
    # a C function's time goes to the op method that called it (own time is all cProfile gives)
    def label(path, line):
        if (path, line) in ops:
            return ops[path, line]
        for part, name in (("optim.py", "optimizer step"),
                           ("tensor.py", "tensor.py: op dispatch and autograd (graph, backward walk)"),
                           ("utils.py", "gradient clipping")):
            if path.endswith(part):
                return name
        return None

    groups, total = {}, 0.0
    for (path, line, name), (_, _, tottime, _, callers) in stats.items():
        total += tottime
        key, where, hops = label(path, line), (path, line, name), 0
        while key is None and hops < 6 and stats.get(where, (0, 0, 0, 0, {}))[4]:
            # NumPy's C code and its Python wrappers: the time goes to the op (or
            # engine) that called them, found through the heaviest caller
            where = max(stats[where][4].items(), key=lambda kv: kv[1][2])[0]
            key, hops = label(*where[:2]), hops + 1
        key = key or "other Python (modules, shape ops, glue)"
        groups[key] = groups.get(key, 0.0) + tottime
    ranked = sorted(((k, v / steps) for k, v in groups.items()), key=lambda kv: -kv[1])
    return total / steps, ranked[:top]
