"""Bad input to ops and layers: each gets one sentence naming the
op or argument, and where PyTorch defines a result, minissl gives the same one.

The first half covers inputs that would otherwise fail silently; the
table at the end tries bad calls per op family and checks the exception type,
that the message names the op/argument, and, with torch installed, that
PyTorch refuses the same call too (so minissl never refuses what it accepts).
"""
import warnings

import numpy as np
import pytest

import minissl as ms
import minissl.nn as nn
import minissl.nn.functional as F

npy = ms.backend.to_numpy

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the torch comparisons below skip; the minissl checks still run
    torch = TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")
rng = np.random.default_rng(0)


# ---------------------------------------------------------------- cross_entropy, every target ignored
@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_all_ignored_matches_torch(reduction, label_smoothing):
    z = rng.standard_normal((4, 5))
    y = np.full(4, -100)
    a = ms.tensor(z, requires_grad=True)
    out = F.cross_entropy(a, ms.tensor(y), reduction=reduction, label_smoothing=label_smoothing)
    t = torch.tensor(z, requires_grad=True)
    ref = TF.cross_entropy(t, torch.tensor(y), reduction=reduction, label_smoothing=label_smoothing)
    np.testing.assert_array_equal(npy(out.array), ref.detach().numpy())  # NaN for 'mean', as PyTorch
    g = rng.standard_normal(ref.shape)
    out.backward(ms.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_array_equal(npy(a.grad.array), t.grad.numpy())  # exactly zero: no row took part
    assert not np.isnan(npy(a.grad.array)).any()


def test_all_padding_batch_leaves_weights_finite_after_adamw():
    lin = nn.Linear(3, 4)
    opt = ms.optim.AdamW(lin.parameters(), lr=0.1)
    before = npy(lin.weight.array).copy()
    loss = F.cross_entropy(lin(ms.randn(2, 3)), ms.tensor([-100, -100]))
    assert np.isnan(float(loss))
    loss.backward()
    opt.step()
    after = npy(lin.weight.array)
    assert np.isfinite(after).all()
    np.testing.assert_allclose(after, before * (1 - 0.1 * 0.01), rtol=1e-6)  # only AdamW's weight decay moved it


# ---------------------------------------------------------------- losses
@pytest.mark.parametrize("shapes", [((4, 1), (4,)), ((4,), (4, 1)), ((2, 3), (3,))])
def test_mse_loss_warns_on_target_shape_mismatch_as_torch(shapes):
    a, b = (rng.standard_normal(s) for s in shapes)
    with pytest.warns(UserWarning, match=r"mse_loss: using a target size .* different to the input size"):
        out = F.mse_loss(ms.tensor(a), ms.tensor(b))
    if torch is not None:
        with pytest.warns(UserWarning, match="different to the input size"):
            ref = TF.mse_loss(torch.tensor(a), torch.tensor(b))
        np.testing.assert_allclose(float(out), float(ref), rtol=1e-12)  # the same (broadcast) value


def test_mse_loss_same_shapes_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(ms.zeros(4, 1), ms.ones(4, 1))


@needs_torch
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((3, 0), -1), ((0, 3), 0), ((0, 3), 1), ((2, 0, 4), 1)])
def test_softmax_over_empty_dim_is_empty_as_torch(fn, shape, dim):
    x = ms.zeros(*shape, requires_grad=True)
    y = getattr(F, fn)(x, dim=dim)
    assert y.shape == tuple(getattr(TF, fn)(torch.zeros(shape), dim=dim).shape)
    y.sum().backward()
    assert x.grad.shape == shape


# ---------------------------------------------------------------- joins and attention: shapes and dtypes that NumPy would broadcast or promote silently
@needs_torch
@pytest.mark.parametrize("op", ["cat", "stack"])
@pytest.mark.parametrize("dtypes", [("float32", "int64"), ("bool", "int32"), ("float64", "float32")])
def test_cat_stack_promote_dtypes_as_torch(op, dtypes):
    ts = [ms.zeros(2, 3, dtype=getattr(ms, d)) for d in dtypes]
    ref = getattr(torch, op)([torch.zeros(2, 3, dtype=getattr(torch, d)) for d in dtypes])
    assert str(getattr(ms, op)(ts).dtype) == str(ref.dtype).replace("torch.", "")


def test_cat_skips_legacy_empty_1d_tensor_as_torch():
    a, e = ms.ones(2, 3, requires_grad=True), ms.zeros(0, requires_grad=True)
    y = ms.cat([e, a, e], dim=1)
    assert y.shape == (2, 3)
    y.sum().backward()
    assert a.grad.shape == (2, 3) and e.grad.shape == (0,)


def test_unsqueeze_out_of_range_raises():
    with pytest.raises(IndexError, match=r"unsqueeze: dim 4 .* shape \(2, 3\)"):
        ms.zeros(2, 3).unsqueeze(4)


def test_reduction_name_is_checked_by_every_loss():
    for call in (lambda: F.mse_loss(ms.zeros(2), ms.zeros(2), reduction="avg"),
                 lambda: F.binary_cross_entropy_with_logits(ms.zeros(2), ms.zeros(2), reduction="avg")):
        with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
            call()


def test_sdpa_refuses_integer_mask_that_would_be_added_to_scores():
    q = ms.zeros(1, 2, 4)
    with pytest.raises(TypeError, match=r"attn_mask must be bool .* int64"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ms.zeros(2, 2, dtype=ms.int64))


def test_sdpa_dropout_one_drops_everything():
    q = ms.randn(1, 3, 4)
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    np.testing.assert_array_equal(npy(out.array), 0)


def _mha_pair(batch_first):
    """A minissl MultiheadAttention and a torch one with the same weights."""
    m = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    t = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    w = t.in_proj_weight.detach().numpy()
    b = t.in_proj_bias.detach().numpy()
    for i, lin in enumerate((m.q_proj, m.k_proj, m.v_proj)):
        lin.weight.array = ms.tensor(w[8 * i:8 * (i + 1)]).array
        lin.bias.array = ms.tensor(b[8 * i:8 * (i + 1)]).array
    m.out_proj.weight.array = ms.tensor(t.out_proj.weight.detach().numpy()).array
    m.out_proj.bias.array = ms.tensor(t.out_proj.bias.detach().numpy()).array
    return m, t


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_unbatched_input_matches_torch(batch_first):
    m, t = _mha_pair(batch_first)
    x, kpm = rng.standard_normal((5, 8)), np.array([False, False, True, False, True])
    out, w = m(ms.tensor(x), ms.tensor(x), ms.tensor(x), key_padding_mask=ms.tensor(kpm))
    ref, rw = t(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm))
    assert out.shape == (5, 8) and w.shape == (5, 5)
    np.testing.assert_allclose(npy(out.array), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(npy(w.array), rw.detach().numpy(), atol=1e-12)


@needs_torch
def test_multihead_attention_3d_mask_is_per_batch_and_head_as_torch():
    # PyTorch's 3-D mask is (B·H, L, S): one mask per batch row and head. Broadcast against (B, H, L, S) as
    # if it were (?, L, S) it would be silently wrong wherever the sizes happen to fit (B=2, H=1)
    m, t = _mha_pair(True)
    x = rng.standard_normal((2, 5, 8))
    mask = rng.random((4, 5, 5)) > 0.6
    mask[..., 0] = False  # every query may see key 0
    out, w = m(ms.tensor(x), attn_mask=ms.tensor(mask), average_attn_weights=False)
    ref, rw = t(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(mask), average_attn_weights=False)
    np.testing.assert_allclose(npy(out.array), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(npy(w.array), rw.detach().numpy(), atol=1e-12)


# ---------------------------------------------------------------- layers PyTorch accepts
@needs_torch
def test_linear_with_no_inputs_works_as_torch():
    lin = nn.Linear(0, 3)
    y = lin(ms.zeros(2, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "Initializing zero-element tensors is a no-op"
        ref = torch.nn.Linear(0, 3)(torch.zeros(2, 0))
    assert y.shape == tuple(ref.shape)
    np.testing.assert_array_equal(npy(y.array), ref.detach().numpy())  # the bias, which is 0 when fan_in is 0


def test_embedding_negative_padding_idx_is_stored_positive_as_torch():
    emb = nn.Embedding(5, 4, padding_idx=-1)
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(npy(emb.weight.array[4]), 0)


def test_layer_norm_of_zero_features_is_empty_as_torch():
    x = ms.zeros(2, 0, requires_grad=True)
    ln = nn.LayerNorm(0)
    y = ln(x)
    y.sum().backward()
    assert y.shape == (2, 0) and x.grad.shape == (2, 0) and ln.weight.grad.shape == (0,)


# ---------------------------------------------------------------- the table: bad calls per op family
Z, I = ms.zeros, ms.tensor
q4, k4 = (2, 4, 5, 8), (2, 4, 6, 8)


def _t(*shape, dtype="float32"):
    return torch.zeros(*shape, dtype=getattr(torch, dtype))


def _mha(*args, **kw):
    return nn.MultiheadAttention(*args, **kw)


def _tmha(*args, **kw):
    return torch.nn.MultiheadAttention(*args, **kw)


# (family, what, minissl call, torch call or None, exception type, words the message must contain)
BAD = [
    ("math", "matmul batch", lambda: Z(2, 3, 4) @ Z(3, 4, 5), lambda: _t(2, 3, 4) @ _t(3, 4, 5),
     ValueError, ["matmul", "(2, 3, 4)", "(3, 4, 5)", "batch"]),
    ("math", "matmul inner", lambda: Z(2, 3) @ Z(4, 5), lambda: _t(2, 3) @ _t(4, 5),
     ValueError, ["matmul", "(2, 3)", "(4, 5)"]),
    ("math", "add broadcast", lambda: Z(2, 3) + Z(4), lambda: _t(2, 3) + _t(4),
     ValueError, ["add", "(2, 3)", "(4,)"]),
    ("math", "mul broadcast", lambda: Z(2, 3) * Z(4), lambda: _t(2, 3) * _t(4),
     ValueError, ["mul", "(2, 3)", "(4,)"]),
    ("math", "linear features", lambda: F.linear(Z(2, 3), Z(4, 5)), lambda: TF.linear(_t(2, 3), _t(4, 5)),
     ValueError, ["linear", "(2, 3)", "(4, 5)"]),
    ("shape", "cat []", lambda: ms.cat([]), lambda: torch.cat([]), ValueError, ["cat", "non-empty"]),
    ("shape", "stack []", lambda: ms.stack([]), lambda: torch.stack([]), ValueError, ["stack", "non-empty"]),
    ("shape", "cat shapes", lambda: ms.cat([Z(2, 3), Z(2, 4)]), lambda: torch.cat([_t(2, 3), _t(2, 4)]),
     ValueError, ["cat", "(2, 3)", "(2, 4)"]),
    ("shape", "cat ranks", lambda: ms.cat([Z(2, 3), Z(2, 3, 1)]), lambda: torch.cat([_t(2, 3), _t(2, 3, 1)]),
     ValueError, ["cat", "(2, 3)", "(2, 3, 1)"]),
    ("shape", "cat 0-d", lambda: ms.cat([I(1.0), I(2.0)]), lambda: torch.cat([torch.tensor(1.), torch.tensor(2.)]),
     ValueError, ["cat", "zero-dimensional"]),
    ("shape", "cat non-tensor", lambda: ms.cat([Z(2), [1.0, 2.0]]), lambda: torch.cat([_t(2), [1.0, 2.0]]),
     TypeError, ["cat", "element 1", "list"]),
    ("shape", "stack shapes", lambda: ms.stack([Z(2, 3), Z(2, 4)]), lambda: torch.stack([_t(2, 3), _t(2, 4)]),
     ValueError, ["stack", "(2, 3)", "(2, 4)"]),
    ("shape", "cat dim", lambda: ms.cat([Z(2, 3)], dim=2), lambda: torch.cat([_t(2, 3)], dim=2),
     IndexError, ["cat", "dimension 2"]),
    ("shape", "unsqueeze dim", lambda: Z(2, 3).unsqueeze(4), lambda: _t(2, 3).unsqueeze(4),
     IndexError, ["unsqueeze", "(2, 3)"]),
    ("shape", "expand", lambda: Z(2, 3).expand(4, 3), lambda: _t(2, 3).expand(4, 3),
     ValueError, ["expand", "(2, 3)", "(4, 3)"]),
    ("shape", "split 0", lambda: Z(4).split(0), lambda: _t(4).split(0), ValueError, ["split", "split_size"]),
    ("shape", "chunk 0", lambda: Z(4).chunk(0), lambda: _t(4).chunk(0), ValueError, ["chunk", "chunks"]),
    ("shape", "where broadcast", lambda: ms.where(Z(2, 3) > 0, Z(2, 3), Z(4)),
     lambda: torch.where(_t(2, 3) > 0, _t(2, 3), _t(4)), ValueError, ["where", "(2, 3)", "(4,)"]),
    ("shape", "masked_fill broadcast", lambda: Z(4).masked_fill(Z(3) > 0, 1.0),
     lambda: _t(4).masked_fill(_t(3) > 0, 1.0), ValueError, ["masked_fill", "(3,)", "(4,)"]),
    ("reduce", "max empty", lambda: Z(0, 3).max(), lambda: _t(0, 3).max(), IndexError, ["max", "empty", "(0, 3)"]),
    ("reduce", "max(dim) empty", lambda: Z(0, 3).max(dim=0), lambda: _t(0, 3).max(dim=0),
     IndexError, ["max", "empty", "(0, 3)"]),
    ("reduce", "argmax empty", lambda: Z(0).argmax(), lambda: _t(0).argmax(), IndexError, ["argmax", "empty"]),
    ("reduce", "amin empty dim", lambda: Z(3, 0).amin(dim=1), lambda: _t(3, 0).amin(dim=1),
     IndexError, ["min", "empty", "(3, 0)"]),
    ("reduce", "sum dim", lambda: Z(2, 3).sum(5), lambda: _t(2, 3).sum(5), IndexError, ["dimension 5"]),
    ("reduce", "mean int", lambda: Z(2, dtype=ms.int64).mean(), lambda: _t(2, dtype="int64").mean(),
     TypeError, ["mean", "int64"]),
    ("losses", "label_smoothing 2", lambda: F.cross_entropy(Z(4, 3), I([0, 1, 2, 0]), label_smoothing=2.0),
     lambda: TF.cross_entropy(_t(4, 3), torch.tensor([0, 1, 2, 0]), label_smoothing=2.0),
     RuntimeError, ["cross_entropy", "label_smoothing", "2.0"]),
    # PyTorch ignores a negative smoothing (its check is inside `if label_smoothing > 0`) and returns the
    # unsmoothed loss; minissl would compute a different number, so it refuses (a listed deliberate difference)
    ("losses", "label_smoothing -0.1", lambda: F.cross_entropy(Z(4, 3), I([0, 1, 2, 0]), label_smoothing=-0.1),
     None, RuntimeError, ["cross_entropy", "label_smoothing", "-0.1"]),
    ("losses", "integer logits", lambda: F.cross_entropy(Z(4, 3, dtype=ms.int64), I([0, 1, 2, 0])),
     lambda: TF.cross_entropy(_t(4, 3, dtype="int64"), torch.tensor([0, 1, 2, 0])),
     TypeError, ["cross_entropy", "int64", "float"]),
    ("losses", "0-d logits", lambda: F.cross_entropy(Z(), I(0)), lambda: TF.cross_entropy(_t(), torch.tensor(0)),
     ValueError, ["cross_entropy", "0-d"]),
    ("losses", "target shape", lambda: F.cross_entropy(Z(4, 3), I([0, 1])),
     lambda: TF.cross_entropy(_t(4, 3), torch.tensor([0, 1])), ValueError, ["cross_entropy", "(2,)", "(4, 3)"]),
    ("losses", "target range", lambda: F.cross_entropy(Z(4, 3), I([0, 1, 3, 0])),
     lambda: TF.cross_entropy(_t(4, 3), torch.tensor([0, 1, 3, 0])), IndexError, ["cross_entropy", "target 3"]),
    ("losses", "ce reduction", lambda: F.cross_entropy(Z(4, 3), I([0, 1, 2, 0]), reduction="avg"),
     lambda: TF.cross_entropy(_t(4, 3), torch.tensor([0, 1, 2, 0]), reduction="avg"),
     ValueError, ["cross_entropy", "reduction", "avg"]),
    ("losses", "mse reduction", lambda: F.mse_loss(Z(4), Z(4), reduction="avg"),
     lambda: TF.mse_loss(_t(4), _t(4), reduction="avg"), ValueError, ["mse_loss", "reduction", "avg"]),
    ("losses", "mse broadcast", lambda: F.mse_loss(Z(2, 3), Z(4)), lambda: TF.mse_loss(_t(2, 3), _t(4)),
     ValueError, ["mse_loss", "(2, 3)", "(4,)"]),
    ("losses", "bce reduction", lambda: F.binary_cross_entropy_with_logits(Z(4), Z(4), reduction="avg"),
     lambda: TF.binary_cross_entropy_with_logits(_t(4), _t(4), reduction="avg"),
     ValueError, ["binary_cross_entropy_with_logits", "reduction"]),
    ("losses", "bce target shape", lambda: F.binary_cross_entropy_with_logits(Z(4, 1), Z(4)),
     lambda: TF.binary_cross_entropy_with_logits(_t(4, 1), _t(4)),
     ValueError, ["binary_cross_entropy_with_logits", "(4,)", "(4, 1)"]),
    ("losses", "softmax int", lambda: F.softmax(Z(3, dtype=ms.int64), dim=0),
     lambda: TF.softmax(_t(3, dtype="int64"), dim=0), TypeError, ["softmax", "int64"]),
    ("losses", "log_softmax dim", lambda: F.log_softmax(Z(4), dim=1), lambda: TF.log_softmax(_t(4), dim=1),
     IndexError, ["log_softmax", "dim 1", "(4,)"]),
    ("attention", "sdpa batch", lambda: F.scaled_dot_product_attention(Z(*q4), Z(3, 4, 6, 8), Z(3, 4, 6, 8)),
     lambda: TF.scaled_dot_product_attention(_t(*q4), _t(3, 4, 6, 8), _t(3, 4, 6, 8)),
     ValueError, ["scaled_dot_product_attention", "(2, 4, 5, 8)", "(3, 4, 6, 8)", "batch"]),
    ("attention", "sdpa heads", lambda: F.scaled_dot_product_attention(Z(*q4), Z(2, 3, 6, 8), Z(2, 3, 6, 8)),
     lambda: TF.scaled_dot_product_attention(_t(*q4), _t(2, 3, 6, 8), _t(2, 3, 6, 8)),
     ValueError, ["scaled_dot_product_attention", "(2, 4, 5, 8)", "key (2, 3, 6, 8)"]),
    ("attention", "sdpa mask", lambda: F.scaled_dot_product_attention(Z(*q4), Z(*k4), Z(*k4),
                                                                      attn_mask=Z(5, 7, dtype=ms.bool)),
     lambda: TF.scaled_dot_product_attention(_t(*q4), _t(*k4), _t(*k4), attn_mask=_t(5, 7, dtype="bool")),
     ValueError, ["scaled_dot_product_attention", "attn_mask", "(5, 7)", "(2, 4, 5, 6)"]),
    ("attention", "sdpa int mask", lambda: F.scaled_dot_product_attention(Z(*q4), Z(*k4), Z(*k4),
                                                                          attn_mask=Z(5, 6, dtype=ms.int64)),
     lambda: TF.scaled_dot_product_attention(_t(*q4), _t(*k4), _t(*k4), attn_mask=_t(5, 6, dtype="int64")),
     TypeError, ["scaled_dot_product_attention", "attn_mask", "int64"]),
    ("attention", "sdpa head dim", lambda: F.scaled_dot_product_attention(Z(*q4), Z(2, 4, 6, 7), Z(*k4)),
     lambda: TF.scaled_dot_product_attention(_t(*q4), _t(2, 4, 6, 7), _t(*k4)),
     ValueError, ["scaled_dot_product_attention", "(2, 4, 5, 8)", "(2, 4, 6, 7)"]),
    ("attention", "sdpa 1-d", lambda: F.scaled_dot_product_attention(Z(4), Z(4), Z(4)),
     lambda: TF.scaled_dot_product_attention(_t(4), _t(4), _t(4)),
     ValueError, ["scaled_dot_product_attention", "(4,)", "2 dimensions"]),
    ("attention", "sdpa dropout 2", lambda: F.scaled_dot_product_attention(Z(2, 5, 8), Z(2, 5, 8), Z(2, 5, 8),
                                                                           dropout_p=2.0),
     lambda: TF.scaled_dot_product_attention(_t(2, 5, 8), _t(2, 5, 8), _t(2, 5, 8), dropout_p=2.0),
     ValueError, ["scaled_dot_product_attention", "dropout", "2.0"]),
    ("attention", "mha batch", lambda: _mha(8, 2, batch_first=True)(Z(2, 5, 8), Z(3, 6, 8), Z(3, 6, 8)),
     lambda: _tmha(8, 2, batch_first=True)(_t(2, 5, 8), _t(3, 6, 8), _t(3, 6, 8)),
     ValueError, ["MultiheadAttention", "(2, 5, 8)", "(3, 6, 8)", "batch"]),
    ("attention", "mha 4-d", lambda: _mha(8, 2)(Z(1, 2, 5, 8)), lambda: _tmha(8, 2)(*(_t(1, 2, 5, 8),) * 3),
     ValueError, ["MultiheadAttention", "(1, 2, 5, 8)", "3-D", "2-D"]),
    ("attention", "mha features", lambda: _mha(8, 2, batch_first=True)(Z(2, 5, 6)),
     lambda: _tmha(8, 2, batch_first=True)(*(_t(2, 5, 6),) * 3),
     ValueError, ["MultiheadAttention", "query", "(2, 5, 6)", "expected 8"]),
    ("attention", "mha key/value length", lambda: _mha(8, 2, batch_first=True)(Z(2, 5, 8), Z(2, 5, 8), Z(2, 4, 8)),
     lambda: _tmha(8, 2, batch_first=True)(_t(2, 5, 8), _t(2, 5, 8), _t(2, 4, 8)),
     ValueError, ["MultiheadAttention", "(2, 5, 8)", "(2, 4, 8)", "sequence length"]),
    ("attention", "mha key_padding_mask", lambda: _mha(8, 2, batch_first=True)(
        Z(2, 5, 8), key_padding_mask=Z(2, 4, dtype=ms.bool)),
     lambda: _tmha(8, 2, batch_first=True)(*(_t(2, 5, 8),) * 3, key_padding_mask=_t(2, 4, dtype="bool")),
     ValueError, ["key_padding_mask", "(2, 4)", "(2, 5)"]),
    ("attention", "mha attn_mask", lambda: _mha(8, 2, batch_first=True)(Z(2, 5, 8), attn_mask=Z(4, 4, dtype=ms.bool)),
     lambda: _tmha(8, 2, batch_first=True)(*(_t(2, 5, 8),) * 3, attn_mask=_t(4, 4, dtype="bool")),
     ValueError, ["attn_mask", "(4, 4)", "(5, 5)", "(4, 5, 5)"]),
    ("attention", "mha dropout 2 in training", lambda: _mha(8, 2, dropout=2.0)(Z(5, 2, 8)),
     lambda: _tmha(8, 2, dropout=2.0)(*(_t(5, 2, 8),) * 3), ValueError, ["MultiheadAttention", "dropout", "2.0"]),
    ("layers", "MultiheadAttention(8, 0)", lambda: _mha(8, 0), lambda: _tmha(8, 0),
     ValueError, ["MultiheadAttention", "num_heads=0"]),
    ("layers", "MultiheadAttention(8, -2)", lambda: _mha(8, -2), lambda: _tmha(8, -2),
     ValueError, ["MultiheadAttention", "num_heads=-2"]),
    ("layers", "MultiheadAttention(0, 2)", lambda: _mha(0, 2), lambda: _tmha(0, 2),
     ValueError, ["MultiheadAttention", "embed_dim=0"]),
    ("layers", "MultiheadAttention(8, 3)", lambda: _mha(8, 3), lambda: _tmha(8, 3),
     ValueError, ["MultiheadAttention", "divisible", "(8)", "(3)"]),
    ("layers", "Linear(-1, 3)", lambda: nn.Linear(-1, 3), lambda: torch.nn.Linear(-1, 3),
     ValueError, ["Linear", "in_features", "-1"]),
    ("layers", "Linear(3, -1)", lambda: nn.Linear(3, -1), lambda: torch.nn.Linear(3, -1),
     ValueError, ["Linear", "out_features", "-1"]),
    ("layers", "Linear(2.5, 3)", lambda: nn.Linear(2.5, 3), lambda: torch.nn.Linear(2.5, 3),
     TypeError, ["Linear", "in_features", "2.5"]),
    ("layers", "Embedding(0, 4, padding_idx=0)", lambda: nn.Embedding(0, 4, padding_idx=0),
     lambda: torch.nn.Embedding(0, 4, padding_idx=0), ValueError, ["Embedding", "padding_idx 0", "0 embeddings"]),
    ("layers", "Embedding(5, 4, padding_idx=5)", lambda: nn.Embedding(5, 4, padding_idx=5),
     lambda: torch.nn.Embedding(5, 4, padding_idx=5), ValueError, ["Embedding", "padding_idx 5"]),
    ("layers", "Embedding(5, 4, padding_idx=-6)", lambda: nn.Embedding(5, 4, padding_idx=-6),
     lambda: torch.nn.Embedding(5, 4, padding_idx=-6), ValueError, ["Embedding", "padding_idx -6"]),
    ("layers", "Embedding(-1, 4)", lambda: nn.Embedding(-1, 4), lambda: torch.nn.Embedding(-1, 4),
     ValueError, ["Embedding", "num_embeddings", "-1"]),
    ("layers", "Embedding(4, -1)", lambda: nn.Embedding(4, -1), lambda: torch.nn.Embedding(4, -1),
     ValueError, ["Embedding", "embedding_dim", "-1"]),
    ("layers", "Dropout(1.5)", lambda: nn.Dropout(1.5), lambda: torch.nn.Dropout(1.5),
     ValueError, ["Dropout", "1.5"]),
    ("layers", "Dropout(-0.1)", lambda: nn.Dropout(-0.1), lambda: torch.nn.Dropout(-0.1),
     ValueError, ["Dropout", "-0.1"]),
    ("layers", "LayerNorm(-1)", lambda: nn.LayerNorm(-1), lambda: torch.nn.LayerNorm(-1),
     ValueError, ["LayerNorm", "normalized_shape", "-1"]),
    ("layers", "LayerNorm('a')", lambda: nn.LayerNorm("a"), lambda: torch.nn.LayerNorm("a"),
     TypeError, ["LayerNorm", "normalized_shape", "'a'"]),
    ("layers", "LayerNorm(2.0)", lambda: nn.LayerNorm(2.0), lambda: torch.nn.LayerNorm(2.0),
     TypeError, ["LayerNorm", "normalized_shape", "2.0"]),
    # PyTorch builds LayerNorm(()) and BatchNorm1d(0) too, and refuses them at the first call; so does minissl
    ("layers", "LayerNorm(()) forward", lambda: nn.LayerNorm(())(Z(2, 3)), lambda: torch.nn.LayerNorm(())(_t(2, 3)),
     ValueError, ["layer_norm", "normalized_shape"]),
    ("layers", "BatchNorm1d(0) forward", lambda: nn.BatchNorm1d(0)(Z(2, 0)),
     lambda: torch.nn.BatchNorm1d(0)(_t(2, 0)), ValueError, ["BatchNorm1d(0)", "num_features"]),
    ("layers", "BatchNorm1d(-1)", lambda: nn.BatchNorm1d(-1), lambda: torch.nn.BatchNorm1d(-1),
     ValueError, ["BatchNorm1d", "num_features", "-1"]),
    ("layers", "layer_norm shape", lambda: F.layer_norm(Z(2, 3), (4,)), lambda: TF.layer_norm(_t(2, 3), (4,)),
     ValueError, ["layer_norm", "(2, 3)", "(4,)"]),
]


@pytest.mark.parametrize("family,what,call,torch_call,exc,words", BAD, ids=[f"{f}:{w}" for f, w, *_ in BAD])
def test_bad_input_is_refused_in_one_sentence_naming_the_op(family, what, call, torch_call, exc, words):
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{what}: {w!r} missing from {msg!r}"
    assert "\n" not in msg and "Traceback" not in msg
    if torch_call is not None and torch is not None:  # never refuse what PyTorch accepts
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(Exception):
                torch_call()


@pytest.mark.parametrize("family", ["math", "shape", "reduce", "losses", "attention", "layers"])
def test_every_family_has_bad_input_cases(family):
    assert sum(f == family for f, *_ in BAD) >= 4
