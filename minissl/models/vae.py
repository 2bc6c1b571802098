"""Variational auto-encoder: the decoder becomes a generator.

Lecture idea ("decoder as a generator"): an ordinary auto-encoder's decoder
only knows the codes its encoder produced, so a random code gives garbage. A
VAE (Kingma & Welling, 2014) makes the encoder output a distribution
q(z|x) = N(μ(x), diag σ²(x)) and pulls it toward the prior p(z) = N(0, I); then
*any* z drawn from N(0, I) decodes to a plausible input. It maximises the
evidence lower bound, i.e. minimises

    loss(x) = E_{z~q}[-log p(x|z)] + KL(q(z|x) || N(0, I)),
    KL = ½ Σ_j (μ_j² + σ_j² - 1 - log σ_j²)                       (closed form)

Sampling z is made differentiable by the reparameterisation trick:
z = μ + σ ⊙ ε with ε ~ N(0, I) drawn outside the graph, so gradients flow to
μ and σ. For pixels in [0, 1] the decoder outputs Bernoulli logits and
-log p(x|z) is the binary cross-entropy summed over pixels.

Shapes: x (N, D) -> μ, log σ² (N, K) -> z (N, K) -> logits (N, D).
Demo: ``demos/autoencoders.py`` (VAE samples from the prior).
"""
from __future__ import annotations

from .. import backend, nn
from ..backend import xp
from ..nn import functional as F
from ..tensor import Tensor, no_grad
from .autoencoder import coders


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag e^logvar) || N(0, I)) per row: (N, K) -> (N,)."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = μ + exp(½ logvar) ⊙ ε, ε ~ N(0, I) (a new draw each call)."""
    eps = backend.rng().standard_normal(mu.shape, dtype=xp.float32).astype(mu.dtype)
    return mu + (0.5 * logvar).exp() * Tensor(eps, _internal=True)


class VAE(nn.Module):
    """Encoder to (μ, log σ²), reparameterised sample, decoder to Bernoulli logits; MLPs, or
    with ``arch="conv"`` the convolutional pair of :mod:`minissl.models.cnn`."""

    def __init__(self, in_dim: int, latent_dim: int = 8, hidden=(256,), beta: float = 1.0, arch: str = "mlp",
                 channels=(16, 32)):
        super().__init__()
        self.in_dim, self.latent_dim, self.beta = in_dim, latent_dim, beta
        self.encoder, self.decoder = coders(arch, in_dim, 2 * latent_dim, latent_dim, hidden, channels=channels)

    def encode(self, x: Tensor):
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"VAE expects inputs of shape (N, {self.in_dim}), got {x.shape}")
        mu, logvar = self.encoder(x).split(self.latent_dim, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Mean of p(x|z) (pixel probabilities)."""
        return self.decoder(z).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction from the posterior mean (deterministic, for evaluation)."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def loss_terms(self, x: Tensor):
        """(reconstruction, KL), each averaged over the batch, in nats per input."""
        mu, logvar = self.encode(x)
        logits = self.decoder(reparameterize(mu, logvar))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        return rec, gaussian_kl(mu, logvar).mean()

    def loss(self, x: Tensor) -> Tensor:
        """The negative ELBO (β-weighted KL; β = 1 is the true bound)."""
        rec, kl = self.loss_terms(x)
        return rec + self.beta * kl

    @no_grad()
    def sample(self, n: int) -> Tensor:
        """Decode n draws from the prior N(0, I): new inputs the model has never seen."""
        z = backend.rng().standard_normal((n, self.latent_dim), dtype=xp.float32)
        return self.decode(Tensor(z, _internal=True))
