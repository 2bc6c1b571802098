"""The scripts in demos/ for tests: imported in-process to call their functions, or run end to end.

A demo imports its helpers as ``common`` (demos/common.py, found because a script's
own folder is on ``sys.path``); the benchmarks' helpers are ``benchlib``, so both
folders can sit on the path of one pytest process without shadowing each other.
``run_demo`` runs a demo end to end in its own process and reads back its metrics.json.
"""
import importlib
import json
import os
import pathlib
import subprocess
import sys

DEMOS = pathlib.Path(__file__).resolve().parents[1] / "demos"


def import_demo(name: str):
    """The module demos/<name>.py (``"common"`` gives demos/common.py itself)."""
    if str(DEMOS) not in sys.path:
        sys.path.insert(0, str(DEMOS))
    return importlib.import_module(name)


def run_demo(name: str, out, *args, timeout: float | None = 3600):
    """Run ``demos/<name>.py --out OUT *args`` in its own process, as a reader would.

    Returns (metrics.json as a dict, the demo's printed output); a non-zero exit fails
    the calling test with the tail of that output. The worktree's own ``minissl`` comes
    first on the child's path, whatever copy is installed.
    """
    root = DEMOS.parent
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(DEMOS / f"{name}.py"), "--out", str(out), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=root,
                          env={**os.environ, "PYTHONPATH": path})
    assert proc.returncode == 0, (f"demos/{name}.py exited {proc.returncode}:\n"
                                  f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    with open(pathlib.Path(out) / "metrics.json", encoding="utf-8") as f:
        return json.load(f), proc.stdout
