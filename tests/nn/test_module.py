"""Module bookkeeping: registration order, modes, state_dict / load_state_dict."""
import numpy as np
import pytest

import minissl as ms
from minissl import nn

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.scale = nn.Parameter(ms.ones(1))
        self.bn = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)


def test_parameter_order_is_definition_order():
    names = [n for n, _ in Block().named_parameters()]
    # as in PyTorch: a module's own parameters first, then each sub-module's, in definition order
    assert names == ["scale", "proj.weight", "proj.bias", "norm.weight", "norm.bias", "bn.weight", "bn.bias"]
    assert Block().num_parameters() == 1 + (12 + 4) + (4 + 4) + (4 + 4)


def test_shared_parameter_listed_once():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight = m[0].weight
    assert len(list(m.parameters())) == 3
    assert "1.weight" in m.state_dict()


def test_train_eval_propagate():
    m = Block()
    m.eval()
    assert all(not sub.training for sub in m.modules())
    m.train()
    assert m.drop.training and m.bn.training


def test_zero_grad():
    m = nn.Linear(2, 2)
    m(ms.randn(3, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert (npy(m.weight.grad) == 0).all()
    m.zero_grad()
    assert m.weight.grad is None


def test_state_dict_has_buffers_and_copies_on_load():
    m, other = Block(), Block()
    sd = m.state_dict()
    assert "bn.running_mean" in sd and "bn.running_var" in sd
    other.load_state_dict(sd)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    other.proj.weight.array[0, 0] = 99.0  # loaded values are copies, not shared arrays
    assert m.proj.weight.array[0, 0] != 99.0


def test_load_state_dict_strict_names_every_difference_and_changes_nothing():
    m = Block()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    sd = dict(Block().state_dict())
    sd["proj.weight"] = ms.randn(5, 3)                    # wrong shape
    sd["norm.bias"] = ms.zeros(4, dtype=ms.float64)       # wrong dtype
    del sd["scale"]                                       # missing
    sd["head.weight"] = ms.randn(2, 2)                    # unexpected
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    for part in ["proj.weight: shape (5, 3)", "(4, 3)", "norm.bias: dtype float64", "scale: missing",
                 "head.weight: in the checkpoint but not in the model", "nothing was changed"]:
        assert part in msg, part
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_state_dict_non_strict_reports_keys():
    m = nn.Linear(2, 3)
    sd = {"weight": ms.zeros(3, 2), "extra": ms.zeros(1)}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["bias"] and unexpected == ["extra"]
    assert (m.weight.numpy() == 0).all()
    with pytest.raises(RuntimeError, match="shape"):  # shapes are checked even when not strict
        m.load_state_dict({"weight": ms.zeros(2, 2)}, strict=False)


def test_module_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ms.ones(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nn.Linear(1, 1).nope


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    assert seq(ms.randn(4, 2)).shape == (4, 1)
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    assert [n for n, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    assert "Linear(in_features=2, out_features=3, bias=True)" in repr(seq)
