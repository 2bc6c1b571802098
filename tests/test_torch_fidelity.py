"""The PyTorch rule (DESIGN.md §2): the same call gives the same result as PyTorch, or a loud error.

Each snippet below runs twice, once with ``T = torch`` and once with ``T = minissl``,
and the two results must agree in values, dtype and shape. The snippets are
idioms where a difference would be silent (a causal mask built with ``== 0``
that masks nothing; ``p -= lr * p.grad`` that changes nothing; ``x.max(1)[1]``
giving a row of values ...). Where minissl refuses on purpose, the test checks the refusal names
the difference.
"""
import numpy as np
import pytest

import minissl as ms
from minissl import nn

torch = pytest.importorskip("torch")


def same(a, b, tol=1e-6):
    """minissl result ``a`` equals torch result ``b``: type of object, dtype, shape and values."""
    if isinstance(b, (tuple, list)):
        assert type(a) is not ms.Tensor and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y, tol)
        return
    if isinstance(b, torch.Tensor):
        assert isinstance(a, ms.Tensor), f"expected a Tensor, got {type(a).__name__}"
        tb = b.detach().numpy()
        assert a.shape == tuple(b.shape), (a.shape, tuple(b.shape))
        assert a.dtype == tb.dtype, (a.dtype, tb.dtype)
        np.testing.assert_allclose(ms.backend.to_numpy(a.array), tb, rtol=tol, atol=tol)
        return
    assert type(a) is type(b), (type(a), type(b))
    assert a == (pytest.approx(b, rel=tol) if isinstance(b, float) else b)


def both(snippet):
    return snippet(ms), snippet(torch)


SNIPPETS = {
    # comparisons are element-wise and give bool tensors
    "eq_scalar": lambda T: T.tensor([0, 1, 0]) == 0,
    "ne_tensor": lambda T: T.tensor([1.0, 2.0]) != T.tensor([1.0, 3.0]),
    "lt_gt": lambda T: (T.tensor([1, 5]) < 3, T.tensor([1, 5]) >= 5),
    "causal_mask_idiom": lambda T: T.ones(3, 3).masked_fill(T.tril(T.ones(3, 3)) == 0, float("-inf")),
    "logical_ops": lambda T: ((T.tensor([1, 0, 1]) == 1) & (T.tensor([1, 1, 0]) == 1), ~(T.tensor([1, 0]) == 1)),
    # max/min with a dim give (values, indices)
    "max_dim": lambda T: tuple(T.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 9.0]]).max(1)),
    "max_dim_index_1": lambda T: T.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 9.0]]).max(1)[1],
    "min_dim_keepdim": lambda T: tuple(T.min(T.tensor([[4.0, 1.0], [0.0, 3.0]]), dim=0, keepdim=True)),
    "max_all": lambda T: T.tensor([[1.0, 5.0], [7.0, 2.0]]).max(),
    "max_elementwise": lambda T: T.max(T.tensor([1.0, 5.0]), T.tensor([3.0, 2.0])),
    "argmax": lambda T: (T.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(), T.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(1)),
    # PyTorch's type promotion
    "int_times_float": lambda T: T.arange(3) * 0.5,
    "int_truediv": lambda T: T.arange(3) / 2,
    "int_plus_float": lambda T: T.arange(3) + 0.5,
    "int_floordiv": lambda T: T.arange(7) // 2,
    "int_mod": lambda T: T.arange(7) % 3,
    "f32_with_0d_f64": lambda T: T.ones(2) + T.tensor(1.0, dtype=T.float64),
    "int_with_0d_f64": lambda T: T.arange(2) + T.tensor(1.5, dtype=T.float64),
    "f32_with_f64": lambda T: T.ones(2) * T.ones(2, dtype=T.float64),
    "int32_with_int64": lambda T: T.ones(2, dtype=T.int32) + T.ones(2, dtype=T.int64),
    "bool_plus_int": lambda T: (T.tensor([1, 0]) == 1) + 1,
    "int_pow_half": lambda T: T.arange(4) ** 0.5,
    "float_rpow": lambda T: 2 ** T.tensor([1.0, 3.0]),
    "where_promotes": lambda T: T.where(T.tensor([True, False]), T.arange(2), T.ones(2)),
    # shapes and transposes
    "T_3d": lambda T: T.arange(24).reshape(2, 3, 4).T,
    "mT_3d": lambda T: T.arange(24).reshape(2, 3, 4).mT,
    "topk": lambda T: tuple(T.topk(T.tensor([[1.0, 4.0, 2.0, 8.0]]), 2)),
    "sort_desc": lambda T: tuple(T.sort(T.tensor([3.0, 1.0, 2.0]), descending=True)),
    "tril_triu": lambda T: (T.tril(T.ones(3, 4), diagonal=1), T.triu(T.ones(3, 3), -1)),
    "unique": lambda T: T.unique(T.tensor([3, 1, 3, 2]), return_counts=True),
    "repeat": lambda T: T.arange(4).reshape(2, 2).repeat(2, 3),
    "roll": lambda T: T.roll(T.arange(6).reshape(2, 3), 1, 1),
    "chunk": lambda T: T.arange(5).chunk(2),
    "flatten": lambda T: T.ones(2, 3, 4).flatten(1),
    "clamp": lambda T: T.tensor([-2.0, 0.5, 3.0]).clamp(min=0, max=1),
    "std": lambda T: T.tensor([1.0, 2.0, 4.0]).std(),
    "one_element_conversions": lambda T: (float(T.tensor([2.5])), int(T.tensor(3)), bool(T.tensor([0])),
                                          [10, 20, 30][T.tensor(1)], f"{T.tensor(1.23456):.2f}"),
    "full_infers_dtype": lambda T: (T.full((2,), 7), T.full((2,), 7.0), T.full((2,), True)),
    "tensor_dtypes": lambda T: (T.tensor([1, 2]), T.tensor([1.0]), T.tensor([True]), T.Tensor([1, 2])),
    "randint_high_size": lambda T: T.randint(5, (3,)).shape,
    "clip_grad_norm_returns_tensor": lambda T: _clip(T),
}


def _clip(T):
    p = T.nn.Parameter(T.ones(3))
    (p * T.tensor([3.0, 4.0, 0.0])).sum().backward()
    return T.nn.utils.clip_grad_norm_([p], 1.0)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_same_result_as_torch(name):
    a, b = both(SNIPPETS[name])
    same(a, b)


# ---------------------------------------------------------------- in place
def _inplace_sgd(T):
    w = T.nn.Parameter(T.tensor([1.0, 2.0, 3.0]))
    (w * w).sum().backward()
    with T.no_grad():
        w -= 0.1 * w.grad
        w.grad.zero_()
    return w.detach().clone(), w.grad


def _aliases(T):
    a = T.zeros(3)
    b = a
    b += 1
    v = a[1:]          # a view: an in-place change through it is seen by a
    v.mul_(5)
    a[0] = 7
    return a


def _data_idioms(T):
    p = T.nn.Parameter(T.zeros(2, 2))
    p.data.copy_(T.ones(2, 2))
    p.data += 1
    p.data.fill_(3.0)
    q = p.data
    q[0, 0] = 9.0       # .data shares the parameter's memory
    return p.detach().clone()


def _setitem_with_grad(T):
    x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[1] = x[0] * 10     # index assignment recorded in the graph
    y.sum().backward()
    return y.detach(), x.grad


def _inplace_nonleaf_chain(T):
    x = T.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * 3           # uses y before it changes
    y.mul_(5)           # y changes afterwards: z's graph must still see the old y
    (z + y).sum().backward()
    return x.grad


def _clamp_and_copy_grads(T):
    x = T.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    w = T.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (x * 1).clamp_(0, 1)
    z = T.zeros(3).copy_(w)
    (y * z).sum().backward()
    return x.grad, w.grad


@pytest.mark.parametrize("snippet", [_inplace_sgd, _aliases, _data_idioms, _setitem_with_grad, _inplace_nonleaf_chain,
                                     _clamp_and_copy_grads], ids=lambda f: f.__name__.strip("_"))
def test_in_place_same_as_torch(snippet):
    a, b = both(snippet)
    same(a, b)


def test_modified_saved_tensor_raises_at_backward_as_torch():
    for T in (torch, ms):
        w = T.nn.Parameter(T.tensor([1.0, 2.0]))
        loss = (w * w).sum()
        with T.no_grad():
            w.add_(1)   # what optimizer.step() between forward and backward does
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


@pytest.mark.parametrize("layers", [1, 2])
def test_optimizer_step_before_second_backward_as_torch(layers):
    # a second backward must never silently use the updated weights. With one
    # layer no saved value is a weight (dW reads only the input), so torch and minissl both
    # run; with two, the second layer's weight is needed for dX and both refuse.
    results = []
    for T in (torch, ms):
        T.manual_seed(0)
        mods = [T.nn.Linear(3, 4), T.nn.Tanh(), T.nn.Linear(4, 1)] if layers == 2 else [T.nn.Linear(3, 1)]
        model = T.nn.Sequential(*mods)
        opt = T.optim.SGD(model.parameters(), lr=0.1)
        loss = model(T.ones(4, 3)).pow(2).sum()
        loss.backward(retain_graph=True)
        opt.step()
        try:
            loss.backward()
            results.append("ran")
        except RuntimeError as e:
            assert "modified by an inplace operation" in str(e)
            results.append("raised")
    assert results[0] == results[1] == ("ran" if layers == 1 else "raised")


def test_in_place_on_saved_output_raises():
    for T in (torch, ms):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_leaf_requiring_grad_refuses_in_place_outside_no_grad():
    for T in (torch, ms):
        w = T.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            w += 1


def test_in_place_dtype_rules_match_torch():
    for T in (torch, ms):
        t = T.arange(3)
        with pytest.raises(RuntimeError, match="can't be cast"):
            t += 0.5
        f = T.ones(2)
        f += T.ones(2, dtype=T.float64)  # a wider float is cast down in place, as torch
        assert f.dtype == T.float32


def test_view_of_tensor_requiring_grad_refuses_in_place_loudly():
    x = ms.randn(3, 2, requires_grad=True)
    h = x * 1
    with pytest.raises(NotImplementedError, match="view"):
        h[0] += 1  # torch rewrites h's graph; minissl says so instead of computing a wrong gradient


# ---------------------------------------------------------------- refusals that name the difference
def test_bool_of_many_elements_raises_like_torch():
    for T in (torch, ms):
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(T.tensor([1, 2]))
    assert not bool(ms.tensor([0])) and bool(ms.tensor([[3]]))


def test_softmax_without_dim_is_refused():
    with pytest.raises(TypeError, match="dim="):
        ms.nn.functional.softmax(ms.ones(2, 3))


def test_masked_fill_and_where_refuse_non_bool_masks():
    with pytest.raises(TypeError, match="bool"):
        ms.ones(3).masked_fill(ms.tensor([1, 0, 1]), 0.0)
    with pytest.raises(TypeError, match="bool"):
        ms.where(ms.tensor([1, 0]), ms.ones(2), ms.zeros(2))


def test_grad_and_data_are_tensors():
    p = nn.Parameter(ms.ones(2))
    (p * 3).sum().backward()
    assert isinstance(p.grad, ms.Tensor) and isinstance(p.data, ms.Tensor)
    assert p.data.array is p.array and not p.data.requires_grad
    with pytest.raises(RuntimeError, match="shape"):
        p.grad = ms.ones(3)


def test_devices_one_per_process():
    dev = ms.device("cuda" if ms.cuda.is_available() else "cpu")
    x = ms.zeros(2, device=dev).to(dev)
    assert x.device == dev and str(ms.device("cuda:0")) == "cuda:0"
    assert ms.cuda.is_available() == ms.backend.on_gpu
    other = "cpu" if ms.backend.on_gpu else "cuda"
    with pytest.raises(RuntimeError, match="MINISSL_BACKEND"):
        x.to(other)
    with pytest.raises(RuntimeError, match="MINISSL_BACKEND"):
        ms.ones(2, device=other)
    assert x.to(ms.float64).dtype == ms.float64 and x.to(dev, ms.int64).dtype == ms.int64
    ms.backends.cuda.matmul.allow_tf32 = True  # a switch programs set; nothing to change on NumPy


def test_bfloat16_is_refused_with_a_reason():
    with pytest.raises(AttributeError, match="bfloat16"):
        ms.bfloat16  # noqa: B018


def test_tensor_rejects_non_numbers():
    for bad in ("abc", None, [[1, 2], [3]], 2 ** 70):
        with pytest.raises((TypeError, OverflowError), match="tensor"):
            ms.tensor(bad)


def test_named_comparisons_fall_back_for_non_tensors():
    t = ms.ones(2)
    assert (t == None) is False and (t != "x") is True  # noqa: E711 - Python's answer, as torch
    assert t in [t] or True  # membership goes through ==, as in torch: use `is` for identity


def test_multinomial_draws_follow_the_weights():
    ms.manual_seed(0)
    p = ms.tensor([[0.0, 1.0, 3.0]])
    draws = ms.multinomial(p, 4000, replacement=True).numpy()
    assert draws.dtype == np.int64 and (draws != 0).all()
    assert abs((draws == 2).mean() - 0.75) < 0.03
    no_rep = ms.multinomial(ms.tensor([1.0, 1.0, 0.0]), 2).numpy()
    assert sorted(no_rep.tolist()) == [0, 1]
    with pytest.raises(RuntimeError, match="without replacement"):
        ms.multinomial(ms.tensor([1.0, 0.0]), 2)


def test_mixed_precision_switches_pass_through_or_refuse():
    with ms.autocast("cpu", dtype=ms.float32):
        pass
    with ms.amp.autocast(device_type="cuda", dtype=ms.float16, enabled=False):
        pass
    with pytest.raises(NotImplementedError, match="mixed precision"):
        ms.amp.autocast("cuda", dtype=ms.float16)
    scaler = ms.cuda.amp.GradScaler(enabled=False)
    p = nn.Parameter(ms.ones(2))
    opt = ms.optim.SGD([p], lr=0.5)
    scaler.scale((p * p).sum()).backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    assert p.tolist() == [0.0, 0.0]
    with pytest.raises(NotImplementedError, match="enabled=False"):
        ms.amp.GradScaler()
    assert ms.ones(2).pin_memory().shape == (2,)


def test_distributed_names_import_and_refuse_when_used():
    from minissl.distributed import destroy_process_group, init_process_group  # noqa: F401 - nanoGPT's imports
    from minissl.nn.parallel import DistributedDataParallel as DDP
    assert ms.distributed.is_available() is False and ms.distributed.is_initialized() is False
    with pytest.raises(NotImplementedError, match="one process"):
        init_process_group(backend="nccl")
    with pytest.raises(NotImplementedError, match="one process"):
        DDP(nn.Linear(2, 2))
    with pytest.raises(NotImplementedError, match="compiler"):
        ms.compile(nn.Linear(2, 2))


def test_assigning_requires_grad_follows_torch_rules():
    for T in (torch, ms):
        x = T.ones(2, requires_grad=True)
        y = x * 2
        with pytest.raises(RuntimeError, match="leaf"):
            y.requires_grad = False
        with pytest.raises((RuntimeError, TypeError), match="floating"):
            T.arange(3).requires_grad = True
        w = T.ones(2)
        w.requires_grad = True  # a float leaf may be switched on, as micrograd's test does
        (w * 3).sum().backward()
        assert w.grad.tolist() == [3.0, 3.0]
