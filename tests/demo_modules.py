"""Import the scripts in demos/ in-process, for tests that call their functions.

A demo imports its helpers as ``common`` (demos/common.py, found because a script's
own folder is on ``sys.path``); the benchmarks' helpers are ``benchlib``, so both
folders can sit on the path of one pytest process without shadowing each other.
"""
import importlib
import pathlib
import sys

DEMOS = pathlib.Path(__file__).resolve().parents[1] / "demos"


def import_demo(name: str):
    """The module demos/<name>.py (``"common"`` gives demos/common.py itself)."""
    if str(DEMOS) not in sys.path:
        sys.path.insert(0, str(DEMOS))
    return importlib.import_module(name)
