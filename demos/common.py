"""What every demo shares: the command line, the output folder, tables and figures.

Each demo is run as ``python demos/<name>.py [--quick] [--out DIR] [--seed N]``
and writes ``metrics.json`` (the numbers it claims) and PNG figures into
``--out`` (default ``runs/<name>``). Keeping this in one place means every
demo behaves the same way and the tour can read every result the same way.

Every flag has a validating ``type=`` from this file (``positive_int``,
``prob``, ``existing_text_file``, ``output_dir`` ...): a bad value stops the
demo in one line that names the flag and the fix, before anything is trained.

Claims (DESIGN §9). A demo states each claim as "this difference is above 0"
and measures the difference once per seed (or gets an interval over test items
from ``minissl.metrics.bootstrap_ci``). ``claim(text, per_seed_differences)``
turns that into one row::

    {"claim": text, "value": mean, "lo": ..., "hi": ...,   # 95% interval (mean_ci)
     "n": seeds, "values": [...], "verdict": "holds" | "does not hold" | "not significant"}

(``claim_from_interval`` takes an interval computed another way; ``claim_paired``
bootstraps one run's per-item scores of the claimed arm against the alternative). The demo puts
the rows in ``metrics["claims"]`` (a list), prints them with ``print_claims``
as its final table, and ``save_metrics`` adds ``verdict_counts``. The tour
reads every demo's ``claims`` into one table with the verdict column and counts
the verdicts in its summary, so a new demo only has to follow this shape.
Extra keys (task, budget, ...) may ride along in a row; ``where`` (e.g. "probe,
topic, 50/class") is shown after the claim, so one claim measured in several
settings stays one sentence. A claim that does not hold stays in the list: that
is a finding.
"""
from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import sys
import time

try:  # minissl is installed (pip install -e . from the clone), so no path is edited here
    import minissl as ms
except ImportError as _e:
    if type(_e).__name__ != "BackendError":
        raise
    # A bad MINISSL_BACKEND is the user's setting, not a bug: one line, not an import traceback.
    raise SystemExit(f"minissl: {_e}") from None


# ---------------------------------------------------------------- argument types
# argparse calls these on the flag's text (and on string defaults). Raising
# ArgumentTypeError makes argparse print "argument --flag: <message>", so each
# message only says what is wrong with the value and what to give instead.

MAX_SEED = 2**31 - 1  # scikit-learn's random_state takes < 2**32; demos add small offsets to the seed


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (steps, epochs, widths, batch sizes)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}; give 1 or more")
    return value


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seed(text: str) -> int:
    """A random seed: an integer from 0 to MAX_SEED (NumPy and scikit-learn refuse negative seeds)."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {value}")
    return value


def multiple_of(k: int):
    """A positive integer divisible by ``k`` (a width split over ``k`` attention heads)."""
    def check(text: str) -> int:
        value = positive_int(text)
        if value % k:
            raise argparse.ArgumentTypeError(f"must be a multiple of {k} (the attention heads), got {value}; "
                                             f"try {max(k, value - value % k)}")
        return value
    check.__name__ = f"multiple_of_{k}"
    return check


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, temperatures)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value:g}")
    return value


def nonneg_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value:g}")
    return value


def prob(text: str) -> float:
    """A probability or fraction: a number from 0 to 1."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, got {value:g}")
    return value


def one_of(*choices, cast=str):
    """Exactly one of ``choices`` (argparse's ``choices=``, with the same one-line message as the other types)."""
    def check(text: str):
        value = _int(text) if cast is int else cast(text)
        if value not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(map(str, choices))}")
        return value
    check.__name__ = "one_of"
    return check


def comma_list(*choices, empty_means_all=False):
    """Comma-separated names, each one of ``choices``; the text is returned as given (the demo splits it).

    An empty list is refused unless the demo reads it as "all of them".
    """
    def check(text: str) -> str:
        names = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [t for t in names if t not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; choose from "
                                             f"{','.join(choices)}")
        if not names and not empty_means_all:
            raise argparse.ArgumentTypeError(f"names nothing; choose from {','.join(choices)}")
        return text
    check.__name__ = "comma_list"
    return check


_SNIFF = 1 << 20  # read at most 1 MB to vet a text file: cheap, and catches binary and non-UTF-8 files


def existing_text_file(text: str) -> str:
    """A non-empty UTF-8 text file. Only the first megabyte is read: enough to tell text
    from a binary file, a UTF-16 file or a Latin-1 file, without loading a big corpus twice."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file; pass the path of a UTF-8 text file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text} is not a file; pass the path of a UTF-8 text file")
    try:
        with open(text, "rb") as f:
            head = f.read(_SNIFF)
            more = bool(f.read(1))
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{text} cannot be read ({e.strerror}); check its permissions") from None
    if not head.strip():
        raise argparse.ArgumentTypeError(f"{text} is empty; pass a file with some text in it")
    if head.count(0) > len(head) // 100:  # text has no NUL bytes; binaries and UTF-16 have many
        raise argparse.ArgumentTypeError(f"{text} looks binary (or UTF-16): it has NUL bytes; pass a UTF-8 "
                                         "text file, e.g. `iconv -f utf-16 -t utf-8`")
    try:  # final=False: the megabyte may end inside a character, which is not an error
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=not more)
    except UnicodeDecodeError as e:
        raise argparse.ArgumentTypeError(f"{text} is not UTF-8 (byte 0x{head[e.start]:02x} at offset {e.start}); "
                                         "convert it first, e.g. `iconv -f latin1 -t utf-8`") from None
    return text


def text_file_or_folder(text: str) -> str:
    """A UTF-8 text file, or a folder of them (every ``.txt`` file below it, as ``load_text_corpus`` reads)."""
    if not os.path.isdir(text):
        return existing_text_file(text)
    files = sorted(os.path.join(d, n) for d, _, names in os.walk(text) for n in names if n.endswith(".txt"))
    if not files:
        raise argparse.ArgumentTypeError(f"folder {text} has no .txt files; add some or pass a file")
    for f in files:
        existing_text_file(f)  # names the bad file, not just the folder
    return text


def checkpoint_dir(text: str) -> str:
    """A folder written by ``save_pretrained`` (it holds ``config.json``)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: no such folder; pass a folder written by save_pretrained "
                                         "(e.g. runs/bert_pretrain_finetune/pretrained), or leave the flag out")
    if not os.path.isfile(os.path.join(text, "config.json")):
        raise argparse.ArgumentTypeError(f"{text} has no config.json, so it is not a saved model; pass a folder "
                                         "written by save_pretrained, or leave the flag out")
    return text


def output_dir(text: str) -> str:
    """A folder that exists and is writable, or that can be created. It is not created here
    (argparse also calls this on the default); ``parse_args`` creates it once every flag is valid."""
    if not text:
        raise argparse.ArgumentTypeError("is empty; pass a folder name such as runs/mine")
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is an existing file, not a folder; pass a folder name")
    parent = os.path.abspath(text)
    while not os.path.exists(parent):  # the nearest part of the path that exists must be a writable folder
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text} cannot be created: {parent} is a file; pass another folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not writable ({parent} denies writing); pass another folder")
    return text


def run_folders(text: str) -> list:
    """Comma-separated output folders of earlier runs, each holding a metrics.json (for ``--merge``)."""
    folders = [t.strip() for t in text.split(",") if t.strip()]
    missing = [f for f in folders if not os.path.isfile(os.path.join(f, "metrics.json"))]
    if not folders or missing:
        raise argparse.ArgumentTypeError(f"{', '.join(missing) or repr(text)}: no metrics.json there; pass folders "
                                         "that this demo wrote with --out")
    return folders


def load_runs(folders, demo: str, same=("settings",)) -> list:
    """The metrics.json of each earlier run (``--merge``): seeds run as parallel processes, summarised
    as one run. Every run must agree on the keys in ``same`` (one configuration), and no seed may
    appear twice (a seed counted twice narrows the interval for nothing)."""
    runs = []
    for d in folders:
        with open(os.path.join(d, "metrics.json")) as f:
            m = json.load(f)
        for key in same:
            if runs and m.get(key) != runs[0].get(key):
                raise SystemExit(f"demos/{demo}.py: {d} was run with another {key} ({m.get(key)} vs "
                                 f"{runs[0].get(key)} in {folders[0]}); merge only runs of one configuration")
        runs.append(m)
    seeds = [s for m in runs for s in m["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"demos/{demo}.py: the merged runs repeat a seed ({seeds}); give each run its own --seed")
    return runs


class DemoArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line refusal: ``prog: error: argument --flag: why; fix`` and exit code 2.

    argparse's own error prints the whole usage block first; for a demo with a
    dozen flags that buries the one line that matters. ``--help`` still shows it.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(name: str, description: str, **extra) -> DemoArgumentParser:
    """The standard flags plus ``extra`` ones given as ``flag=(type, default, help)``.

    ``type`` is one of the validating types above (``bool`` makes a switch).
    """
    p = DemoArgumentParser(prog=f"demos/{name}.py", description=description)
    p.add_argument("--quick", action="store_true", help="a smaller run that finishes in about a minute on a CPU")
    p.add_argument("--out", type=output_dir, default=os.path.join("runs", name),
                   help="folder for metrics.json and figures")
    p.add_argument("--seed", type=seed, default=0, help="random seed (runs are reproducible)")
    for flag, (typ, default, text) in extra.items():
        if typ is bool:
            p.add_argument(f"--{flag.replace('_', '-')}", action="store_true", help=text)
        else:
            p.add_argument(f"--{flag.replace('_', '-')}", type=typ, default=default, help=text)
    return p


def parse_args(name: str, description: str, argv=None, check=None, **extra):
    """Parse the command line (``extra`` as in ``build_parser``), refusing bad values in one line.

    ``check(args)`` may return a message about flags that are only wrong together
    (each alone is valid); it is refused the same way. Seeds minissl and returns
    the parsed namespace with ``args.out`` created.
    """
    p = build_parser(name, description, **extra)
    args = p.parse_args(argv)
    problem = check(args) if check else None
    if problem:
        p.error(problem)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:  # checked above, but the disk can still say no (full, read-only mount)
        p.error(f"argument --out: cannot create {args.out} ({e.strerror})")
    ms.manual_seed(args.seed)
    args.started = time.time()
    return args


# ---------------------------------------------------------------- claims
VERDICTS = ("holds", "does not hold", "not significant")


def claim_from_interval(text: str, value: float, lo, hi, n=None, **extra) -> dict:
    """A claims row (see the module docstring) from an interval [lo, hi] for the difference claimed > 0."""
    from minissl.metrics import verdict
    return {"claim": text, "value": float(value), "lo": None if lo is None else float(lo),
            "hi": None if hi is None else float(hi), "n": n, "verdict": verdict(lo, hi), **extra}


def claim(text: str, differences, **extra) -> dict:
    """A claims row from per-seed values of the difference claimed > 0: mean and 95% t interval
    (``minissl.metrics.mean_ci``; one seed gives no interval and the verdict "not significant")."""
    from minissl.metrics import mean_ci
    ci = mean_ci(differences)
    return claim_from_interval(text, ci["mean"], ci["lo"], ci["hi"], ci["n"], values=ci["values"], **extra)


def claim_paired(text: str, claimed, alternative, seed: int = 0, **extra) -> dict:
    """A claims row from one run scored item by item: mean(claimed - alternative) over the test
    items (windows, prompts, pairs), with the 95% paired percentile bootstrap over those items
    (``minissl.metrics.bootstrap_ci``); ``n`` is the number of items, ``interval`` says so."""
    import numpy as np
    from minissl.metrics import bootstrap_ci
    d = np.asarray(claimed, dtype=float) - np.asarray(alternative, dtype=float)
    b = bootstrap_ci(np.mean, d, seed=seed)
    return claim_from_interval(text, b["value"], b["lo"], b["hi"], len(d), interval="paired bootstrap over items",
                               **extra)


def verdict_counts(claims) -> dict:
    """{"holds": k, "does not hold": k, "not significant": k} over claims rows."""
    return {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}


def claim_cells(c) -> list:
    """[claim (where), difference, 95% interval, n, verdict] as text: one line of a claims table."""
    iv = "no interval" if c.get("lo") is None else f"[{c['lo']:+.3f}, {c['hi']:+.3f}]"
    text = f"{c['claim']} ({c['where']})" if c.get("where") else c["claim"]
    return [text, f"{c['value']:+.3f}", iv, "" if c.get("n") is None else str(c["n"]), c["verdict"]]


CLAIM_HEADERS = ["claim (difference > 0)", "difference", "95% interval", "n", "verdict"]


def print_claims(claims, title="Claims"):
    """The demo's final table: one row per claim with its verdict, then the counts."""
    print_table([claim_cells(c) for c in claims], CLAIM_HEADERS, title=title)
    print("verdicts: " + ", ".join(f"{k} {v}" for v, k in verdict_counts(claims).items()))


def save_metrics(args, metrics: dict) -> str:
    """Write ``metrics.json`` (plus run time, backend, flags, and ``verdict_counts`` of a
    ``claims`` list) and return its path."""
    metrics = dict(metrics)
    if isinstance(metrics.get("claims"), list) and all(isinstance(c, dict) and "verdict" in c
                                                        for c in metrics["claims"]):
        metrics.setdefault("verdict_counts", verdict_counts(metrics["claims"]))
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


# ---------------------------------------------------------------- skipping
# A demo that cannot run on this machine (a checkpoint or data set is not installed) is
# not a failure: it says why in one line and exits with this status, which the tour
# reports as "skipped" with that line. 77 is the "skipped" status of automake's test driver.
EXIT_SKIPPED = 77



def one_blas_thread():
    """Run the BLAS library (OpenBLAS or MKL behind NumPy) on one thread, from here on.

    For demos whose matrix products are small: splitting a small GEMM over threads
    costs more in hand-over than it saves, and on a shared 2-core CPU the threads
    also compete with the rest of the machine. Called explicitly in a demo's ``main``,
    never as a side effect of an import (threadpoolctl comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1, user_api="blas")

def skip(name: str, why: str):
    """Stop demo ``name`` here: ``why`` (what is missing, then ``run: <the fix>``) on stderr, exit EXIT_SKIPPED."""
    print(f"{name}: {why}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_SKIPPED)


def require_data(name: str, *datasets_needed):
    """Skip demo ``name`` (see :func:`skip`) unless every ``minissl.datasets`` set it names is here."""
    from minissl import datasets
    for d in datasets_needed:
        if not datasets.present(d):
            skip(name, f"the {d} data set is missing; run: python -m minissl.datasets fetch {d}")
