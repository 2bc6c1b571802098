"""``Optimizer.load_state_dict`` is all or nothing: everything is checked (groups,
their sizes, state indices, each buffer's shape and dtype against its parameter,
hyper-parameter types) before anything changes, so a bad state leaves the
optimizer exactly as it was, and a wrong buffer is refused at load, not at step()."""
import copy

import numpy as np
import pytest

import minissl as ms
from minissl import backend, nn, optim


def trained(cls=optim.AdamW, **kw):
    params = [nn.Parameter(ms.randn(3, 2)), nn.Parameter(ms.randn(2))]
    opt = cls([{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.0}], lr=0.1, **kw)
    for _ in range(2):
        for p in params:
            p.grad = ms.ones(p.shape)
        opt.step()
    return opt


def snapshot(opt):
    """Hyper-parameters and buffers, the buffers keyed by parameter position."""
    flat = [p for g in opt.param_groups for p in g["params"]]
    return ([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
            {i: {n: backend.to_numpy(b) for n, b in opt.state[id(p)].items()} for i, p in enumerate(flat)
             if id(p) in opt.state})


def same(a, b):
    (ga, sa), (gb, sb) = a, b
    return ga == gb and sa.keys() == sb.keys() and all(
        sa[k].keys() == sb[k].keys() and all(np.array_equal(sa[k][n], sb[k][n]) for n in sa[k]) for k in sa)


def good_state():
    return trained().state_dict()


def mutate(f):
    sd = copy.deepcopy(good_state())
    f(sd)
    return sd


BAD = [
    ("state index out of range", lambda sd: sd["state"].update({7: sd["state"][0]}), "7"),
    ("negative state index", lambda sd: sd["state"].update({-1: sd["state"][0]}), "-1"),
    ("state index not an int", lambda sd: sd["state"].update({"w": sd["state"][0]}), "'w'"),
    ("buffer of the wrong shape", lambda sd: sd["state"][0].update(exp_avg=np.zeros((2, 3), np.float32)),
     "exp_avg"),
    ("buffer of the wrong dtype", lambda sd: sd["state"][1].update(exp_avg_sq=np.zeros(2, np.float64)),
     "exp_avg_sq"),
    ("ragged buffer", lambda sd: sd["state"][1].update(exp_avg=[[1.0], [2.0, 3.0]]), "exp_avg"),
    ("step not a number", lambda sd: sd["state"][1].update(step="2"), "step"),
    ("state of a param not a dict", lambda sd: sd["state"].update({1: [1, 2]}), "1"),
    ("one group too many", lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), "3 parameter groups"),
    ("group of another size", lambda sd: sd["param_groups"][0].update(params=[0, 1]), "group 0"),
    ("lr not a number", lambda sd: sd["param_groups"][1].update(lr="0.1"), "lr"),
    ("betas not a pair", lambda sd: sd["param_groups"][0].update(betas=0.9), "betas"),
    ("group not a dict", lambda sd: sd["param_groups"].__setitem__(0, [0.1]), "group 0"),
    ("no state entry", lambda sd: sd.pop("state"), "'state'"),
]


@pytest.mark.parametrize("change, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_state_changes_nothing(change, words):
    opt = optim.AdamW([nn.Parameter(ms.randn(3, 2)), nn.Parameter(ms.randn(2))], lr=1.0)
    opt.param_groups = [dict(opt.param_groups[0], params=opt.param_groups[0]["params"][:1]),
                        dict(opt.param_groups[0], params=opt.param_groups[0]["params"][1:])]
    before = snapshot(opt)
    with pytest.raises((ValueError, TypeError)) as e:
        opt.load_state_dict(mutate(change))
    assert words in str(e.value), str(e.value)
    assert same(snapshot(opt), before)  # all or nothing: not even the lr changes before the refusal


def test_not_a_dict():
    opt = optim.SGD([nn.Parameter(ms.randn(2))], lr=0.1)
    with pytest.raises(TypeError, match="dict.*list"):
        opt.load_state_dict([{"lr": 1}])


def test_a_good_state_round_trips_through_a_checkpoint_and_is_copied(tmp_path):
    a = trained()
    ms.save(a.state_dict(), tmp_path / "o.npz")
    sd = ms.load(tmp_path / "o.npz")
    b = optim.AdamW([nn.Parameter(ms.zeros(3, 2)), nn.Parameter(ms.zeros(2))], lr=1.0)
    b.param_groups = [dict(b.param_groups[0], params=b.param_groups[0]["params"][:1]),
                      dict(b.param_groups[0], params=b.param_groups[0]["params"][1:])]
    b.load_state_dict(sd)
    assert same(snapshot(a), snapshot(b))
    for p in (p for g in b.param_groups for p in g["params"]):
        p.grad = ms.ones(p.shape)
    b.step()  # updates b's buffers in place ...
    np.testing.assert_array_equal(np.asarray(sd["state"][0]["step"]), 2)  # ... never the dict it loaded
    loaded = b.state[id(b.param_groups[0]["params"][0])]["exp_avg"]
    assert not np.shares_memory(np.asarray(sd["state"][0]["exp_avg"]), backend.to_numpy(loaded))


def test_old_state_dicts_without_params_lists_still_load():
    sd = good_state()
    for g in sd["param_groups"]:
        g.pop("params")
    opt = trained()
    opt.load_state_dict(sd)


def test_sgd_momentum_buffer_is_checked():
    p = nn.Parameter(ms.randn(4))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    sd["state"] = {0: {"momentum_buffer": np.zeros(5, np.float32)}}
    with pytest.raises(ValueError, match="momentum_buffer.*shape"):
        opt.load_state_dict(sd)
    assert opt.state == {}
