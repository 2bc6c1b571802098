"""VQ-VAE: an auto-encoder whose code is a few entries of a learned codebook.

Lecture idea (vector quantisation, van den Oord et al., 2017): the encoder
outputs L vectors z_1..z_L (each of size D); each is replaced by its nearest
entry of a codebook E (K, D),

    k_l = argmin_k ||z_l - e_k||²,      z_q,l = e_{k_l},

and the decoder sees only z_q. An image is thus stored as L integers in 0..K-1,
L·log2(K) bits: a learned compressor. argmin has no gradient, so training uses

    z_q = z + sg[e - z]                               (straight-through: grad goes to z)
    loss = recon(x, dec(z_q)) + ||sg[z] - e||² + β ||z - sg[e]||²,   β = 0.25

The codebook term pulls the chosen codes toward the encoder outputs; the
commitment term keeps the encoder near the codes it picked. With ``ema=True``
the codebook is not trained by gradient but set to exponential moving
averages of the vectors assigned to each code (k-means on the fly), which is
more stable. Codes that nobody picks for ``restart_after`` steps are "dead":
they are moved onto random encoder outputs so the whole codebook is used.

Usage is summarised by the perplexity exp(-Σ p_k log p_k) of code frequencies
p: K when all codes are used equally, 1 when one code does all the work.
Shapes: x (N, in_dim) -> z (N, L, D) -> indices (N, L) -> x̂ (N, in_dim).
Demo: ``demos/autoencoders.py`` (VQ-VAE reconstructions, codebook usage,
rate–distortion against quantised PCA).
"""
from __future__ import annotations

import math

from .. import backend, nn
from ..backend import xp
from ..nn import functional as F
from ..tensor import Tensor, tensor
from .autoencoder import coders
from .discrete import straight_through


def nearest_code(z, codebook):
    """Index of the nearest codebook row for every row of z: (M, D), (K, D) -> (M,).

    Uses ||z - e||² = ||z||² - 2 z·e + ||e||², one matrix product instead of an
    (M, K, D) difference tensor; ||z||² is the same for every k and is dropped."""
    z = z.array if isinstance(z, Tensor) else xp.asarray(z)
    e = codebook.array if isinstance(codebook, Tensor) else xp.asarray(codebook)
    return xp.argmin((e * e).sum(axis=1)[None, :] - 2 * z @ e.T, axis=1)


def code_perplexity(indices, num_codes: int) -> float:
    """exp(entropy) of how often each code is used: K for uniform use, 1 for one code."""
    counts = xp.bincount(_flat_indices(indices), minlength=num_codes)
    p = counts[counts > 0] / counts.sum()
    return float(xp.exp(-(p * xp.log(p)).sum()))


def dead_share(indices, num_codes: int) -> float:
    """Share of codebook entries that no index in ``indices`` uses."""
    used = xp.bincount(_flat_indices(indices), minlength=num_codes) > 0
    return 1.0 - int(used.sum()) / num_codes


def _flat_indices(indices):
    return (indices.array if isinstance(indices, Tensor) else xp.asarray(indices)).reshape(-1)


class VectorQuantizer(nn.Module):
    """Nearest-code lookup with a straight-through gradient and the VQ-VAE losses.

    ``forward(z)`` with z (..., D) returns ``(z_q, vq_loss, indices)``.
    """

    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, ema: bool = False,
                 decay: float = 0.99, restart_after: int | None = 100, eps: float = 1e-5):
        super().__init__()
        self.num_codes, self.code_dim, self.beta = num_codes, code_dim, beta
        self.ema, self.decay, self.restart_after, self.eps = ema, decay, restart_after, eps
        init = backend.rng().uniform(-1.0 / num_codes, 1.0 / num_codes, (num_codes, code_dim)).astype(xp.float32)
        if ema:  # moving averages, not gradients, set the codebook
            self.register_buffer("codebook", tensor(init))
            self.register_buffer("cluster_size", tensor(xp.ones(num_codes, dtype=xp.float32)))
            self.register_buffer("embed_sum", tensor(init.copy()))
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("unused_steps", tensor(xp.zeros(num_codes, dtype=xp.int64)))
        self.restarts = 0

    def forward(self, z: Tensor):
        if z.shape[-1] != self.code_dim:
            raise ValueError(f"VectorQuantizer: the last dimension of z must be code_dim={self.code_dim}, got {z.shape}")
        flat = z.reshape(-1, self.code_dim)
        idx = nearest_code(flat, self.codebook)
        e = F.embedding(Tensor(idx, _internal=True), self.codebook)       # gradient reaches the used rows only
        if self.training and self.ema:  # after the lookup: z is compared with the codes it was assigned to
            self._ema_update(flat.array, idx)
        commitment = F.mse_loss(flat, e.detach())
        loss = self.beta * commitment if self.ema else F.mse_loss(e, flat.detach()) + self.beta * commitment
        z_q = straight_through(e.array, flat)                               # value e, gradient to z
        if self.training and self.restart_after:
            self._restart_dead(flat.array, idx)
        return z_q.reshape(z.shape), loss, idx.reshape(z.shape[:-1])

    def _ema_update(self, z, idx):
        """N_k ← γN_k + (1-γ)n_k,  m_k ← γm_k + (1-γ)Σ_{i→k} z_i,  e_k = m_k / N_k (Laplace-smoothed N)."""
        g = self.decay
        onehot = (idx[:, None] == xp.arange(self.num_codes)[None, :]).astype(z.dtype)   # (M, K)
        self.cluster_size.array = g * self.cluster_size.array + (1 - g) * onehot.sum(axis=0)
        self.embed_sum.array = g * self.embed_sum.array + (1 - g) * (onehot.T @ z)
        n = self.cluster_size.array.sum()
        size = (self.cluster_size.array + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.array = self.embed_sum.array / size[:, None]

    def _restart_dead(self, z, idx):
        used = xp.zeros(self.num_codes, dtype=bool)
        used[idx] = True
        steps = xp.where(used, 0, self.unused_steps.array + 1)
        dead = xp.nonzero(steps >= self.restart_after)[0]
        if len(dead):
            pick = backend.rng().integers(0, len(z), size=len(dead))
            new = z[pick] + 1e-3 * z.std() * backend.rng().standard_normal((len(dead), self.code_dim)).astype(z.dtype)
            self.codebook.array[dead] = new
            if self.ema:
                self.cluster_size.array[dead] = 1.0
                self.embed_sum.array[dead] = new
            steps[dead] = 0
            self.restarts += int(len(dead))
        self.unused_steps.array = steps


class VQVAE(nn.Module):
    """Encoder -> ``num_latents`` vectors of size ``code_dim`` -> quantised -> decoder (MLPs, or
    with ``arch="conv"`` the convolutional pair of :mod:`minissl.models.cnn`).

    Rate: ``num_latents · log2(num_codes)`` bits per input (``bits_per_input``).
    ``restart_after=None`` turns dead-code restarts off.
    """

    def __init__(self, in_dim: int, num_latents: int = 4, num_codes: int = 64, code_dim: int = 16,
                 hidden=(256,), beta: float = 0.25, ema: bool = False, decay: float = 0.99,
                 restart_after: int | None = 100, arch: str = "mlp", channels=(16, 32)):
        super().__init__()
        self.in_dim, self.num_latents, self.code_dim = in_dim, num_latents, code_dim
        width = num_latents * code_dim
        self.encoder, self.decoder = coders(arch, in_dim, width, width, hidden, channels=channels)
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta, ema, decay, restart_after)

    @property
    def bits_per_input(self) -> float:
        return self.num_latents * math.log2(self.quantizer.num_codes)

    def encode(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"VQVAE expects inputs of shape (N, {self.in_dim}), got {x.shape}")
        return self.encoder(x).reshape(len(x), self.num_latents, self.code_dim)

    def decode_indices(self, indices) -> Tensor:
        """The decompressor: (N, L) integer codes -> reconstructions (N, in_dim)."""
        idx = indices.array if isinstance(indices, Tensor) else xp.asarray(indices)
        e = self.quantizer.codebook.array[idx]
        return self.decoder(Tensor(e.reshape(len(idx), -1), _internal=True)).sigmoid()

    def forward(self, x: Tensor):
        """Returns ``(x̂, vq_loss, indices)``."""
        z_q, vq_loss, idx = self.quantizer(self.encode(x))
        return self.decoder(z_q.reshape(len(x), -1)).sigmoid(), vq_loss, idx

    def loss(self, x: Tensor) -> Tensor:
        rec, vq_loss, _ = self(x)
        return F.mse_loss(rec, x) + vq_loss
