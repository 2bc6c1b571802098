"""The one Transformer block and the encoder stack: gradients, padding invariance, PyTorch equivalence,
positions, and the block's options (RMSNorm, SwiGLU, cross-attention)."""
import math

import numpy as np
import pytest

import minissl as ms
import minissl.nn.functional as F
from minissl import nn
from minissl.nn import padding_mask
from minissl.nn.transformer import (LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, TransformerBlock,
                                    TransformerEncoder, sinusoid_table)

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)


def to64(module):
    for p in module.parameters():
        p.array = p.array.astype(np.float64)
    return module


def test_gradcheck_attention_with_padding_and_a_fully_masked_row():
    rng = np.random.default_rng(0)
    q, k, v = (ms.tensor(rng.standard_normal((2, 2, 3, 4)), requires_grad=True, dtype=ms.float64) for _ in range(3))
    mask = np.ones((2, 1, 1, 3), bool)
    mask[0, ..., 2] = False          # one padded key
    full = np.ones((2, 2, 3, 3), bool)
    full[1, 0, 1] = False            # a query that may attend to nothing
    m = mask & full
    ms.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m), [q, k, v])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=m).numpy()
    assert np.isfinite(out).all() and np.all(out[1, 0, 1] == 0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_whole_encoder_layer(norm_first):
    layer = to64(TransformerBlock(8, 2, 12, dropout=0.0, norm_first=norm_first)).eval()
    x = ms.tensor(np.random.default_rng(1).standard_normal((2, 3, 8)), requires_grad=True, dtype=ms.float64)
    mask = padding_mask(np.array([[1, 1, 1], [1, 1, 0]]))
    ms.gradcheck(lambda x: layer(x, mask)[0], [x])
    # and the parameters (a few of them: every element is two forward passes)
    for name in ("attn.q_proj.weight", "mlp.fc1.bias", "mlp_norm.weight"):
        p = dict(layer.named_parameters())[name]
        ms.gradcheck(lambda p: layer(x.detach(), mask)[0], [p], atol=1e-5)


def _batch(width, lengths, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((len(lengths), width, d), np.float32)
    am = np.zeros((len(lengths), width), np.int64)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.standard_normal((n, d))
        am[i, :n] = 1
    x[am == 0] = 7.0  # padding holds garbage, which must not matter
    return x, am


def _run(enc, x, am):
    xt = ms.tensor(x, requires_grad=True)
    y, _, _ = enc(xt, padding_mask(am))
    w = ms.tensor((am[..., None] * np.cos(np.arange(x.shape[-1]))).astype(np.float32))
    loss = (y * w).sum() / float(am.sum())  # only real positions count
    enc.zero_grad()
    loss.backward()
    grads = {n: npy(p.grad).copy() for n, p in enc.named_parameters()}
    return y.numpy(), loss.item(), npy(xt.grad), grads


@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_invariance_width_8_vs_16(norm_first):
    ms.manual_seed(0)
    enc = TransformerEncoder(16, 4, 2, 32, dropout=0.0, norm_first=norm_first)
    lengths = [8, 5, 2]
    y8, l8, gx8, g8 = _run(enc, *_batch(8, lengths))
    y16, l16, gx16, g16 = _run(enc, *_batch(16, lengths))
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(y8[i, :n], y16[i, :n], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gx8[i, :n], gx16[i, :n], rtol=1e-4, atol=1e-6)
        assert np.all(gx16[i, n:] == 0)  # padding receives no gradient
    assert l8 == pytest.approx(l16, abs=1e-6)  # a float32 sum of O(1) terms that nearly cancel
    for n in g8:
        np.testing.assert_allclose(g8[n], g16[n], rtol=1e-4, atol=1e-5, err_msg=n)


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_matches_torch_transformer_encoder_layer(norm_first):
    torch = pytest.importorskip("torch")
    ms.manual_seed(3)
    d, h, ff = 16, 4, 24
    ours = TransformerBlock(d, h, ff, dropout=0.0, norm_first=norm_first, eps=1e-5).eval()
    ref = torch.nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=norm_first, layer_norm_eps=1e-5).eval()
    P = {n: torch.tensor(p.numpy()) for n, p in ours.named_parameters()}
    a = "attn."
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([P[a + "q_proj.weight"], P[a + "k_proj.weight"], P[a + "v_proj.weight"]]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([P[a + "q_proj.bias"], P[a + "k_proj.bias"], P[a + "v_proj.bias"]]))
        for tgt, src in [(ref.self_attn.out_proj, "attn.out_proj"), (ref.linear1, "mlp.fc1"),
                         (ref.linear2, "mlp.fc2"), (ref.norm1, "attn_norm"), (ref.norm2, "mlp_norm")]:
            tgt.weight.copy_(P[src + ".weight"])
            tgt.bias.copy_(P[src + ".bias"])
    x, am = _batch(6, [6, 4])
    y = ours(ms.tensor(x), padding_mask(am))[0].numpy()
    yt = ref(torch.tensor(x), src_key_padding_mask=torch.tensor(am == 0)).detach().numpy()
    np.testing.assert_allclose(y[0], yt[0], atol=1e-5)
    np.testing.assert_allclose(y[1, :4], yt[1, :4], atol=1e-5)


def test_attention_without_positions_is_permutation_equivariant():
    enc = TransformerEncoder(8, 2, 1, 16, dropout=0.0).eval()
    x = np.random.default_rng(0).standard_normal((1, 5, 8)).astype(np.float32)
    perm = np.array([3, 0, 4, 1, 2])
    y = enc(ms.tensor(x))[0].numpy()
    yp = enc(ms.tensor(x[:, perm]))[0].numpy()
    np.testing.assert_allclose(yp, y[:, perm], atol=1e-5)


def test_encoder_returns_every_layer_and_attention_weights():
    enc = TransformerEncoder(8, 2, 3, 16, dropout=0.0).eval()
    am = np.array([[1, 1, 1, 0]])
    y, hidden, att = enc(ms.randn(1, 4, 8), padding_mask(am), need_weights=True)
    assert len(hidden) == 4 and hidden[-1] is y and len(att) == 3
    w = att[0].numpy()
    assert w.shape == (1, 2, 4, 4)
    np.testing.assert_allclose(w.sum(-1), 1, atol=1e-6)
    assert np.all(w[..., 3] == 0)  # nobody attends to the padded key


def test_sinusoid_table_formula_and_buffer():
    t = npy(sinusoid_table(50, 6))
    for p, i in [(0, 0), (7, 1), (49, 2)]:
        assert t[p, 2 * i] == pytest.approx(math.sin(p / 10000 ** (2 * i / 6)), abs=1e-6)
        assert t[p, 2 * i + 1] == pytest.approx(math.cos(p / 10000 ** (2 * i / 6)), abs=1e-6)
    pe = SinusoidalPositionalEmbedding(50, 6)
    assert list(pe.parameters()) == [] and "weight" in pe.state_dict()
    np.testing.assert_array_equal(pe(3, offset=2).numpy(), t[2:5])


def test_learned_positions_and_errors():
    pe = LearnedPositionalEmbedding(10, 4)
    assert pe(3).shape == (3, 4)
    with pytest.raises(ValueError, match="longer than max_position_embeddings"):
        pe(11)
    with pytest.raises(ValueError, match="divisible"):
        TransformerBlock(10, 3)
    with pytest.raises(ValueError, match="activation"):
        TransformerBlock(8, 2, activation="swishy")
    with pytest.raises(ValueError, match="norm"):
        TransformerBlock(8, 2, norm="batchnorm")
    with pytest.raises(ValueError, match="memory"):
        TransformerBlock(8, 2, cross_attention=True)(ms.randn(1, 3, 8))
    with pytest.raises(ValueError, match="batch, seq_len"):
        padding_mask(np.ones(3))


def test_swiglu_mlp_is_the_gated_formula():
    """Gated MLP with SiLU: fc2(silu(gate(x)) ⊙ fc1(x)), written out in NumPy."""
    ms.manual_seed(0)
    mlp = nn.MLP(6, 10, activation="silu", bias=False, gated=True)
    assert [n for n, _ in mlp.named_parameters()] == ["gate.weight", "fc1.weight", "fc2.weight"]
    x = np.random.default_rng(0).standard_normal((2, 3, 6)).astype(np.float32)
    g, u, dn = (getattr(mlp, n).weight.numpy() for n in ("gate", "fc1", "fc2"))
    a = x @ g.T
    want = ((a / (1 + np.exp(-a))) * (x @ u.T)) @ dn.T
    np.testing.assert_allclose(mlp(ms.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    xm = ms.tensor(x, dtype=ms.float64, requires_grad=True)
    to64(mlp)
    ms.gradcheck(mlp, [xm])


def _llama_pair(torch, seed=0):
    """A Llama-style block (pre-RMSNorm, SwiGLU, no bias, 4 query heads sharing 2 KV heads, RoPE)
    and transformers' LlamaDecoderLayer with the same weights."""
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    from transformers import LlamaConfig
    cfg = LlamaConfig(hidden_size=16, intermediate_size=24, num_attention_heads=4, num_key_value_heads=2,
                      rms_norm_eps=1e-6, rope_theta=1000.0, attention_bias=False, mlp_bias=False)
    cfg._attn_implementation = "eager"
    ms.manual_seed(seed)
    ours = TransformerBlock(16, 4, 24, dropout=0.0, activation="silu", norm_first=True, norm="rmsnorm", eps=1e-6,
                            bias=False, num_kv_heads=2, rope_theta=1000.0, gated=True).eval()
    ref = llama.LlamaDecoderLayer(cfg, 0).eval()
    names = {"attn.q_proj": "self_attn.q_proj", "attn.k_proj": "self_attn.k_proj", "attn.v_proj": "self_attn.v_proj",
             "attn.out_proj": "self_attn.o_proj", "mlp.gate": "mlp.gate_proj", "mlp.fc1": "mlp.up_proj",
             "mlp.fc2": "mlp.down_proj", "attn_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm"}
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for n, p in ours.named_parameters():
            p.array = ms.tensor(rng.standard_normal(p.shape).astype(np.float32) * 0.3 + (n.endswith("norm.weight"))).array
            ref.get_submodule(names[n.rsplit(".", 1)[0]]).weight.copy_(torch.tensor(p.numpy()))
    return ours, ref, llama.LlamaRotaryEmbedding(cfg)


def test_llama_options_match_transformers_llama_decoder_layer():
    torch = pytest.importorskip("torch")
    ours, ref, rope = _llama_pair(torch)
    x = np.random.default_rng(5).standard_normal((2, 7, 16)).astype(np.float32)
    pos = torch.arange(7)[None].expand(2, 7)
    xt = torch.tensor(x)
    causal = torch.full((7, 7), float("-inf")).triu(1)[None, None]
    want = ref(xt, attention_mask=causal, position_ids=pos, position_embeddings=rope(xt, pos))
    want = want[0] if isinstance(want, tuple) else want
    got, _ = ours(ms.tensor(x), is_causal=True)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    cache = {}  # and step by step through the KV cache
    steps = [ours(ms.tensor(x[:, :4]), is_causal=True, cache=cache)[0]]
    steps += [ours(ms.tensor(x[:, t:t + 1]), is_causal=True, cache=cache)[0] for t in range(4, 7)]
    np.testing.assert_allclose(ms.cat(steps, dim=1).numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
