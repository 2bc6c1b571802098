"""Every op against PyTorch: forward and input gradients, float64 to 1e-10 and
float32 to ~1e-5, with the same random upstream gradient. Skipped without torch."""
import numpy as np
import pytest

import minissl as ms
import minissl.nn.functional as F

npy = ms.backend.to_numpy  # gradients live on the backend (CuPy on a GPU)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (3, 4))
Y = rng.uniform(-2, 2, (4,))
P = rng.uniform(0.5, 2, (3, 4))
A3 = rng.uniform(-1, 1, (2, 3, 4))
B3 = rng.uniform(-1, 1, (4, 5))
IDS = np.array([[0, 2, 2], [1, 0, 4]])
TGT = np.array([1, -100, 3])
MASK = rng.random((3, 4)) > 0.5

# name: (minissl fn, torch fn, inputs); both take the same positional tensors
CASES = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, [X, Y]),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, [X, Y]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [X, Y]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [X, P]),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, [P, X]),
    "pow_scalar": (lambda a: a ** 3, lambda a: a ** 3, [X]),
    "neg": (lambda a: -a, lambda a: -a, [X]),
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b, [A3, B3]),
    "matmul_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [X, Y]),
    "linear": (F.linear, TF.linear, [A3, rng.uniform(-1, 1, (5, 4)), Y[:1].repeat(5)]),
    "exp": (ms.exp, torch.exp, [X]),
    "log": (ms.log, torch.log, [P]),
    "sqrt": (ms.sqrt, torch.sqrt, [P]),
    "abs": (ms.abs, torch.abs, [X]),
    "tanh": (ms.tanh, torch.tanh, [X]),
    "sigmoid": (ms.sigmoid, torch.sigmoid, [X]),
    "relu": (ms.relu, torch.relu, [X]),
    "gelu": (F.gelu, TF.gelu, [X]),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), lambda a: TF.gelu(a, approximate="tanh"), [X]),
    "sum": (lambda a: a.sum(dim=(0, 2), keepdim=True), lambda a: a.sum(dim=(0, 2), keepdim=True), [A3]),
    "mean": (lambda a: a.mean(dim=-1), lambda a: a.mean(dim=-1), [A3]),
    "amax": (lambda a: a.amax(dim=1), lambda a: a.amax(dim=1), [A3]),
    "max_dim_values": (lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, [A3]),
    "max_all": (lambda a: a.max(), lambda a: a.max(), [A3]),
    "var": (lambda a: a.var(dim=(0, 1)), lambda a: a.var(dim=(0, 1)), [A3]),
    "reshape": (lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [A3]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [A3]),
    "transpose": (lambda a: a.transpose(0, -1), lambda a: a.transpose(0, -1), [A3]),
    "unsqueeze": (lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), [X]),
    "squeeze": (lambda a: a[:, :1].squeeze(1), lambda a: a[:, :1].squeeze(1), [X]),
    "index": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [X]),
    "index_array": (lambda a: a[[2, 0, 2]], lambda a: a[[2, 0, 2]], [X]),
    "cat": (lambda a, b: ms.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1), [X, P]),
    "stack": (lambda a, b: ms.stack([a, b], dim=2), lambda a, b: torch.stack([a, b], dim=2), [X, P]),
    "split": (lambda a: a.split(3, dim=1)[1] * 2, lambda a: a.split(3, dim=1)[1] * 2, [X]),
    "where": (lambda a, b: ms.where(ms.tensor(MASK), a, b), lambda a, b: torch.where(torch.tensor(MASK), a, b), [X, P]),
    "masked_fill": (lambda a: a.masked_fill(MASK, -1.0), lambda a: a.masked_fill(torch.tensor(MASK), -1.0), [X]),
    "softmax": (lambda a: F.softmax(a, 0), lambda a: TF.softmax(a, 0), [A3]),
    "log_softmax": (lambda a: F.log_softmax(a, -1), lambda a: TF.log_softmax(a, -1), [A3]),
    "cross_entropy": (lambda a: F.cross_entropy(a, TGT, label_smoothing=0.1),
                      lambda a: TF.cross_entropy(a, torch.tensor(TGT), label_smoothing=0.1), [X]),
    "cross_entropy_sum": (lambda a: F.cross_entropy(a, TGT, reduction="sum"),
                          lambda a: TF.cross_entropy(a, torch.tensor(TGT), reduction="sum"), [X]),
    "cross_entropy_3d": (lambda a: F.cross_entropy(a, IDS[:, :2] % 3, reduction="none"),
                         lambda a: TF.cross_entropy(a, torch.tensor(IDS[:, :2] % 3), reduction="none"),
                         [rng.uniform(-2, 2, (2, 3, 2))]),
    "mse_loss": (F.mse_loss, TF.mse_loss, [X, P]),
    "bce_with_logits": (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                        [X, rng.uniform(0, 1, (3, 4))]),
    "layer_norm": (lambda a, w, b: F.layer_norm(a, (4,), w, b), lambda a, w, b: TF.layer_norm(a, (4,), w, b),
                   [A3, P[0], X[0]]),
    "embedding": (lambda w: F.embedding(IDS, w), lambda w: TF.embedding(torch.tensor(IDS), w), [rng.normal(size=(5, 3))]),
    "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                  lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True), [A3, A3 * 2, A3[..., :2]]),
}


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name, dtype, tol):
    ours, theirs, arrays = CASES[name]
    arrays = [a.astype(dtype) for a in arrays]
    a_ms = [ms.tensor(a, requires_grad=True) for a in arrays]
    a_t = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*a_ms), theirs(*a_t)
    assert out.dtype == dtype and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    u = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    out.backward(ms.tensor(u))
    ref.backward(torch.tensor(u))
    for i, (x, y) in enumerate(zip(a_ms, a_t)):
        assert npy(x.grad).dtype == dtype
        np.testing.assert_allclose(npy(x.grad), y.grad.numpy(), rtol=tol, atol=tol, err_msg=f"gradient of input {i}")


def test_relu_of_infinities_negatives_and_nan_matches_torch():
    """relu(-inf) is 0 (not -inf·0 = NaN), relu of a negative is +0.0 (not -0.0), NaN stays NaN.
    One difference is left: relu(-0.0) is +0.0 here (NumPy's maximum) and -0.0 in PyTorch."""
    x = np.array([-np.inf, -1.0, 0.0, 2.0, np.inf, np.nan], np.float32)
    ours, theirs = npy(ms.relu(ms.tensor(x)).array), torch.relu(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


def test_relu_gradient_at_nan_passes_through_as_in_torch():
    """PyTorch's backward zeroes the gradient where the output is <= 0; NaN is not, so it passes."""
    x = np.array([-1.0, 0.0, 2.0, np.nan], np.float32)
    ours, theirs = ms.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ms.relu(ours).sum().backward(), torch.relu(theirs).sum().backward()
    np.testing.assert_array_equal(npy(ours.grad.array), theirs.grad.numpy())
