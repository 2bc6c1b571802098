"""What every demo shares: the command line, the output folder, tables and figures.

Each demo is run as ``python demos/<name>.py [--quick] [--out DIR] [--seed N]``
and writes ``metrics.json`` (the numbers it claims) and PNG figures into
``--out`` (default ``runs/<name>``). Keeping this in one place means every
demo behaves the same way and the tour can read every result the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a clone without installing

import minissl as ms  # noqa: E402


def parse_args(name: str, description: str, argv=None, **extra):
    """Standard flags plus ``extra`` ones given as ``flag=(type, default, help)``.

    Seeds minissl and returns the parsed namespace with ``args.out`` created.
    """
    p = argparse.ArgumentParser(prog=f"demos/{name}.py", description=description)
    p.add_argument("--quick", action="store_true", help="a smaller run that finishes in about a minute on a CPU")
    p.add_argument("--out", default=os.path.join("runs", name), help="folder for metrics.json and figures")
    p.add_argument("--seed", type=int, default=0, help="random seed (runs are reproducible)")
    for flag, (typ, default, text) in extra.items():
        if typ is bool:
            p.add_argument(f"--{flag.replace('_', '-')}", action="store_true", help=text)
        else:
            p.add_argument(f"--{flag.replace('_', '-')}", type=typ, default=default, help=text)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    ms.manual_seed(args.seed)
    args.started = time.time()
    return args


def save_metrics(args, metrics: dict) -> str:
    """Write ``metrics.json`` (plus run time, backend and flags) and return its path."""
    metrics = dict(metrics)
    metrics.setdefault("seconds", round(time.time() - args.started, 1))
    metrics.setdefault("backend", ms.backend.NAME)
    metrics.setdefault("quick", bool(getattr(args, "quick", False)))
    path = os.path.join(args.out, "metrics.json")
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2, default=float)
    return path


def print_table(rows, headers, title=None):
    """A plain-text table: ``rows`` is a list of sequences, floats shown with 3 decimals."""
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    if title:
        print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def plt():
    """matplotlib.pyplot with a file-only backend (works on machines without a screen)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def savefig(fig, args, name: str) -> str:
    path = os.path.join(args.out, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt().close(fig)
    return path
