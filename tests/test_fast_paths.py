"""The speed-motivated paths of the core against independent references.

float32 erf fit vs the standard library's double-precision erf; GELU on 0-d and
float32 inputs vs torch; attention with a mask that has more batch dims than the
inputs vs a per-slice reference; the allocator setting and its opt-out.
"""
import math
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import minissl as ms
import minissl.nn.functional as F
from minissl import backend, speedups

cpu_only = pytest.mark.skipif(backend.on_gpu, reason="NumPy-backend paths")


@cpu_only
def test_float32_erf_fit_is_within_5e7_of_double_precision():
    x = np.linspace(-7, 7, 20001, dtype=np.float32)
    ref = np.array([math.erf(float(v)) for v in x])
    for got in (speedups.erf_float32(x), backend.erf(x)):  # the fit used without SciPy, and the one in use
        assert got.dtype == np.float32
        assert np.abs(got - ref).max() < 5e-7
    assert backend.erf(np.float32(0.5)) == pytest.approx(math.erf(0.5), abs=1e-7)  # 0-d keeps the exact path
    x64 = np.linspace(-3, 3, 101)
    assert np.abs(backend.erf(x64) - [math.erf(v) for v in x64]).max() < 1e-14  # float64 untouched


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_and_0d_match_torch(approximate):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32) * 3
    a = ms.tensor(x, requires_grad=True)
    F.gelu(a, approximate=approximate).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.gelu(t, approximate=approximate).sum().backward()
    assert np.abs(F.gelu(ms.tensor(x), approximate=approximate).numpy() - torch.nn.functional.gelu(
        torch.tensor(x), approximate=approximate).numpy()).max() < 2e-6
    assert np.abs(backend.to_numpy(a.grad) - t.grad.numpy()).max() < 2e-6
    s = ms.tensor(np.float32(0.7), requires_grad=True)  # 0-d: in-place math needs arrays, not NumPy scalars
    y = F.gelu(s, approximate=approximate)
    y.backward()
    ts = torch.tensor(0.7, requires_grad=True)
    torch.nn.functional.gelu(ts, approximate=approximate).backward()
    assert y.shape == () and s.grad.shape == ()
    assert float(backend.to_numpy(s.grad)) == pytest.approx(ts.grad.item(), abs=1e-6)


def test_attention_mask_with_extra_batch_dims_equals_per_slice():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5, 8), (3, 6, 8), (3, 6, 8)))
    mask = rng.random((2, 3, 5, 6)) > 0.3
    mask[..., 0] = True
    out = F.scaled_dot_product_attention(ms.tensor(q), ms.tensor(k), ms.tensor(v), attn_mask=ms.tensor(mask))
    assert out.shape == (2, 3, 5, 8)
    for i in range(2):  # independent: plain NumPy softmax attention per slice
        s = np.where(mask[i], q @ k.transpose(0, 2, 1) / math.sqrt(8), -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        assert np.abs(out.numpy()[i] - p @ v).max() < 1e-5


@cpu_only
def test_freed_memory_setting_and_opt_out():
    code = "import minissl.backend as b; print(b.malloc_tuned)"
    env = {**os.environ, "MINISSL_BACKEND": "numpy"}
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.strip()
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "MINISSL_KEEP_FREED_MEMORY": "0"}).stdout.strip()
    assert off == "False"
    glibc_linux = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert on == str(glibc_linux)
