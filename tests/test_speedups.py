"""minissl/speedups.py: every fast path against the formula it stands in for.

Two ways, so that both halves are checked on a CPU:

* the ops with their fast path (``backend.fused``) against the same ops with it
  switched off: on NumPy this covers the in-place GELU (the same bits); under
  ``MINISSL_BACKEND=cupy`` with tests/fakecupy, and on a GPU, it covers the wiring
  of every CuPy kernel into the ops;
* the CuPy kernels' own source, evaluated by fakecupy's ElementwiseKernel and
  ReductionKernel, against the NumPy formulas, in the default CPU run.
"""
import importlib.util
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minissl as ms
import minissl.nn.functional as F
from minissl import backend, speedups

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _fake_cupy():
    """tests/fakecupy's cupy, loaded under another name so that `import cupy` elsewhere is unaffected."""
    path = ROOT / "tests" / "fakecupy" / "cupy" / "__init__.py"
    spec = importlib.util.spec_from_file_location("fakecupy_for_tests", path, submodule_search_locations=[str(path.parent)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- the ops, fast path on and off
def _run(fn, arrays):
    """fn(*tensors) -> output; returns the output and each input's gradient for a fixed upstream gradient."""
    ts = [ms.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*ts)
    up = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    out.backward(ms.tensor(up))
    return [out.numpy()] + [t.grad.numpy() for t in ts if t.requires_grad]


def _adam_run(decoupled):
    def run(p0, g):
        p = ms.tensor(p0, requires_grad=True)
        opt = (ms.optim.AdamW if decoupled else ms.optim.Adam)([p], lr=0.1, weight_decay=0.1)
        for k in range(3):
            p.grad = ms.tensor(g * (k + 1))
            opt.step()
        st = opt.state[id(p)]
        return [p.numpy(), backend.to_numpy(st["exp_avg"]), backend.to_numpy(st["exp_avg_sq"])]
    return run


def _rand(*shape, scale=3.0):
    return lambda dt: (np.random.default_rng(0).standard_normal(shape) * scale).astype(dt)


CASES = {  # name -> (the fused paths it takes, inputs by dtype, how to run it)
    "softmax": (("softmax",), [_rand(6, 5, 11)], lambda x: F.softmax(x, dim=-1)),
    "log_softmax": (("log_softmax",), [_rand(6, 11)], lambda x: F.log_softmax(x, dim=-1)),
    "cross_entropy": (("cross_entropy_backward", "log_softmax"), [_rand(9, 7)],
                      lambda z: F.cross_entropy(z, ms.tensor([0, 6, -100, 3, 3, 1, 2, 5, 4]), label_smoothing=0.1)),
    "cross_entropy_sum": (("cross_entropy_backward", "log_softmax"), [_rand(5, 4)],
                          lambda z: F.cross_entropy(z, ms.tensor([0, 3, 2, 2, 1]), reduction="sum")),
    "layer_norm": (("layer_norm",), [_rand(4, 3, 16), _rand(16, scale=1.0), _rand(16, scale=1.0)],
                   lambda x, w, b: F.layer_norm(x, (16,), w, b)),
    "gelu": (("gelu",), [_rand(8, 33)], lambda x: F.gelu(x)),
    "gelu_tanh": (("gelu",), [_rand(8, 33)], lambda x: F.gelu(x, approximate="tanh")),
    "linear_few_rows": (("linear",), [_rand(2, 4, 16), _rand(8, 16), _rand(8)], lambda x, w, b: F.linear(x, w, b)),
    "linear_one_row": (("linear",), [_rand(1, 16), _rand(8, 16)], lambda x, w: F.linear(x, w)),
}
REORDERED = {"linear_few_rows"}  # the same sums in another order: equal to rounding, not to the bit


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES) + ["adam", "adamw"])
def test_fast_path_matches_the_formula(name, dtype, monkeypatch):
    if name.startswith("adam"):
        paths, inputs, run = ("adam",), [_rand(5, 4), _rand(5, 4)], _adam_run(name == "adamw")
    else:
        paths, inputs, fn = CASES[name]
        run = lambda *a: _run(fn, a)  # noqa: E731
    if all(getattr(backend.fused, p) is None for p in paths):
        pytest.skip(f"no fast path for {name} on this backend ({backend.NAME}); the CuPy kernels are checked "
                    "under tests/fakecupy (MINISSL_BACKEND=cupy) and on a GPU")
    arrays = [make(dtype) for make in inputs]
    fast = run(*arrays)
    for p in speedups.FUSED:
        monkeypatch.setattr(backend.fused, p, None)
    formula = run(*arrays)
    for a, b in zip(fast, formula):
        assert a.dtype == b.dtype and a.shape == b.shape
        if not backend.on_gpu and name not in REORDERED:  # the CPU forms do the formula's operations in order
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=2e-5 if dtype == np.float32 else 1e-12,
                                       atol=2e-6 if dtype == np.float32 else 1e-12)


# ---------------------------------------------------------------- the kernel sources, on a CPU
@pytest.fixture(scope="module")
def kernels():
    cp = _fake_cupy()
    return cp, speedups.cupy_kernels(cp)


def _close(got, want, dtype=np.float32):
    np.testing.assert_allclose(got.get(), want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.skipif(backend.on_gpu, reason="compares with the NumPy backend's formulas")
def test_cupy_kernel_sources_compute_the_formulas(kernels):
    cp, K = kernels
    rng = np.random.default_rng(0)
    z, g = (rng.standard_normal((6, 9)).astype(np.float32) * 3 for _ in range(2))
    y, gz = _run(lambda t: F.softmax(t, dim=-1), [z])[:2]
    _close(K.softmax(cp.asarray(z)), y)
    up = np.random.default_rng(1).standard_normal(z.shape).astype(np.float32)  # _run's upstream gradient
    _close(K.softmax_backward(cp.asarray(up), cp.asarray(y)), gz)
    _close(K.log_softmax(cp.asarray(z)), _run(lambda t: F.log_softmax(t, dim=-1), [z])[0])
    for approx in ("none", "tanh"):
        y, gx = _run(lambda t: F.gelu(t, approximate=approx), [z])
        fy, _ = K.gelu(cp.asarray(z), approx)
        _close(fy, y)
        _close(K.gelu_backward(cp.asarray(z), None, cp.asarray(up), approx), gx)
    x, w, b = rng.standard_normal((6, 16)).astype(np.float32), *rng.standard_normal((2, 16)).astype(np.float32)
    out, gx, gw, gb = _run(lambda a, c, d: F.layer_norm(a, (16,), c, d), [x, w, b])
    fy, xhat, rstd = K.layer_norm(cp.asarray(x), cp.asarray(w), cp.asarray(b), 1e-5)
    _close(fy, out)
    up = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    _close(K.layer_norm_backward(cp.asarray(up), cp.asarray(w), xhat, rstd), gx)


@pytest.mark.skipif(backend.on_gpu, reason="compares with the NumPy backend's formulas")
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_and_adam_kernel_sources(kernels, eps):
    cp, K = kernels
    rng = np.random.default_rng(2)
    logp = np.log(rng.dirichlet(np.ones(5), 4)).astype(np.float32)
    y, scale = np.array([0, 4, 2, 2]), rng.random(4).astype(np.float32)
    q = (1 - eps) * np.eye(5, dtype=np.float32)[y] + eps / 5
    want = (np.exp(logp) - q) * scale[:, None]   # d loss_i / d z_i, times each row's scale
    _close(K.cross_entropy_backward(cp.asarray(logp), cp.asarray(y), cp.asarray(scale), eps), want)
    p, g, m = (rng.standard_normal(7).astype(np.float32) for _ in range(3))
    v = rng.random(7).astype(np.float32)
    b1, b2, lr, t, wd = 0.9, 0.999, 0.01, 3, 0.1
    m2, v2 = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    p2 = p * (1 - lr * wd) - lr / (1 - b1 ** t) * m2 / (np.sqrt(v2 / (1 - b2 ** t)) + 1e-8)
    fp, fm, fv = cp.asarray(p), cp.asarray(m), cp.asarray(v)
    K.adam(cp.asarray(g), b1, b2, lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t), 1e-8, 1 - lr * wd, fp, fm, fv)
    for got, want in ((fp, p2), (fm, m2), (fv, v2)):
        _close(got, want)


@pytest.mark.skipif(backend.on_gpu, reason="checks tests/fakecupy itself")
def test_fake_kernels_refuse_what_cupy_refuses(kernels):
    cp, _ = kernels
    k = cp.ElementwiseKernel("T x, T y", "T z", "z = x + y", "add")
    a32, a64 = cp.asarray(np.ones(3, np.float32)), cp.asarray(np.ones(3))
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(a32, a64)
    with pytest.raises(TypeError, match="host array"):
        k(a32, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="Out shape"):
        k(a32, a32, cp.asarray(np.ones(4, np.float32)))
    assert k(a32, 2.0).dtype == np.float32  # a Python scalar takes the placeholder's type
    with pytest.raises(NotImplementedError, match="C syntax"):
        cp.ElementwiseKernel("T x", "T z", "z = x > 0 ? x : 0", "relu")(a32)
    with pytest.raises(NotImplementedError, match="a \\+ b"):
        cp.ReductionKernel("T x", "T y", "x", "max(a, b)", "y = a", "0", "amax")


def test_speedups_switch_off_runs_the_formulas():
    code = ("import minissl.backend as b; print(b.SPEEDUPS, b.malloc_tuned, "
            "[k for k in b.speedups.FUSED if getattr(b.fused, k) is not None])")
    env = {**os.environ, "MINISSL_SPEEDUPS": "0", "MINISSL_BACKEND": "numpy", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.split() == ["False", "False", "[]"], r.stderr
