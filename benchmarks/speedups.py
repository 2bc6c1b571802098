"""What each CPU trick of minissl/speedups.py buys on the demos' training steps, and what a rejected one would.

    python benchmarks/speedups.py [--repeats 20] [--rounds 5] [--json out.json]

Each trick is switched off and on in turn around whole training steps (the GPT
and BERT steps of ``run_all.py``: forward + backward + AdamW), in one process,
alternating; medians of process CPU time (user + system: page faults and page
zeroing are charged to the process, other jobs' load on a shared machine is
not); ratio = on / off, below 1 is faster. The allocator setting is fixed per
process, so it alternates fresh processes with ``MINISSL_KEEP_FREED_MEMORY``
0 and 1. The row scatter-add is also timed on a CBOW epoch (gensim's lee corpus),
where word2vec updates are most of the work. Rejected candidates, measured so the
decision rests on a number: Adam's update through one scratch array instead of the
formula's temporaries, and the float32 erf fit in place of SciPy's erf.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import benchlib  # noqa: E402


def adam_scratch(g, b1, b2, step, sqrt_bc2, eps, decay, p, m, v):
    """The rejected candidate: optim.Adam's formula through one scratch array."""
    tmp = g * (1 - b1)
    m *= b1
    m += tmp
    np.multiply(g, g, out=tmp)
    tmp *= 1 - b2
    v *= b2
    v += tmp
    if decay != 1.0:
        p *= decay
    np.sqrt(v, out=tmp)
    tmp /= sqrt_bc2
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= step
    p -= tmp


def switches():
    """name -> (switch off, switch on): each puts one trick out of or into minissl's path."""
    from scipy.special import erf as exact_erf

    from minissl import backend, speedups
    rows, gelu = speedups.rows_of_matrix, backend.fused.gelu

    def setter(obj, name, off, on):
        return (lambda: setattr(obj, name, off)), (lambda: setattr(obj, name, on))
    return {"in-place GELU": setter(backend.fused, "gelu", None, gelu),
            "scatter_add_rows": setter(speedups, "rows_of_matrix", lambda *a: False, rows),
            "float32 erf fit over SciPy (rejected)": setter(backend, "_erf_scipy", exact_erf, None),
            "adam scratch buffer (rejected)": setter(backend.fused, "adam", None, adam_scratch)}


def steps():
    import bert_step
    import scaling
    return {"GPT": scaling.gpt_steps(**scaling.DEMO_GPT, torch_device=False)[0],
            "BERT": bert_step.steppers(32, 32)[0]}


def cbow_epoch():
    """One CBOW epoch on gensim's lee_background corpus (its word2vec updates scatter rows)."""
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess

    from minissl.models.word2vec import train_cbow
    lee = [simple_preprocess(line) for line in open(datapath("lee_background.cor"), encoding="utf-8")]
    return lambda: train_cbow(lee, epochs=1, progress=False)


def in_process(repeats):
    rows = []
    todo = dict(steps())
    try:
        todo["CBOW epoch"] = cbow_epoch()
    except ImportError:
        print("  (gensim not installed: no CBOW row)")
    for step_name, step in todo.items():
        for trick, (off, on) in switches().items():
            if step_name.startswith("CBOW") and trick != "scatter_add_rows":
                continue
            reps = repeats if not step_name.startswith("CBOW") else max(3, repeats // 4)
            def with_(switch):
                def run():
                    switch()
                    step()
                return run
            t = benchlib.time_alternating({"off": with_(off), "on": with_(on)}, repeats=reps, warmup=1)
            on()
            a, b = benchlib.median_ms(t["off"]), benchlib.median_ms(t["on"])
            rows.append(dict(trick=trick, step=step_name, off_ms=a, on_ms=b, ratio=b / a))
            print(f"  {trick:38s} {step_name:10s} off {a:7.1f} ms  on {b:7.1f} ms  ratio {b / a:.3f}", flush=True)
    return rows


def allocator(rounds, repeats):
    """GPT and BERT step ms with the allocator setting off and on, fresh processes, alternating."""
    code = ("import sys; sys.path.insert(0, %r); import benchlib, speedups; benchlib.set_threads(1); "
            "benchlib.use_cpu_clock(); s = speedups.steps(); "
            "print(*[benchlib.median_ms(benchlib.time_alternating({'m': f}, repeats=%d, warmup=2)['m']) "
            "for f in s.values()])" % (HERE, repeats))
    got = {"0": [], "1": []}
    for r in range(rounds):
        for flag in ("0", "1") if r % 2 == 0 else ("1", "0"):
            env = {**os.environ, "MINISSL_KEEP_FREED_MEMORY": flag, "MINISSL_BACKEND": "numpy"}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            got[flag].append([float(v) for v in out.stdout.split()])
    rows = []
    for i, step_name in enumerate(("GPT", "BERT")):
        a, b = (float(np.median([v[i] for v in got[k]])) for k in ("0", "1"))
        rows.append(dict(trick="glibc keeps freed memory", step=step_name, off_ms=a, on_ms=b, ratio=b / a,
                         rounds={k: [v[i] for v in got[k]] for k in got}))
        print(f"  {'glibc keeps freed memory':38s} {step_name:10s} off {a:7.1f} ms  on {b:7.1f} ms  ratio {b / a:.3f}"
              f"  (median of {rounds} processes each)", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20, help="steps per contender")
    p.add_argument("--rounds", type=int, default=5, help="fresh processes per setting for the allocator")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args()
    benchlib.set_threads(1)
    benchlib.use_cpu_clock()
    rows = in_process(args.repeats) + allocator(args.rounds, max(5, args.repeats // 3))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=benchlib.machine(), rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
