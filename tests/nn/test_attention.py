"""The one Attention module (KV cache, grouped KV heads, rotary positions, cross-attention) and
MultiheadAttention, PyTorch's interface onto it, against torch.nn.MultiheadAttention."""
import numpy as np
import pytest

import minissl as ms
from minissl import nn

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

torch = pytest.importorskip("torch")


def _pair(e=8, h=2, batch_first=True):
    ours = nn.MultiheadAttention(e, h, batch_first=batch_first)
    for m in (ours.q_proj, ours.k_proj, ours.v_proj, ours.out_proj):
        m.weight.array = m.weight.array.astype(np.float64)
        m.bias.array = m.bias.array.astype(np.float64)
    theirs = torch.nn.MultiheadAttention(e, h, batch_first=batch_first).double()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.tensor(np.concatenate([ours.q_proj.weight.numpy(), ours.k_proj.weight.numpy(),
                                                                 ours.v_proj.weight.numpy()])))
        theirs.in_proj_bias.copy_(torch.tensor(np.concatenate([ours.q_proj.bias.numpy(), ours.k_proj.bias.numpy(),
                                                               ours.v_proj.bias.numpy()])))
        theirs.out_proj.weight.copy_(torch.tensor(ours.out_proj.weight.numpy()))
        theirs.out_proj.bias.copy_(torch.tensor(ours.out_proj.bias.numpy()))
    return ours, theirs


@pytest.mark.parametrize("batch_first", [True, False])
def test_matches_torch_with_padding_and_causal_masks(batch_first):
    ours, theirs = _pair(batch_first=batch_first)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8) if batch_first else (5, 2, 8))
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    causal = np.triu(np.ones((5, 5), bool), 1)  # torch: True = not allowed
    xm, xt = ms.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, w = ours(xm, xm, xm, key_padding_mask=ms.tensor(pad), attn_mask=ms.tensor(causal))
    ref, rw = theirs(xt, xt, xt, key_padding_mask=torch.tensor(pad), attn_mask=torch.tensor(causal))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(w.numpy(), rw.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = rng.normal(size=out.shape)
    out.backward(ms.tensor(u))
    ref.backward(torch.tensor(u))
    np.testing.assert_allclose(npy(xm.grad), xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(npy(ours.q_proj.weight.grad), theirs.in_proj_weight.grad[:8].numpy(), rtol=1e-9, atol=1e-10)


def _rand_attention(seed=0, **kw):
    """An Attention in float64 with random weights (biases included), in eval mode."""
    ms.manual_seed(seed)
    att = nn.Attention(**kw).eval()
    for p in att.parameters():
        p.array = p.array.astype(np.float64)
    return att


def _x(*shape, seed=1):
    return ms.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=ms.float64)


@pytest.mark.parametrize("kw", [dict(), dict(num_kv_heads=2), dict(num_kv_heads=1, rope_theta=10000.0),
                                dict(num_kv_heads=2, rope_theta=500.0, bias=False)])
def test_kv_cache_equals_the_full_causal_pass(kw):
    """Prompt of 3, then one token at a time: every step's output equals the full pass's row."""
    att = _rand_attention(embed_dim=8, num_heads=4, **kw)
    x = _x(2, 7, 8)
    with ms.no_grad():
        full, _ = att(x, is_causal=True)
        cache = {}
        steps = [att(x[:, :3], is_causal=True, cache=cache)[0]]
        steps += [att(x[:, t:t + 1], is_causal=True, cache=cache)[0] for t in range(3, 7)]
    assert cache["k"].shape == (2, kw.get("num_kv_heads", 4), 7, 2) and nn.cache_length(cache) == 7
    np.testing.assert_allclose(ms.cat(steps, dim=1).numpy(), full.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("masked", [True, False])
def test_grouped_kv_heads_equal_repeating_each_kv_head(masked):
    """GQA with H_kv key/value heads = ordinary attention whose key/value heads j are copied to
    query heads g·j .. g·j+g-1 (Llama's repeat_kv), outputs, weights and gradients; with a mask,
    and without one (then a key/value head's g query heads are attended as one block of rows)."""
    H, Hkv, E = 6, 2, 12
    gqa = _rand_attention(embed_dim=E, num_heads=H, num_kv_heads=Hkv)
    mha = _rand_attention(embed_dim=E, num_heads=H)
    g, d = H // Hkv, E // H
    for name in ("k_proj", "v_proj"):  # rows of head j: j·d .. j·d+d-1; repeat each head g times
        w = getattr(gqa, name).weight.numpy().reshape(Hkv, d, E)
        b = getattr(gqa, name).bias.numpy().reshape(Hkv, d)
        getattr(mha, name).weight.array = ms.tensor(np.repeat(w, g, axis=0).reshape(H * d, E), dtype=ms.float64).array
        getattr(mha, name).bias.array = ms.tensor(np.repeat(b, g, axis=0).reshape(H * d), dtype=ms.float64).array
    for name in ("q_proj", "out_proj"):
        for p in ("weight", "bias"):
            getattr(getattr(mha, name), p).array = getattr(getattr(gqa, name), p).array.copy()
    pad = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    outs = []
    for att in (gqa, mha):
        x = _x(2, 5, E)
        x.requires_grad = True
        opts = dict(attn_mask=nn.padding_mask(pad), is_causal=True) if masked else {}
        out, w = att(x, need_weights=True, **opts)
        (out * _x(2, 5, E, seed=9)).sum().backward()
        outs.append((out.numpy(), w.numpy(), x.grad.numpy(), att.q_proj.weight.grad.numpy()))
    assert outs[0][1].shape == (2, H, 5, 5)
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_kv_cache_grows_and_copies_of_it_branch_independently():
    """Decoding writes keys into a buffer with spare room: 20 steps (the buffer grows twice) equal
    the full pass, and a cache copied after the prompt continues with its own tokens, unaffected
    by the original's later steps (and the original by the copy's)."""
    att = _rand_attention(embed_dim=8, num_heads=4, num_kv_heads=2, rope_theta=100.0)
    x, y = _x(1, 23, 8), _x(1, 23, 8, seed=5)  # two continuations of the same 4 tokens
    y.array[:, :4] = x.array[:, :4]
    with ms.no_grad():
        cache = {}
        att(x[:, :3], is_causal=True, cache=cache)
        att(x[:, 3:4], is_causal=True, cache=cache)
        branch = dict(cache)  # shares the buffer and the tensors holding 4 positions
        steps = {"x": [], "y": []}
        for t in range(4, 23):
            steps["x"].append(att(x[:, t:t + 1], is_causal=True, cache=cache)[0])
            steps["y"].append(att(y[:, t:t + 1], is_causal=True, cache=branch)[0])
        for name, z in (("x", x), ("y", y)):
            full = att(z, is_causal=True)[0]
            np.testing.assert_allclose(ms.cat(steps[name], dim=1).numpy(), full[:, 4:].numpy(), rtol=1e-12, atol=1e-12)
    assert nn.cache_length(cache) == nn.cache_length(branch) == 23


def test_kv_cache_under_autograd_keeps_the_graph():
    """With gradients on, cached keys stay in the graph: the loss of the last step reaches the prompt."""
    att = _rand_attention(embed_dim=8, num_heads=4, num_kv_heads=2)
    x = _x(1, 4, 8)
    x.requires_grad = True
    cache = {}
    att(x[:, :3], is_causal=True, cache=cache)
    last = att(x[:, 3:], is_causal=True, cache=cache)[0]
    last.sum().backward()
    ref = x.detach()
    ref.requires_grad = True
    att(ref, is_causal=True)[0][:, 3:].sum().backward()
    np.testing.assert_allclose(npy(x.grad), npy(ref.grad), rtol=1e-12, atol=1e-12)
    assert np.abs(npy(x.grad)[:, :3]).sum() > 0


def test_gradcheck_grouped_rotary_attention_with_a_mask():
    att = _rand_attention(embed_dim=8, num_heads=4, num_kv_heads=2, rope_theta=100.0)
    x = _x(2, 4, 8)
    x.requires_grad = True
    mask = nn.padding_mask(np.array([[1, 1, 1, 1], [1, 1, 1, 0]]))
    ms.gradcheck(lambda x: att(x, attn_mask=mask, is_causal=True)[0], [x])
    ms.gradcheck(lambda w: att(x.detach(), attn_mask=mask)[0], [att.k_proj.weight], atol=1e-6)


def test_cross_attention_cache_computes_memory_keys_once():
    att = _rand_attention(embed_dim=8, num_heads=2)
    x, mem = _x(1, 3, 8), _x(1, 5, 8, seed=2)
    with ms.no_grad():
        full, _ = att(x, mem)
        cache = {}
        steps = [att(x[:, t:t + 1], mem, cache=cache)[0] for t in range(3)]
        k = cache["k"]
        att(x[:, :1], mem * 0, cache=cache)  # a cached cross-attention does not look at memory again
    assert cache["k"] is k and k.shape == (1, 2, 5, 4)
    np.testing.assert_allclose(ms.cat(steps, dim=1).numpy(), full.numpy(), rtol=1e-12, atol=1e-12)


def test_attention_refuses_heads_that_do_not_group():
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        nn.Attention(12, 6, num_kv_heads=4)
    with pytest.raises(ValueError, match="divisible"):
        nn.Attention(10, 3)


def test_mha_is_causal_is_only_a_hint_as_in_torch():
    mha, ref = _pair()
    x = np.random.default_rng(0).normal(size=(1, 4, 8))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        mha(ms.tensor(x), ms.tensor(x), ms.tensor(x), is_causal=True)
    blocked = np.triu(np.ones((4, 4), bool), 1)
    out, _ = mha(*(ms.tensor(x),) * 3, attn_mask=ms.tensor(blocked), is_causal=True)
    want, _ = ref(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(blocked), is_causal=True)
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_embed_dim_must_divide():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
