"""Public PyTorch programs, run as written and with only their imports pointed at minissl.

Each test loads one program of tests/compat twice (see harness.py), gives both runs
PyTorch's initial weights and the same batches, trains, and compares every step's
loss (float32: rtol 1e-4, atol 1e-5). README.md in this folder lists the programs
and the agreement measured.
"""
import contextlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

sys.path.pop(0)

import minissl as ms  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


def agree(ours, theirs, what):
    """Assert step-by-step agreement; report the largest relative difference (pytest -s shows it)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)
    print(f"{what}: {ours.size} values, max relative difference {H.max_rel_diff(ours, theirs):.2e}")


@pytest.fixture
def runs():
    """``runs(name)`` -> (program under torch, program under minissl)."""
    def load(name):
        torch.manual_seed(0)
        return H.load(name, "torch"), H.load(name, "minissl")

    yield load


def train_both(pt, pm, model_t, model_m, *args, seed=1):
    H.same_weights(model_t, model_m)
    with H.same_random("torch", seed):
        out_t = pt.train(model_t, *args)
    with H.same_random("minissl", seed):
        out_m = pm.train(model_m, *args)
    return out_t, out_m


def test_only_import_lines_are_rewritten():
    src = ("import torch\nimport torch.nn as nn\nfrom torch.nn import functional as F\n"
           "from torch.utils.data import DataLoader\nfrom torch import nn, optim\nimport torch.utils.data\n"
           "x = torch.zeros(3)  # import torch\n")
    assert H.to_minissl(src).splitlines() == [
        "import minissl as torch", "import minissl.nn as nn", "from minissl.nn import functional as F",
        "from minissl.utils.data import DataLoader", "from minissl import nn, optim", "import minissl.utils.data",
        "x = torch.zeros(3)  # import torch"]
    for path in Path(H.HERE).glob("*.py"):
        if path.name not in ("harness.py", "test_compat.py"):
            H.to_minissl(path.read_text())  # asserts that only import lines change


@contextlib.contextmanager
def without_sdpa():
    """Both frameworks look like PyTorch < 2.0 to nanoGPT, which then builds its `bias` mask and masked_fill path."""
    mods = [sys.modules["torch.nn.functional"], ms.nn.functional]
    saved = [m.scaled_dot_product_attention for m in mods]
    for m in mods:
        del m.scaled_dot_product_attention
    try:
        yield
    finally:
        for m, f in zip(mods, saved):
            m.scaled_dot_product_attention = f


@pytest.mark.parametrize("attention", ["flash", "manual"])
def test_nanogpt(runs, attention):
    pt, pm = runs("nanogpt")
    with without_sdpa() if attention == "manual" else contextlib.nullcontext():
        model_t, model_m = pt.make_model(), pm.make_model()
    assert model_m.transformer.h[0].attn.flash == (attention == "flash")
    assert list(model_m.state_dict()) == list(model_t.state_dict())
    # _init_weights ran through apply(): GPT-2's scaled init on the residual projections
    std = float(model_m.transformer.h[1].mlp.c_proj.weight.std())
    assert 0.007 < std < 0.013, std
    assert model_m.transformer.wte.weight is model_m.lm_head.weight  # weight tying survives
    (hist_t, evals_t), (hist_m, evals_m) = train_both(pt, pm, model_t, model_m)
    agree(hist_m, hist_t, f"nanoGPT ({attention}) train loss")
    agree(evals_m, evals_t, f"nanoGPT ({attention}) estimate_loss")
    assert model_m.lm_head.weight is model_m.transformer.wte.weight
    # generate: top_k=1 leaves one token with probability 1 (multinomial is then exact in both)
    model_t.eval()
    model_m.eval()
    ctx = np.array([[1, 2, 3], [4, 5, 6]])
    gen_t = model_t.generate(torch.tensor(ctx), 20, temperature=0.8, top_k=1)
    gen_m = model_m.generate(ms.tensor(ctx), 20, temperature=0.8, top_k=1)
    assert gen_m.dtype == ms.int64 and gen_m.tolist() == gen_t.tolist()
    with H.same_random("torch", 3):
        gen_t = model_t.generate(torch.tensor(ctx), 20, top_k=5)
    with H.same_random("minissl", 3):
        gen_m = model_m.generate(ms.tensor(ctx), 20, top_k=5)
    assert gen_m.tolist() == gen_t.tolist()


def test_ng_video_lecture_gpt(runs):
    pt, pm = runs("ng_gpt")
    model_t, model_m = pt.make_model(), pm.make_model()
    assert [k for k in model_m.state_dict() if k.endswith("tril")] == [k for k in model_t.state_dict()
                                                                        if k.endswith("tril")]
    (hist_t, evals_t), (hist_m, evals_m) = train_both(pt, pm, model_t, model_m)
    agree(hist_m, hist_t, "ng-video-lecture gpt.py train loss")
    agree(evals_m, evals_t, "ng-video-lecture gpt.py estimate_loss")
    with H.same_random("torch", 2):
        text_t = pt.sample(model_t)
    with H.same_random("minissl", 2):
        text_m = pm.sample(model_m)
    assert text_m == text_t and len(text_m) == 41


def test_makemore_mlp(runs):
    pt, pm = runs("makemore_mlp")
    params_t, params_m = pt.make_params(), pm.make_params()
    assert [p.shape for p in params_m] == [tuple(p.shape) for p in params_t]
    with ms.no_grad():
        for p, q in zip(params_m, params_t):
            p.copy_(ms.tensor(H.to_numpy(q)))
    with H.same_random("torch", 1):
        hist_t = pt.train(params_t)
    with H.same_random("minissl", 1):
        hist_m = pm.train(params_m)
    agree(hist_m, hist_t, "makemore MLP train loss")
    assert hist_m[-1] < hist_m[0] / 1.5  # it learns
    agree([pm.split_loss(s) for s in ("train", "val", "test")],
          [pt.split_loss(s) for s in ("train", "val", "test")], "makemore MLP split_loss")
    with H.same_random("torch", 2):
        names_t = pt.sample()
    with H.same_random("minissl", 2):
        names_m = pm.sample()
    assert names_m == names_t


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_makemore_rnn(runs, cell):
    pt, pm = runs("makemore_rnn")
    model_t, model_m = pt.make_model(cell), pm.make_model(cell)
    x_t, y_t = pt.train_dataset[0]
    x_m, y_m = pm.train_dataset[0]
    assert x_m.tolist() == x_t.tolist() and y_m.tolist() == y_t.tolist() and -1 in y_m.tolist()
    (hist_t, evals_t), (hist_m, evals_m) = train_both(pt, pm, model_t, model_m)
    agree(hist_m, hist_t, f"makemore {cell.upper()} train loss")
    agree(evals_m, evals_t, f"makemore {cell.upper()} evaluate")
    if ms.backend.on_gpu:  # makemore's `.to('cpu')`: minissl keeps one device per process and says so
        with pytest.raises(RuntimeError, match="one device per process"):
            pm.sample(model_m)
    else:
        assert pm.sample(model_m) == pt.sample(model_t)


def test_pytorch_examples_vae(runs):
    missing = [name for name, ok in (("minissl.utils.data", importlib.util.find_spec("minissl.utils") is not None),
                                     ("F.binary_cross_entropy", hasattr(ms.nn.functional, "binary_cross_entropy")))
               if not ok]
    if missing:
        pytest.skip(f"minissl lacks {', '.join(missing)} (built on another branch); the VAE program needs them")
    pt, pm = runs("vae")
    model_t, model_m = pt.make_model(), pm.make_model()
    H.same_weights(model_t, model_m)
    hist_t, hist_m, test_t, test_m = [], [], [], []
    with H.same_random("torch", 1):
        for epoch in range(1, 6):
            hist_t += pt.train(epoch)
            test_t.append(pt.test(epoch))
    with H.same_random("minissl", 1):
        for epoch in range(1, 6):
            hist_m += pm.train(epoch)
            test_m.append(pm.test(epoch))
    agree(hist_m, hist_t, "VAE train loss")
    agree(test_m, test_t, "VAE test loss")
    z = np.random.default_rng(0).standard_normal((8, 20)).astype(np.float32)
    with torch.no_grad():
        img_t = model_t.decode(torch.tensor(z))
    with ms.no_grad():
        img_m = model_m.decode(ms.tensor(z))
    np.testing.assert_allclose(H.to_numpy(img_m), H.to_numpy(img_t), rtol=RTOL, atol=ATOL)
    if ms.backend.on_gpu:  # the example's `.cpu()`: minissl keeps one device per process and says so
        with pytest.raises(RuntimeError, match="one device per process"):
            pm.sample()
    else:
        assert tuple(pm.sample().shape) == (8, 1, 28, 28)


def test_micrograd_engine(runs):
    pt, pm = runs("micrograd_engine")
    for test in ("test_sanity_check", "test_more_ops", "test_inplace_ops"):
        theirs = getattr(pt, test)()  # each also asserts micrograd == framework inside
        ours = getattr(pm, test)()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, err_msg=test)
