"""The autograd engine: graph walk, memory, aliasing, dtypes, no_grad."""
import gc
import weakref

import numpy as np
import pytest

import minissl as ms
from minissl.tensor import sum_to

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def test_backward_simple_chain_rule():
    x = ms.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x * 3 + x).sum()  # dy/dx = 6x + 1
    y.backward()
    np.testing.assert_array_equal(npy(x.grad), [7, 13, 19])


def test_diamond_graph_accumulates_both_paths():
    x = ms.tensor(2.0, requires_grad=True)
    a = x * 3
    y = a * a + a.exp()  # a used twice
    y.backward()
    assert npy(x.grad) == pytest.approx(3 * (2 * 6 + np.exp(6)))


def test_grads_accumulate_across_backward_calls():
    x = ms.tensor([1.0, -1.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [5, 5])


def test_10000_op_chain_no_recursion_error():
    x = ms.tensor(1.0, requires_grad=True, dtype=ms.float64)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert npy(x.grad) == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_intermediates_are_collectable_after_backward():
    x = ms.randn(50, 50, requires_grad=True)
    h = (x @ x).tanh()
    ref = weakref.ref(h)
    node = weakref.ref(h._ctx)
    loss = h.sum()
    del h
    loss.backward()
    gc.collect()
    # the loss's op freed its saved arrays, so nothing holds the intermediate any more
    assert ref() is None and node() is None
    assert x.grad is not None


def test_second_backward_through_freed_graph_is_a_clear_error():
    x = ms.randn(3, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = ms.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(npy(x.grad), [4, 8])


def test_gradients_are_fresh_writable_arrays():
    x = ms.randn(3, requires_grad=True)
    y = ms.randn(3, requires_grad=True)
    out = x + y  # Add hands the same upstream array to both inputs
    g = ms.randn(3)
    out.backward(g)
    assert not ms.xp.shares_memory(x.grad.array, y.grad.array)
    assert not ms.xp.shares_memory(x.grad.array, g.array) and not ms.xp.shares_memory(y.grad.array, g.array)
    x.grad[0] = 123.0  # writable, and changing it leaves the other gradient alone
    assert npy(y.grad)[0] != 123.0
    z = ms.randn(3, requires_grad=True)
    z.reshape(3).backward(g)  # a view op's backward must not alias the upstream gradient either
    assert not ms.xp.shares_memory(z.grad.array, g.array)
    s = ms.tensor(1.5, requires_grad=True)
    (s * 2).backward()
    assert isinstance(s.grad, ms.Tensor) and isinstance(s.grad.array, ms.xp.ndarray) and s.grad.shape == ()
    if not ms.backend.on_gpu:
        assert s.grad.array.flags.writeable


def test_float32_stays_float32_with_python_scalars():
    x = ms.randn(4, requires_grad=True)
    y = ((x * 0.5 + 1.25) / 3.0 - 2) ** 2.0
    y = 1.0 - y
    assert y.dtype == np.float32
    y.sum().backward()
    assert npy(x.grad).dtype == np.float32
    assert ms.tensor([1.0, 2.0]).dtype == np.float32
    assert ms.tensor([1, 2]).dtype == np.int64
    assert ms.tensor(np.zeros(2)).dtype == np.float64  # NumPy arrays keep their dtype


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        ms.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="token ids"):
        ms.arange(3).requires_grad_()


def test_no_grad_context_and_decorator():
    x = ms.randn(2, requires_grad=True)
    with ms.no_grad():
        y = x * 2
        with ms.enable_grad():
            z = x * 2
    assert not y.requires_grad and y._ctx is None
    assert z.requires_grad

    @ms.no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad
    assert ms.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_restored_after_exception():
    with pytest.raises(ValueError):
        with ms.no_grad():
            raise ValueError
    assert ms.is_grad_enabled()


def test_backward_argument_errors():
    x = ms.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        (x * 2).backward(ms.randn(2))


def test_detach_cuts_the_graph():
    x = ms.randn(3, requires_grad=True)
    y = x.detach() * x
    y.sum().backward()
    np.testing.assert_array_equal(npy(x.grad), x.numpy())


def test_sum_to_undoes_broadcasting():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(sum_to(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(sum_to(g, ()), g.sum())
    assert sum_to(g, (2, 3, 4)) is g


def test_tensor_basics():
    t = ms.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and len(t) == 2 and t.numel() == 4
    assert t.sum().item() == 10.0
    assert isinstance(t.numpy(), np.ndarray) and t.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="one element"):
        t.item()
    assert (t > 2).numpy().tolist() == [[False, False], [True, True]]
    assert t.argmax(dim=1).tolist() == [1, 1]
    assert "requires_grad=True" in repr(ms.tensor([1.0], requires_grad=True))
    assert ms.tensor(np.ones(3), dtype=ms.float32).dtype == np.float32
    assert t.T.tolist() == [[1, 3], [2, 4]]


def test_creation_functions_and_seeding():
    ms.manual_seed(7)
    a = ms.randn(3, 2)
    ms.manual_seed(7)
    b = ms.randn((3, 2))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32 and ms.rand(2).dtype == np.float32
    assert ms.zeros(2, 3).shape == (2, 3) and ms.ones((4,)).numpy().sum() == 4
    assert ms.arange(5).dtype == np.int64 and ms.arange(0.0, 1.0, 0.5).tolist() == [0.0, 0.5]
    r = ms.randint(0, 3, (100,)).numpy()
    assert r.min() >= 0 and r.max() <= 2
    assert ms.full((2,), 7.0).tolist() == [7.0, 7.0]
