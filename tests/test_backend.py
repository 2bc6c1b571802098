"""Backend selection and the NumPy/CuPy shim."""
import ast
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minissl as ms
from minissl import backend

ROOT = pathlib.Path(__file__).resolve().parents[1]


# A host program that imports minissl: it must be able to catch the refusal with
# `except Exception` (SystemExit would slip past it) and read one sentence.
CATCHING_HOST = """
try:
    import minissl
except Exception as e:
    print(type(e).__name__, "|", isinstance(e, ImportError), "|", e)
else:
    print("imported")
"""


def _import_with(value, code=CATCHING_HOST):
    env = {**os.environ, "MINISSL_BACKEND": value, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_unknown_backend_is_an_import_error_a_host_can_catch():
    r = _import_with("bogus")
    assert r.returncode == 0 and r.stderr == "", r.stderr  # caught by `except Exception`: no exit, no traceback
    name, is_import_error, message = r.stdout.strip().split(" | ")
    assert name == "BackendError" and is_import_error == "True"
    assert "\n" not in message and message.count(". ") == 0  # one sentence
    assert "MINISSL_BACKEND='bogus'" in message and "'numpy'" in message and "'cupy'" in message


def test_backend_error_is_an_import_error_not_a_system_exit():
    assert issubclass(backend.BackendError, ImportError)
    assert not issubclass(backend.BackendError, SystemExit)
    with pytest.raises(backend.BackendError, match="not a known backend"):
        backend._select("tpu")


def test_cupy_without_cupy_names_the_fix():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    r = _import_with("cupy")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("BackendError | True | ")
    assert "CuPy is not installed" in r.stdout and "pip install minissl[gpu]" in r.stdout


def test_a_demo_turns_the_refusal_into_one_line():
    # scripts, unlike libraries, should not show a traceback for a bad setting
    env = {**os.environ, "MINISSL_BACKEND": "bogus"}
    r = subprocess.run([sys.executable, str(ROOT / "demos" / "gpt_sort.py"), "--help"], env=env,
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "MINISSL_BACKEND='bogus'" in r.stderr, r.stderr


def test_backend_name_is_case_and_space_insensitive():
    r = _import_with(" NumPy ")
    assert r.returncode == 0 and r.stdout.strip() == "imported", r.stderr


# Modules allowed to import NumPy directly: the shim itself and host-side code
# (tokenisers, task generators, file I/O, metrics). gradcheck is host-side too:
# its finite-difference loop keeps one Python float per element, and drawing
# the upstream gradient on the host makes it the same on both backends.
# models/ mixes array math with host-side collating and scoring, which the
# project rules allow, so an import alone proves nothing there; it is left out.
# utils/data.py is host-side data loading: sample orders are NumPy index lists
# and NumPy samples are turned into tensors by ms.tensor at the boundary.
# datasets/ reads files on the host and returns NumPy arrays, like a DataLoader's source;
# gguf.py and safetensors.py are file I/O (readers beside io.py); callers move their arrays to the backend.
# speedups.py holds the CPU tricks, which are about NumPy itself (its allocator, np.add.at, in-place ufuncs).
# e5s1.py is file I/O like gguf.py; train.py draws the host-side data order (minibatches).
ALLOWED = {"backend.py", "speedups.py", "io.py", "gguf.py", "safetensors.py", "e5s1.py", "metrics.py", "train.py",
           str(pathlib.Path("utils", "data.py"))}
ALLOWED_DIRS = {"text", "tasks", "datasets"}


def _imports_numpy(path):
    try:
        tree = ast.parse(path.read_text())
    except SyntaxError:  # a file being edited right now: its own tests will fail on it
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "numpy" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
            return True
    return False


def test_array_code_does_not_import_numpy_directly():
    pkg = ROOT / "minissl"
    offenders = []
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg)
        if rel.parts[0] in ALLOWED_DIRS or str(rel) in ALLOWED:
            continue
        if _imports_numpy(path):
            offenders.append(str(rel))
    assert not offenders, (f"{offenders} import numpy directly; use `from minissl.backend import xp` so the code "
                           "also runs on CuPy (host-side code converts with ms.tensor / backend.to_numpy)")


def test_numpy_import_checker_detects_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import numpy as np\n")
    assert _imports_numpy(f)
    f.write_text("from numpy.linalg import norm\n")
    assert _imports_numpy(f)
    f.write_text("from minissl.backend import xp\n")
    assert not _imports_numpy(f)


def test_erf_matches_math_erf():
    x = np.linspace(-6, 6, 2001)
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(backend.to_numpy(backend.erf(backend.asarray(x))), expected, atol=1e-15)
    # the SciPy-free fallback is accurate to ~1e-15 too
    np.testing.assert_allclose(backend._erf_numpy(x), expected, atol=2e-15)
    assert backend._erf_numpy(x.astype(np.float32)).dtype == np.float32


def test_scatter_add_sums_repeated_indices():
    t = backend.xp.zeros((3, 2))
    backend.scatter_add(t, backend.asarray([0, 2, 0, 0]), backend.asarray(np.ones((4, 2))))
    np.testing.assert_array_equal(backend.to_numpy(t), [[3, 3], [0, 0], [1, 1]])


def test_scatter_add_rows_matches_add_at_including_negative_and_bad_rows():
    # the CPU fast path (rows of a matrix through its flat view) must keep np.add.at's semantics
    rng = np.random.default_rng(0)
    idx = rng.integers(-7, 7, 500)                           # repeats and negative rows
    vals = rng.standard_normal((500, 5)).astype(np.float32)
    expected = np.zeros((7, 5), np.float32)
    np.add.at(expected, idx, vals)
    got = backend.scatter_add(backend.xp.zeros((7, 5), dtype=backend.xp.float32), backend.asarray(idx),
                              backend.asarray(vals))
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-5, atol=1e-5)
    for bad in (7, -8) if not backend.on_gpu else ():     # CuPy wraps out-of-range indices instead
        with pytest.raises(IndexError):
            backend.scatter_add(backend.xp.zeros((7, 5)), backend.asarray([0, bad]), backend.xp.ones((2, 5)))


def test_manual_seed_seeds_every_generator():
    ms.manual_seed(11)
    a = (backend.to_numpy(backend.rng().random(3)), backend.host_rng().random(3), ms.randn(2).numpy())
    ms.manual_seed(11)
    b = (backend.to_numpy(backend.rng().random(3)), backend.host_rng().random(3), ms.randn(2).numpy())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    ms.manual_seed(12)
    assert not np.array_equal(backend.host_rng().random(3), a[1])


@pytest.mark.parametrize("dtype,shape,chunk", [(np.float32, (7, 5), 1 << 26), (np.float64, (7, 3, 2), 1000)])
def test_gpu_row_scatter_is_add_at_summed_in_a_fixed_order(dtype, shape, chunk):
    # the GPU's deterministic path, run here on the backend's arrays: np.add.at's sums, in chunks
    rng = np.random.default_rng(1)
    idx = rng.integers(-shape[0], shape[0], 400)
    vals = rng.standard_normal((400,) + shape[1:]).astype(dtype)
    expected = rng.standard_normal(shape).astype(dtype)
    target = backend.asarray(expected.copy())
    np.add.at(expected, idx, vals)
    assert backend._rows_on_gpu(target, backend.asarray(idx), backend.asarray(vals))
    got = backend._scatter_rows_gpu(target, backend.asarray(idx), backend.asarray(vals), chunk_elements=chunk)
    assert got is target
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=tol, atol=tol)
    twice = backend._scatter_rows_gpu(backend.asarray(np.zeros(shape, dtype)), backend.asarray(idx),
                                      backend.asarray(vals), chunk_elements=chunk)
    again = backend._scatter_rows_gpu(backend.asarray(np.zeros(shape, dtype)), backend.asarray(idx),
                                      backend.asarray(vals), chunk_elements=chunk)
    np.testing.assert_array_equal(backend.to_numpy(twice), backend.to_numpy(again))  # on a GPU too


def test_only_whole_float_rows_take_the_gpu_row_path():
    xp = backend.xp
    idx = backend.asarray([0, 2, 0])
    assert not backend._rows_on_gpu(xp.zeros((3, 2), dtype=xp.int64), idx, xp.ones((3, 2), dtype=xp.int64))
    assert not backend._rows_on_gpu(xp.zeros((3, 4))[:, ::2], idx, xp.ones((3, 2)))   # a strided view
    assert not backend._rows_on_gpu(xp.zeros((3, 2)), (idx, idx), xp.ones(3))        # element pairs
    assert backend._rows_on_gpu(xp.zeros((3, 2)), idx, xp.ones((3, 2)))


def test_to_numpy_and_is_array():
    a = backend.asarray([1.0, 2.0])
    assert isinstance(backend.to_numpy(a), np.ndarray)
    assert backend.is_array(a) and not backend.is_array([1.0])


def test_whole_suite_runs_on_the_cupy_code_path_via_fakecupy():
    """CI has no GPU, so the CuPy code path is exercised with tests/fakecupy: a NumPy-backed
    stand-in that refuses what CuPy refuses (implicit device-to-host copies, host arrays in
    device ops, missing Generator methods). It found 5 incompatibilities that a NumPy-only
    suite never sees; this keeps new ones out. It is not CuPy: a real GPU run still decides."""
    if backend.on_gpu:
        pytest.skip("already on the CuPy path (this test runs the suite there itself)")
    env = {**os.environ, "MINISSL_BACKEND": "cupy", "PYTHONPATH": str(ROOT / "tests" / "fakecupy")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"],
                       env=env, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
