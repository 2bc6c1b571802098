"""nn.Module's PyTorch surface: traversal (de-duplicated, torch's order), apply, registration
rules, to()/float()/double(), and the containers. The same model is built with minissl and
with torch (where installed) and the answers compared."""
from collections import OrderedDict

import numpy as np
import pytest

import minissl as ms
from minissl import nn

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
npy = ms.backend.to_numpy


def build(lib):
    """A model with a shared sub-module, a container of each kind, a buffer and a parameter-less child."""
    tnn = lib.nn

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.shared = tnn.Linear(3, 3)
            self.blocks = tnn.ModuleList([tnn.Sequential(self.shared, tnn.ReLU()), tnn.Linear(3, 2)])
            self.heads = tnn.ModuleDict({"b": tnn.Linear(2, 1), "a": tnn.Linear(2, 2)})
            self.again = self.shared
            self.scale = tnn.Parameter(lib.ones(1))
            self.register_buffer("steps", lib.zeros(2, dtype=lib.int64))
            self.register_buffer("avg", lib.zeros(2))

    return Net()


@needs_torch
def test_traversals_match_torch():
    ours, theirs = build(ms), build(torch)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_modules(remove_duplicate=False)]
    assert [n for n, _ in ours.named_modules(prefix="m")] == [n for n, _ in theirs.named_modules(prefix="m")]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(list(ours.modules())) == len(list(theirs.modules()))


@needs_torch
def test_apply_visits_children_first_then_self_like_torch():
    def order(lib):
        seen = []
        model = build(lib)
        assert model.apply(lambda m: seen.append(type(m).__name__)) is model
        return seen
    assert order(ms) == order(torch)


def test_apply_initialises_every_linear():
    model = build(ms)

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    model.apply(init)
    assert all((npy(m.weight) == 0).all() for m in model.modules() if isinstance(m, nn.Linear))


def test_named_modules_memo_skips_given_modules():
    model = build(ms)
    names = [n for n, _ in model.named_modules(memo={model.heads})]
    assert "heads" not in names and "heads.a" not in names and "blocks" in names


@needs_torch
def test_to_and_float_double_cast_floating_state_in_place_like_torch():
    for lib in (ms, torch):
        model = build(lib)
        w = model.shared.weight
        assert model.double() is model
        assert model.shared.weight is w and w.dtype == lib.float64  # the same Parameter, new dtype
        assert model.avg.dtype == lib.float64 and model.steps.dtype == lib.int64  # integer buffers keep theirs
        assert model.to(lib.float32) is model and w.dtype == lib.float32
        here = str(ms.devices.current()) if lib is ms else "cpu"  # the one device of this process
        assert model.to(here) is model and model.to(device=here, dtype=lib.float32) is model
        assert model.to(lib.ones(1, dtype=lib.float64)) is model and w.dtype == lib.float64
        assert model.half() is model and w.dtype == lib.float16
        with pytest.raises(TypeError):
            model.to(lib.int64)


def test_to_the_other_device_raises():
    other = "cuda" if not ms.cuda.is_available() else "cpu"
    with pytest.raises(RuntimeError, match="MINISSL_BACKEND"):
        nn.Linear(2, 2).to(other)


def test_grads_follow_the_cast_and_training_still_works():
    lin = nn.Linear(2, 1)
    lin(ms.ones(3, 2)).sum().backward()
    lin.double()
    assert lin.weight.grad.dtype == ms.float64
    opt = ms.optim.SGD(lin.parameters(), lr=0.1)
    opt.zero_grad()
    lin(ms.ones(3, 2, dtype=ms.float64)).sum().backward()
    opt.step()
    assert lin.weight.dtype == ms.float64


@needs_torch
@pytest.mark.parametrize("assign", [
    lambda lib, m: setattr(m, "weight", lib.ones(2, 2)),           # a plain tensor into a parameter slot
    lambda lib, m: setattr(m, "sub", 3),                           # a number into a module slot
    lambda lib, m: setattr(m, "buf", [1.0]),                       # a list into a buffer slot
    lambda lib, m: m.register_parameter("x.y", None),
    lambda lib, m: m.register_parameter("", None),
    lambda lib, m: m.register_parameter("plain", None),            # an existing plain attribute
    lambda lib, m: m.register_parameter("p", lib.ones(1)),         # not a Parameter
    lambda lib, m: m.add_module("x.y", lib.nn.ReLU()),
    lambda lib, m: m.add_module("z", 3),
    lambda lib, m: m.train(1),
])
def test_registration_errors_match_torch(assign):
    def make(lib):
        m = lib.nn.Linear(2, 2)
        m.sub = lib.nn.ReLU()
        m.register_buffer("buf", lib.zeros(1))
        m.plain = 1
        return m
    with pytest.raises(Exception) as theirs:
        assign(torch, make(torch))
    with pytest.raises(Exception) as ours:
        assign(ms, make(ms))
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)


@needs_torch
def test_none_and_buffer_assignment_keep_registration_like_torch():
    for lib in (ms, torch):
        m = lib.nn.Linear(2, 2)
        m.register_buffer("buf", lib.zeros(1))
        m.bias = None                       # stays registered as an absent parameter
        m.buf = lib.ones(3)                 # a new value for the same buffer
        assert m.bias is None and "bias" not in m.state_dict() and "buf" in m.state_dict()
        assert m.buf.shape == (3,) or tuple(m.buf.shape) == (3,)
        m.register_buffer("tmp", lib.zeros(1), persistent=False)
        assert "tmp" not in m.state_dict() and "tmp" in dict(m.named_buffers())
        del m.weight
        assert "weight" not in dict(m.named_parameters())


@needs_torch
def test_get_submodule_and_requires_grad_():
    for lib in (ms, torch):
        model = build(lib)
        assert model.get_submodule("blocks.0.1") is model.blocks[0][1]
        assert model.get_submodule("") is model
        assert model.get_parameter("heads.a.bias") is model.heads["a"].bias
        with pytest.raises(AttributeError):
            model.get_submodule("blocks.7")
        assert model.requires_grad_(False) is model
        assert not any(p.requires_grad for p in model.parameters())


def test_register_module_and_parameter():
    m = nn.Module()
    m.register_module("lin", nn.Linear(2, 2))
    m.register_parameter("w", nn.Parameter(ms.ones(2)))
    m.register_parameter("none", None)
    assert [n for n, _ in m.named_parameters()] == ["w", "lin.weight", "lin.bias"]
    assert m.none is None
    with pytest.raises(TypeError, match="nn.Parameter or None"):
        m.register_parameter("v", nn.Parameter(ms.ones(1)) * 2)


@needs_torch
def test_containers_match_torch():
    for lib in (ms, torch):
        seq = lib.nn.Sequential(OrderedDict([("fc", lib.nn.Linear(2, 3)), ("act", lib.nn.ReLU()),
                                             ("out", lib.nn.Linear(3, 1))]))
        assert [n for n, _ in seq.named_children()] == ["fc", "act", "out"]
        assert type(seq[1:]) is lib.nn.Sequential and [n for n, _ in seq[1:].named_children()] == ["act", "out"]
        assert seq[-1] is seq.out
        ml = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh(), lib.nn.Identity()])
        assert type(ml[:2]) is lib.nn.ModuleList and len(ml[:2]) == 2
        ml.insert(0, lib.nn.Identity())
        del ml[1]
        assert [type(m).__name__ for m in ml] == ["Identity", "Tanh", "Identity"]
        assert [n for n, _ in ml.named_children()] == ["0", "1", "2"]
        with pytest.raises(IndexError):
            ml[3]
        md = lib.nn.ModuleDict([("z", lib.nn.ReLU()), ("y", lib.nn.Tanh())])
        md.update({"x": lib.nn.Identity()})
        md["w"] = lib.nn.ReLU()
        assert list(md.keys()) == ["z", "y", "x", "w"] and "y" in md and len(md) == 4
        assert md.pop("z") is not None and list(md) == ["y", "x", "w"]
        pl = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)), lib.zeros(3)])
        assert isinstance(pl[1], lib.nn.Parameter) and len(pl) == 2
        assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
        pd = lib.nn.ParameterDict({"a": lib.ones(1)})
        pd["b"] = lib.nn.Parameter(lib.zeros(2))
        assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], lib.nn.Parameter)
        assert [n for n, _ in pd.named_parameters()] == ["a", "b"]


def test_a_parameter_list_trains():
    pl = nn.ParameterList([ms.ones(2), ms.ones(2)])
    opt = ms.optim.SGD(pl.parameters(), lr=0.5)
    (pl[0] * pl[1]).sum().backward()
    opt.step()
    np.testing.assert_allclose(npy(pl[0]), [0.5, 0.5])


def test_load_state_dict_returns_named_keys():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    np.testing.assert_array_equal(npy(a.weight), npy(b.weight))
