"""ms.gradcheck itself: it must pass correct gradients and catch wrong ones."""
import numpy as np
import pytest

import minissl as ms
from minissl.tensor import Function


class WrongSquare(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return g * self.a  # should be 2a


class RightSquare(WrongSquare):
    def backward(self, g):
        return 2 * g * self.a


def _x(shape=(3, 2)):
    return ms.tensor(np.random.default_rng(0).uniform(-1, 1, shape), requires_grad=True)


def test_passes_correct_and_catches_wrong_backward():
    assert ms.gradcheck(RightSquare.apply, [_x()])
    with pytest.raises(ms.GradcheckError, match=r"input 0 \(shape \(3, 2\)\).*analytic .* numerical"):
        ms.gradcheck(WrongSquare.apply, [_x()])
    assert ms.gradcheck(WrongSquare.apply, [_x()], raise_exception=False) is False


def test_checks_only_inputs_that_require_grad_and_names_the_right_one():
    a, b = _x(), ms.tensor(np.ones((3, 2)))
    assert ms.gradcheck(lambda a, b: RightSquare.apply(a) * b, [a, b])
    c = _x()
    with pytest.raises(ms.GradcheckError, match="input 1"):
        ms.gradcheck(lambda a, c: a * 2 + WrongSquare.apply(c), [a, c])


def test_non_contiguous_input_is_perturbed_in_place():
    x = ms.from_numpy(np.random.default_rng(1).uniform(-1, 1, (3, 4)).T).requires_grad_()  # a transposed view
    assert not x.array.flags.c_contiguous
    assert ms.gradcheck(lambda t: (t * t).sum(0), [x])
    with pytest.raises(ms.GradcheckError):
        ms.gradcheck(WrongSquare.apply, [x])


def test_large_constant_outputs_do_not_drown_the_difference():
    x = _x((4,))
    assert ms.gradcheck(lambda t: ms.cat([t.tanh(), ms.tensor(np.full(3, 1e9))]), [x])


def test_refuses_float32_and_non_leaf_inputs():
    with pytest.raises(TypeError, match="float64"):
        ms.gradcheck(ms.exp, [ms.randn(3, requires_grad=True)])
    y = _x() * 2
    with pytest.raises(ValueError, match="leaf"):
        ms.gradcheck(ms.exp, [y])


def test_inputs_restored_after_check():
    x = _x()
    before = x.numpy().copy()
    ms.gradcheck(ms.tanh, x)
    np.testing.assert_array_equal(x.numpy(), before)
