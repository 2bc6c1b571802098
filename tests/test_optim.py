"""Optimisers, schedules and gradient clipping against PyTorch's (and closed forms)."""
import math

import numpy as np
import pytest

import minissl as ms
from minissl import nn, optim

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,)]


def _run(ms_cls, torch_cls, steps=5, groups=None, **kw):
    """Same parameters, same gradients each step (float64): compare parameters after every step."""
    rng = np.random.default_rng(0)
    init = [rng.normal(size=s) for s in SHAPES]
    ps = [nn.Parameter(ms.tensor(a.copy())) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups:
        o1 = ms_cls([{"params": [ps[0]], **groups[0]}, {"params": [ps[1]], **groups[1]}], **kw)
        o2 = torch_cls([{"params": [ts[0]], **groups[0]}, {"params": [ts[1]], **groups[1]}], **kw)
    else:
        o1, o2 = ms_cls(ps, **kw), torch_cls(ts, **kw)
    for _ in range(steps):
        grads = [rng.normal(size=s) for s in SHAPES]
        for p, t, g in zip(ps, ts, grads):
            p.grad, t.grad = ms.tensor(ms.xp.array(g)), torch.tensor(g)
        o1.step()
        o2.step()
        for p, t in zip(ps, ts):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-12)
    return o1


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
                                dict(lr=0.1, momentum=0.5, weight_decay=0.01)])
def test_sgd_matches_torch(kw):
    _run(optim.SGD, torch.optim.SGD, **kw)


@pytest.mark.parametrize("kw", [dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)])
def test_adam_matches_torch(kw):
    _run(optim.Adam, torch.optim.Adam, **kw)


@pytest.mark.parametrize("kw", [dict(lr=1e-2), dict(lr=3e-2, betas=(0.9, 0.95), weight_decay=0.1)])
def test_adamw_matches_torch(kw):
    _run(optim.AdamW, torch.optim.AdamW, **kw)


def test_adamw_param_groups_skip_decay():
    _run(optim.AdamW, torch.optim.AdamW, lr=1e-2, groups=[{"weight_decay": 0.5}, {"weight_decay": 0.0}])


def test_param_groups_for_decay_splits_matrices_from_vectors():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Embedding(5, 4))
    decay, rest = optim.param_groups_for_decay(model, 0.1)
    assert [p.shape for p in decay["params"]] == [(4, 3), (5, 4)]
    assert [p.shape for p in rest["params"]] == [(4,), (4,), (4,)] and rest["weight_decay"] == 0.0


def test_optimizer_skips_params_without_grad_and_zero_grad():
    p = nn.Parameter(ms.ones(2))
    opt = optim.AdamW([p], lr=0.1)
    opt.step()  # no grad yet: nothing happens (not even weight decay)
    np.testing.assert_array_equal(p.numpy(), [1, 1])
    p.grad = ms.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(npy(p.grad), [0, 0])
    opt.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])


def test_optimizer_state_dict_round_trip(tmp_path):
    a = _run(optim.AdamW, torch.optim.AdamW, steps=3, lr=1e-2)
    ps = [p for g in a.param_groups for p in g["params"]]
    ms.save(a.state_dict(), tmp_path / "opt.npz")
    b = optim.AdamW([nn.Parameter(ms.tensor(p.numpy().copy())) for p in ps], lr=1.0)
    b.load_state_dict(ms.load(tmp_path / "opt.npz"))
    assert b.param_groups[0]["lr"] == 1e-2
    for pa, pb in zip(ps, (p for g in b.param_groups for p in g["params"])):
        pa.grad = pb.grad = ms.ones(pa.shape, dtype=pa.dtype)
    a.step()
    b.step()
    for pa, pb in zip(ps, (p for g in b.param_groups for p in g["params"])):
        np.testing.assert_allclose(pa.numpy(), pb.numpy(), rtol=1e-12)


def test_float32_params_stay_float32():
    p = nn.Parameter(ms.randn(3))
    p.grad = ms.ones(3)
    for cls in (optim.SGD, optim.Adam, optim.AdamW):
        cls([p], lr=0.1).step()
        assert p.array.dtype == np.float32


def _lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        sched.step()
    return out


def test_warmup_linear_schedule():
    opt = optim.SGD([nn.Parameter(ms.ones(1))], lr=1.0)
    lrs = _lrs(optim.warmup_linear(opt, warmup_steps=4, total_steps=10), 12)
    np.testing.assert_allclose(lrs, [0.25, 0.5, 0.75, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0, 0])


def test_warmup_cosine_schedule():
    opt = optim.SGD([nn.Parameter(ms.ones(1))], lr=2.0)
    lrs = _lrs(optim.warmup_cosine(opt, warmup_steps=2, total_steps=6, min_ratio=0.1), 8)
    cos = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)]
    np.testing.assert_allclose(lrs, [1.0, 2.0] + [2 * c for c in cos] + [0.2])


def test_lambda_lr_matches_torch():
    f = lambda s: 0.9 ** s  # noqa: E731
    opt = optim.SGD([nn.Parameter(ms.ones(1))], lr=0.5)
    t_opt = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.5)
    ours, theirs = optim.LambdaLR(opt, f), torch.optim.lr_scheduler.LambdaLR(t_opt, f)
    for _ in range(5):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())
        t_opt.step()
        ours.step()
        theirs.step()


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=s) for s in SHAPES]
    ps = [nn.Parameter(ms.zeros(*s, dtype=ms.float64)) for s in SHAPES]
    ts = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, t, g in zip(ps, ts, grads):
        p.grad, t.grad = ms.tensor(ms.xp.array(g)), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ps, max_norm)
    t_total = torch.nn.utils.clip_grad_norm_(ts, max_norm)
    assert isinstance(total, ms.Tensor) and total.dtype == ms.float64
    assert float(total) == pytest.approx(float(t_total), rel=1e-12)
    assert float(total) == pytest.approx(math.sqrt(sum((g ** 2).sum() for g in grads)), rel=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(npy(p.grad), t.grad.numpy(), rtol=1e-12)
    assert float(nn.utils.clip_grad_norm_([nn.Parameter(ms.ones(1))], 1.0)) == 0.0


@pytest.mark.parametrize("make", [
    lambda lrs, opt: lrs.StepLR(opt, step_size=3, gamma=0.5),
    lambda lrs, opt: lrs.CosineAnnealingLR(opt, T_max=7, eta_min=1e-3),
    lambda lrs, opt: lrs.LambdaLR(opt, lambda s: 1 / (1 + s)),
], ids=["step", "cosine", "lambda"])
def test_lr_schedulers_match_torch(make):
    torch = pytest.importorskip("torch")
    p, t = nn.Parameter(ms.zeros(2)), torch.zeros(2, requires_grad=True)
    o_ms, o_t = ms.optim.SGD([p], lr=0.1), torch.optim.SGD([t], lr=0.1)
    s_ms, s_t = make(ms.optim.lr_scheduler, o_ms), make(torch.optim.lr_scheduler, o_t)
    for _ in range(10):
        assert s_ms.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-12)
        o_t.step()
        o_ms.step()
        s_ms.step()
        s_t.step()
