"""MultiheadAttention against torch.nn.MultiheadAttention, and the KV cache."""
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


def test_kv_cache_matches_full_causal_pass():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    mha.eval()
    x = ms.randn(1, 4, 8)
    with ms.no_grad():
        full, _ = mha(x, is_causal=True, need_weights=False)
        cache, steps = {}, []
        for t in range(4):
            step, _ = mha(x[:, t:t + 1], cache=cache, is_causal=True, need_weights=False)
            steps.append(step)
    np.testing.assert_allclose(ms.cat(steps, dim=1).numpy(), full.numpy(), rtol=1e-5, atol=1e-6)


def test_embed_dim_must_divide():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
