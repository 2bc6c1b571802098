"""Run one PyTorch program twice, as written and with only its imports pointed at minissl.

``load(name, "torch")`` executes ``tests/compat/<name>.py`` as it is;
``load(name, "minissl")`` executes the same text after :func:`to_minissl` has
rewritten its ``import torch...`` / ``from torch... import`` lines and nothing
else (the function checks that every other line is unchanged). Each run gets a
fresh module namespace, so the two runs share no objects.

For an exact comparison both runs must start from the same weights and see the
same batches. The programs draw their data from seeded NumPy generators (the
same numbers in both runs); :func:`same_weights` copies PyTorch's initial
``state_dict`` into the minissl model; and :func:`same_random` replaces the few
random draws a program makes through the framework (``randint`` for batch
indices, ``randn_like`` for a VAE's noise, ``multinomial`` for sampling) with
draws from one seeded NumPy stream, in *both* runs, because PyTorch's Mersenne
Twister and minissl's PCG64 give different numbers for the same seed.
"""
from __future__ import annotations

import contextlib
import re
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# ``import torch`` -> ``import minissl as torch``; ``import torch.nn as nn`` -> ``import minissl.nn as nn``;
# ``from torch.nn import functional as F`` -> ``from minissl.nn import functional as F``; ...
_IMPORT = re.compile(r"^(\s*)(import|from)\s+torch\b(.*)$")


def to_minissl(source: str) -> str:
    """The program with its torch import lines pointed at minissl; every other line is left as it is."""
    out = []
    for line in source.splitlines():
        m = _IMPORT.match(line)
        if not m:
            out.append(line)
            continue
        indent, kw, rest = m.groups()
        if kw == "import" and rest.strip() == "":
            out.append(f"{indent}import minissl as torch")
        else:
            out.append(f"{indent}{kw} minissl{rest}")
    new = "\n".join(out) + "\n"
    changed = [(a, b) for a, b in zip(source.splitlines(), new.splitlines()) if a != b]
    assert all(_IMPORT.match(a) for a, _ in changed), "only import lines may change"
    assert len(source.splitlines()) == len(new.splitlines())
    return new


def load(name: str, framework: str):
    """Execute tests/compat/<name>.py against ``framework`` ("torch" or "minissl"); return its namespace."""
    path = HERE / f"{name}.py"
    source = path.read_text()
    if framework == "minissl":
        source = to_minissl(source)
    mod = types.ModuleType(f"compat_{name}_{framework}")
    mod.__file__ = str(path)
    sys.modules[mod.__name__] = mod  # dataclasses look their module up here
    try:
        with _reference_on_cpu(framework):
            exec(compile(source, f"{path} [{framework}]", "exec"), mod.__dict__)
    finally:
        sys.modules.pop(mod.__name__, None)
    return mod


@contextlib.contextmanager
def _reference_on_cpu(framework):
    """PyTorch is the reference for values, so its run stays on the CPU, where the tests build its inputs.

    The programs pick ``device = 'cuda' if torch.cuda.is_available() else 'cpu'`` when they are
    loaded; with a CUDA build of PyTorch beside minissl on CuPy, that would put PyTorch's model on
    the GPU and the tests' CPU tensors would not reach it."""
    if framework != "torch":
        yield
        return
    import torch
    available = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        yield
    finally:
        torch.cuda.is_available = available


def framework_module(framework: str):
    if framework == "torch":
        import torch
        return torch
    import minissl
    return minissl


def to_numpy(t) -> np.ndarray:
    """A host NumPy copy of a torch or minissl tensor (through each one's public API).

    minissl's ``.numpy()`` copies from the GPU itself, where its ``.cpu()`` refuses (one device per process)."""
    t = t.detach()
    if type(t).__module__.startswith("torch"):
        t = t.cpu()
    return np.array(t.numpy(), copy=True)


def same_weights(torch_model, minissl_model):
    """Load PyTorch's current parameters and buffers into the minissl model (through load_state_dict)."""
    minissl_model.load_state_dict({k: to_numpy(v) for k, v in torch_model.state_dict().items()})


@contextlib.contextmanager
def same_random(framework: str, seed: int = 0):
    """Within the block, the framework's ``randint``/``randn_like``/``multinomial`` draw from one NumPy stream.

    Used for both runs with the same seed, so both draw the same batch indices, the
    same VAE noise and the same samples. Everything else (every computation, and
    the tensors returned: dtype, shape, device) stays the framework's own.
    """
    fw = framework_module(framework)
    rng = np.random.default_rng(seed)
    saved = {k: getattr(fw, k) for k in ("randint", "randn_like", "multinomial")}

    def randint(*args, size=None, dtype=None, device=None, generator=None):
        args = args + ((size,) if size is not None else ())
        low, high, shape = (0,) + args if len(args) == 2 else args
        return fw.tensor(rng.integers(low, high, size=tuple(shape)), dtype=dtype or fw.long, device=device)

    def randn_like(t, dtype=None, device=None):
        return fw.tensor(rng.standard_normal(tuple(t.shape)), dtype=dtype or t.dtype, device=device or t.device)

    def multinomial(probs, num_samples, replacement=False, generator=None):
        # inverse-CDF sampling with shared uniforms: the same draws wherever the probabilities agree
        assert num_samples == 1
        p = to_numpy(probs).astype(np.float64)
        cdf = np.cumsum(p / p.sum(-1, keepdims=True), -1)
        u = rng.random(p.shape[:-1] + (1,))
        ids = np.minimum((u >= cdf).sum(-1, keepdims=True), p.shape[-1] - 1)
        return fw.tensor(ids, dtype=fw.long, device=probs.device)

    for k, f in (("randint", randint), ("randn_like", randn_like), ("multinomial", multinomial)):
        setattr(fw, k, f)
    try:
        yield
    finally:
        for k, f in saved.items():
            setattr(fw, k, f)


def max_rel_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
