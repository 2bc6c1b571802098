"""ms.nn.init: the formulas (gains, fans, bounds, moments) checked against their definitions
and against torch.nn.init's own fan and gain computations where torch is installed."""
import math

import numpy as np
import pytest

import minissl as ms
from minissl.nn import init

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
npy = ms.backend.to_numpy

SHAPES = [(64, 32), (16, 8, 3, 3), (10, 20, 5), (7, 1)]


@needs_torch
@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ms.empty(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@needs_torch
@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                                  ("leaky_relu", 0.2), ("leaky_relu", 0), ("selu",)])
def test_gain_matches_torch(args):
    assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), abs=0)


@needs_torch
@pytest.mark.parametrize("call", [lambda m: m.nn.init.calculate_gain("softplus"),
                                  lambda m: m.nn.init.calculate_gain("leaky_relu", "x"),
                                  lambda m: m.nn.init.xavier_uniform_(m.empty(5)),
                                  lambda m: m.nn.init.kaiming_normal_(m.empty(3, 4), mode="fan_avg"),
                                  lambda m: m.nn.init.eye_(m.empty(2, 2, 2)),
                                  lambda m: m.nn.init.orthogonal_(m.empty(4))])
def test_errors_match_torch(call):
    with pytest.raises(ValueError) as theirs:
        call(torch)
    with pytest.raises(ValueError) as ours:
        call(ms)
    assert str(ours.value) == str(theirs.value)


def _sample(fn, shape=(200, 300), **kw):
    w = ms.empty(shape)
    out = fn(w, **kw)
    assert out is w
    return npy(w).astype(np.float64)


def _moments_ok(x, mean, std):
    """Sample mean and std within 6 standard errors of the formula's."""
    n = x.size
    assert abs(x.mean() - mean) < 6 * std / math.sqrt(n), (x.mean(), mean)
    assert abs(x.std() - std) < 6 * std / math.sqrt(2 * n), (x.std(), std)


def test_uniform_and_normal():
    x = _sample(init.uniform_, a=-1.0, b=3.0)
    assert x.min() >= -1 and x.max() < 3
    _moments_ok(x, 1.0, 4 / math.sqrt(12))
    _moments_ok(_sample(init.normal_, mean=0.5, std=2.0), 0.5, 2.0)


def test_xavier():
    fan_in, fan_out = 300, 200
    bound = math.sqrt(6 / (fan_in + fan_out))
    x = _sample(init.xavier_uniform_, gain=2.0)
    assert np.abs(x).max() <= 2 * bound
    _moments_ok(x, 0, 2 * bound / math.sqrt(3))
    _moments_ok(_sample(init.xavier_normal_), 0, math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("mode,fan", [("fan_in", 300), ("fan_out", 200)])
def test_kaiming(mode, fan):
    std = math.sqrt(2) / math.sqrt(fan)  # nonlinearity="relu"
    _moments_ok(_sample(init.kaiming_normal_, mode=mode, nonlinearity="relu"), 0, std)
    x = _sample(init.kaiming_uniform_, a=math.sqrt(5), mode=mode)  # PyTorch's Linear default: bound 1/√fan
    assert np.abs(x).max() <= 1 / math.sqrt(fan)
    _moments_ok(x, 0, 1 / math.sqrt(fan) / math.sqrt(3))


@needs_torch
def test_kaiming_bounds_match_torch_on_a_conv_weight():
    ours = ms.empty(8, 4, 3, 3)
    theirs = torch.empty(8, 4, 3, 3)
    init.kaiming_uniform_(ours, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
    torch.nn.init.kaiming_uniform_(theirs, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 0.01)) / math.sqrt(8 * 9)
    assert np.abs(npy(ours)).max() <= bound and theirs.abs().max().item() <= bound


def test_trunc_normal_stays_in_bounds_with_the_truncated_moments():
    x = _sample(init.trunc_normal_, mean=0.0, std=1.0, a=-1.0, b=2.0)
    assert x.min() >= -1 and x.max() <= 2
    # moments of N(0,1) truncated to [α, β]: mean = (φ(α) - φ(β)) / Z, var = 1 + (αφ(α) - βφ(β))/Z - mean²
    phi = lambda v: math.exp(-v * v / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    z = cdf(2) - cdf(-1)
    mean = (phi(-1) - phi(2)) / z
    var = 1 + (-1 * phi(-1) - 2 * phi(2)) / z - mean ** 2
    _moments_ok(x, mean, math.sqrt(var))
    with pytest.raises(ValueError, match="too little"):
        init.trunc_normal_(ms.empty(3), a=10.0, b=11.0)


def test_constant_ones_zeros_eye():
    assert (npy(init.constant_(ms.empty(2, 3), 0.25)) == 0.25).all()
    assert (npy(init.ones_(ms.empty(2))) == 1).all() and (npy(init.zeros_(ms.ones(2))) == 0).all()
    np.testing.assert_array_equal(npy(init.eye_(ms.empty(2, 3))), np.eye(2, 3))


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 2)])
def test_orthogonal(shape):
    w = npy(init.orthogonal_(ms.empty(shape, dtype=ms.float64), gain=2.0)).reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-10)


def test_changes_a_parameter_in_place_without_recording_a_graph():
    lin = ms.nn.Linear(4, 3)
    w = lin.weight
    version = w._version.n
    out = init.zeros_(lin.weight)
    assert out is w and lin.weight is w and w.requires_grad and w.is_leaf
    assert w._version.n > version and (npy(w) == 0).all()
    init.kaiming_normal_(w)
    lin(ms.ones(2, 4)).sum().backward()
    assert w.grad is not None


def test_generator_reproduces():
    a = init.normal_(ms.empty(5), generator=ms.Generator().manual_seed(1))
    b = init.normal_(ms.empty(5), generator=ms.Generator().manual_seed(1))
    np.testing.assert_array_equal(npy(a), npy(b))


def test_zero_element_tensor_is_a_warned_no_op():
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(ms.empty(0, 3))
