"""Import the scripts in demos/ in-process, for tests that call their functions.

demos/ and benchmarks/ each have a top-level helper module named ``common``
(each script puts its own folder on ``sys.path``, so a real run only ever sees
one). In one pytest process both folders end up on the path, and whichever
``common`` was imported first would be handed to the other folder's scripts.
``import_demo`` makes a demo see demos/common.py and puts back whatever
``common`` was there before, so the benchmark tests keep theirs.
"""
import importlib
import pathlib
import sys

DEMOS = pathlib.Path(__file__).resolve().parents[1] / "demos"
_demos_common = None  # one copy of demos/common.py for every demo imported here


def import_demo(name: str):
    """The module demos/<name>.py (``"common"`` gives demos/common.py itself)."""
    global _demos_common
    if str(DEMOS) in sys.path:
        sys.path.remove(str(DEMOS))
    sys.path.insert(0, str(DEMOS))
    before = sys.modules.pop("common", None)
    if _demos_common is not None:
        sys.modules["common"] = _demos_common
    try:
        _demos_common = importlib.import_module("common")
        return _demos_common if name == "common" else importlib.import_module(name)
    finally:
        if before is not None:
            sys.modules["common"] = before
        else:
            sys.modules.pop("common", None)
