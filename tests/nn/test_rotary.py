"""Rotary position embeddings: the rotation formula, relative positions, and Hugging Face's Llama RoPE."""
import math

import numpy as np
import pytest

import minissl as ms
from minissl import nn
from minissl.nn.rotary import rotary_cos_sin


def test_each_feature_pair_turns_by_position_times_its_frequency():
    """Pair (i, i + d/2) at position p turns by the angle p·base^(-2i/d) (a plain 2-D rotation)."""
    d, base, T = 8, 100.0, 5
    x = np.random.default_rng(0).standard_normal((1, 2, T, d))
    got = nn.RotaryEmbedding(d, base)(ms.tensor(x, dtype=ms.float64), offset=3).numpy()
    for p in range(T):
        for i in range(d // 2):
            a = (p + 3) * base ** (-2 * i / d)
            x1, x2 = x[..., p, i], x[..., p, i + d // 2]
            np.testing.assert_allclose(got[..., p, i], x1 * math.cos(a) - x2 * math.sin(a), atol=1e-6)
            np.testing.assert_allclose(got[..., p, i + d // 2], x2 * math.cos(a) + x1 * math.sin(a), atol=1e-6)


def test_scores_depend_only_on_the_offset():
    rope = nn.RotaryEmbedding(16, 10000.0)
    rng = np.random.default_rng(1)
    q, k = (ms.tensor(rng.standard_normal((1, 1, 1, 16)), dtype=ms.float64) for _ in range(2))
    score = lambda p, s: float((rope(q, p) * rope(k, s)).sum().item())  # noqa: E731
    assert score(7, 3) == pytest.approx(score(104, 100), rel=1e-9)
    assert score(7, 3) != pytest.approx(score(7, 4), rel=1e-3)


def test_rotation_keeps_the_norm_and_gradchecks():
    rope = nn.RotaryEmbedding(6, 50.0)
    x = ms.tensor(np.random.default_rng(2).standard_normal((2, 3, 4, 6)), dtype=ms.float64, requires_grad=True)
    np.testing.assert_allclose(np.linalg.norm(rope(x, 2).numpy(), axis=-1), np.linalg.norm(x.numpy(), axis=-1))
    ms.gradcheck(lambda x: rope(x, 5), [x])


def test_matches_transformers_llama_rope():
    torch = pytest.importorskip("torch")
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    from transformers import LlamaConfig
    cfg = LlamaConfig(hidden_size=64, num_attention_heads=4, rope_theta=100000.0, max_position_embeddings=256)
    emb = llama.LlamaRotaryEmbedding(cfg)
    rng = np.random.default_rng(3)
    q, k = (rng.standard_normal((2, 4, 9, 16)).astype(np.float32) for _ in range(2))
    pos = torch.arange(40, 49)[None].expand(2, 9)
    cos, sin = emb(torch.tensor(q), pos)
    rq, rk = llama.apply_rotary_pos_emb(torch.tensor(q), torch.tensor(k), cos, sin)
    rope = nn.RotaryEmbedding(16, 100000.0)
    np.testing.assert_allclose(rope(ms.tensor(q), 40).numpy(), rq.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rope(ms.tensor(k), 40).numpy(), rk.numpy(), rtol=1e-5, atol=1e-5)
    c, s = rotary_cos_sin(np.arange(40, 49), 16, 100000.0)
    np.testing.assert_allclose(ms.backend.to_numpy(c), cos[0].numpy(), atol=1e-5)


def test_refuses_odd_head_dim_and_bad_base():
    with pytest.raises(ValueError, match="even"):
        nn.RotaryEmbedding(5)
    with pytest.raises(ValueError, match="positive"):
        nn.RotaryEmbedding(4, 0.0)


def test_per_row_position_ids_equal_per_row_offsets():
    rope = nn.RotaryEmbedding(8, 1000.0)
    x = ms.tensor(np.random.default_rng(4).standard_normal((2, 3, 4, 8)), dtype=ms.float64)
    got = rope(x, position_ids=np.array([[0, 1, 2, 3], [5, 6, 7, 8]])).numpy()
    np.testing.assert_allclose(got[:1], rope(x[:1], 0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1:], rope(x[1:], 5).numpy(), rtol=1e-12)


def test_the_table_gives_the_values_computed_on_the_spot():
    """Decoding reads cos/sin from a shared table; each entry must be exactly what the formula gives,
    also after the table grows, for positions per row, and past the table's limit or below 0."""
    from minissl.nn import rotary
    for pos in (np.arange(3), np.arange(250, 260), np.array([[5, 0], [700, 2]]), np.array([-2, 3]),
                np.array([rotary._TABLE_LIMIT + 5])):
        got = rotary.cached_cos_sin(pos.reshape(-1), 8, 500.0, np.float32)
        want = rotary_cos_sin(pos.reshape(-1), 8, 500.0, np.float32)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(ms.backend.to_numpy(g), ms.backend.to_numpy(w))
    assert rotary._TABLES[(8, 500.0, np.dtype(np.float32).str)][0].shape[0] == 1024  # 700 -> next power of 2
