"""Discrete latent codes: binary and one-hot bottlenecks, trained through the straight-through trick.

Lecture idea (discrete latent representation): the code need not be a real
vector. A *binary* code says yes/no per dimension ("has a loop", "is slanted");
a *one-hot* code picks one of K prototypes, so the encoder becomes a clusterer
and, without labels, tends to put each digit in its own cluster.

Rounding has zero gradient almost everywhere, so it cannot be trained as is.
The straight-through estimator uses the hard value forward and the soft one's
gradient backward; in code it is one line,

    h = soft + (hard - soft).detach()        # value: hard,  d h / d soft = I

Gumbel-softmax (Jang et al.; Maddison et al., 2017) adds noise g = -log(-log u)
to the logits before the softmax, so that argmax(logits + g) is an exact
sample from softmax(logits) and the temperature τ trades bias for variance.

Shapes: logits (N, K) -> code (N, K). ``DiscreteAutoEncoder`` is an MLP
auto-encoder with such a code in the middle. Demo: ``demos/autoencoders.py``
(discrete codes: binary reconstruction error, one-hot cluster purity, which
is ``minissl.metrics.cluster_purity``).
"""
from __future__ import annotations

import math

from .. import backend, nn
from ..backend import xp
from ..nn import functional as F
from ..tensor import Tensor
from .autoencoder import coders


def straight_through(hard, soft: Tensor) -> Tensor:
    """Forward value ``hard``, gradient that of ``soft`` (identity Jacobian)."""
    hard = hard.array if isinstance(hard, Tensor) else hard
    return soft + Tensor(hard - soft.array, _internal=True)


def binary_code(logits: Tensor, hard: bool = True) -> Tensor:
    """Bits b = 1[σ(l) > 0.5] forward; gradient of σ(l) backward (straight-through)."""
    p = logits.sigmoid()
    return straight_through((p.array > 0.5).astype(p.dtype), p) if hard else p


def one_hot(index, k: int, dtype=xp.float32):
    """(N,) integer array -> (N, k) one-hot array."""
    return (index[:, None] == xp.arange(k)[None, :]).astype(dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = True, noise: bool = True) -> Tensor:
    """softmax((l + g) / τ) with Gumbel noise g (as ``torch.nn.functional.gumbel_softmax``).

    ``hard=True`` returns the one-hot argmax forward and the soft sample's
    gradient backward; ``noise=False`` gives the deterministic straight-through
    one-hot (use it at evaluation time)."""
    if tau <= 0:
        raise ValueError(f"gumbel_softmax: the temperature tau must be positive, got {tau}")
    z = logits
    if noise:
        u = backend.rng().random(logits.shape, dtype=xp.float64)
        g = -xp.log(-xp.log(u + 1e-20) + 1e-20)
        z = logits + Tensor(g.astype(logits.dtype), _internal=True)
    soft = F.softmax(z / tau, dim=-1)
    if not hard:
        return soft
    return straight_through(one_hot(soft.array.argmax(axis=-1), soft.shape[-1], soft.dtype), soft)


class DiscreteAutoEncoder(nn.Module):
    """MLP auto-encoder whose code is ``"binary"`` (K bits) or ``"onehot"`` (one of K).

    The one-hot decoder can only output K different images: each is the
    prototype of a cluster, so training is a learned, non-linear k-means.
    """

    def __init__(self, in_dim: int, code_dim: int, kind: str = "binary", hidden=(128,), tau: float = 1.0,
                 balance: float = 0.0, arch: str = "mlp", channels=(16, 32)):
        super().__init__()
        if kind not in ("binary", "onehot"):
            raise ValueError(f"DiscreteAutoEncoder: kind must be 'binary' or 'onehot', got {kind!r}")
        self.kind, self.code_dim, self.tau, self.balance = kind, code_dim, tau, balance
        self.encoder, self.decoder = coders(arch, in_dim, code_dim, code_dim, hidden, channels=channels)

    def code(self, x: Tensor) -> Tensor:
        logits = self.encoder(x)
        if self.kind == "binary":
            return binary_code(logits)
        return gumbel_softmax(logits, self.tau, hard=True, noise=self.training)

    def decode(self, code: Tensor) -> Tensor:
        return self.decoder(code).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.code(x))

    def loss(self, x: Tensor) -> Tensor:
        """MSE; for one-hot codes plus ``balance``·(log K - I), with I = H(p̄) - mean_i H(p_i) the
        mutual information between an input and its code under p_i = softmax(logits_i) and
        p̄ = mean_i p_i (IMSAT, Hu et al. 2017). Without it one prototype (the mean image) wins
        every input early on and the other K-1 codes never get a gradient. H(p̄) alone is not
        enough: an encoder that gives every input the same uniform p maximises it, and training
        finds exactly that constant encoder; the -H(p_i) term asks each input to commit."""
        logits = self.encoder(x)
        if self.kind == "binary":
            return F.mse_loss(self.decode(binary_code(logits)), x)
        rec = F.mse_loss(self.decode(gumbel_softmax(logits, self.tau, hard=True, noise=self.training)), x)
        if not self.balance:
            return rec
        p = F.softmax(logits, dim=-1)
        p_bar = p.mean(dim=0)
        h_marginal = -(p_bar * (p_bar + 1e-8).log()).sum()
        h_conditional = -(p * (p + 1e-8).log()).sum(dim=-1).mean()
        return rec + self.balance * (math.log(self.code_dim) - h_marginal + h_conditional)

    def assign(self, x: Tensor):
        """Cluster index of each row (one-hot codes) as a backend int array."""
        if self.kind != "onehot":
            raise ValueError("assign() gives cluster ids of a one-hot code; this model uses a binary code")
        return self.encoder(x).array.argmax(axis=-1)

