"""Self-supervised learning beyond text: SimCLR and BYOL (lecture: "SSL for applications beyond text").

No labels: two random augmentations (:mod:`minissl.models.augment`) of one
image are two *views*; the network learns to map views of the same image
close together. Shapes: images x (N, D) → encoder h (N, H) → projection z (N, D'):
an MLP on 8×8 digits (D = 64), or ``encoder=cnn_encoder()`` (:mod:`minissl.models.cnn`)
on 28×28 Fashion-MNIST (D = 784, H = 256).

SimCLR (Chen et al., 2020) contrasts: among the 2N projections of a batch, the
other view of the same image must be the most similar one. With unit vectors
u_i = z_i/‖z_i‖ and cosine similarities s_ij = u_i·u_j/τ, the NT-Xent loss is

    ℓ = (1/2N) Σ_i [ -s_i,p(i) + log Σ_{j≠i} exp(s_ij) ]      (p(i) = i's other view)

— a 2N-1-way softmax classification of the positive, in both directions.

BYOL (Grill et al., 2020) needs no negatives: an *online* network (encoder,
projector, predictor q) predicts the projection of the other view made by a
*target* network, an exponential moving average of the online one that gets
no gradient:  ℓ = 2 - 2·cos(q(z₁), z'₂) + (the same with the views swapped),
ξ ← τ ξ + (1 - τ) θ with τ = 1 - (1 - τ_base)(cos(πk/K) + 1)/2.

Both can *collapse* (every image to one point); :func:`collapse_std` watches
for it. Features are judged by a linear probe: a logistic regression on the
frozen encoder outputs (:func:`minissl.probe.linear_probe`). Demo: ``demos/contrastive.py``.
"""
from __future__ import annotations

import copy
import math

from .. import nn
from .. import ops as F
from ..backend import host_rng, xp
from ..optim import AdamW, warmup_cosine
from ..tensor import Function, Tensor, no_grad, tensor
from ..train import fit, minibatches, steps_per_epoch


# ---------------------------------------------------------------- NT-Xent, fused
class NTXent(Function):
    """NT-Xent on two views z1, z2 (N, D), L2 normalisation included; returns the mean loss.

    Forward, with Z = [z1; z2] (2N rows), u = Z/‖Z‖ row-wise, S = u uᵀ/τ with the
    diagonal set to -∞ (a view is never its own candidate) and P = softmax(S) row-wise:

        ℓ = (1/2N) Σ_i (-S_i,p(i) + logsumexp_j S_ij).

    Backward, in three chain-rule steps (g = dL/dℓ, a scalar):

    1. through the softmax-cross-entropy of each row:  G = dℓ/dS = g (P - Y)/2N,
       Y the one-hot matrix of positives (P_ii = 0, so the masked diagonal gets nothing);
    2. through S = u uᵀ/τ (u appears twice):         dℓ/du = (G + Gᵀ) u / τ;
    3. through u = z/‖z‖ (the Jacobian projects out the radial part):
                                                      dℓ/dz = (dℓ/du - u (u·dℓ/du)) / ‖z‖.
    """

    def forward(self, z1, z2, temperature):
        n = z1.shape[0]
        z = xp.concatenate([z1, z2], axis=0)
        norm = xp.sqrt((z * z).sum(axis=1, keepdims=True))
        u = z / xp.maximum(norm, 1e-12)
        s = (u @ u.T) / temperature
        idx = xp.arange(2 * n)
        s[idx, idx] = -xp.inf
        pos = xp.concatenate([idx[n:], idx[:n]])
        m = s.max(axis=1, keepdims=True)
        p = xp.exp(s - m)
        lse = m[:, 0] + xp.log(p.sum(axis=1))
        p /= p.sum(axis=1, keepdims=True)
        self.u, self.norm, self.p, self.pos, self.t = u, norm, p, pos, temperature
        return xp.asarray((lse - s[idx, pos]).mean(), dtype=z1.dtype)

    def backward(self, g):
        u, p, pos = self.u, self.p, self.pos
        n2 = u.shape[0]
        gs = p  # reuse the array: the graph is freed after backward anyway
        gs[xp.arange(n2), pos] -= 1
        gs *= g / n2
        gu = ((gs + gs.T) @ u) / self.t
        gz = (gu - u * (u * gu).sum(axis=1, keepdims=True)) / xp.maximum(self.norm, 1e-12)
        h = n2 // 2
        return gz[:h].copy(), gz[h:].copy()


def nt_xent(z1, z2, temperature: float = 0.5):
    """SimCLR's NT-Xent loss for projections of two views, ``z1`` and ``z2`` (N, D) (row i ↔ row i)."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent: z1 and z2 must both be (N, D) with row i of each a view of image i, "
                         f"got {z1.shape} and {z2.shape}")
    if z1.shape[0] < 2:
        raise ValueError("nt_xent needs a batch of at least 2 images: the other images are the negatives")
    if temperature <= 0:
        raise ValueError(f"nt_xent: temperature must be > 0, got {temperature}")
    return NTXent.apply(z1, z2, temperature=float(temperature))


# ---------------------------------------------------------------- helpers
def normalize(x, eps: float = 1e-12):
    """Rows scaled to unit L2 norm (``F.normalize(x, dim=-1)``)."""
    return x / ((x * x).sum(dim=-1, keepdim=True) + eps).sqrt()


def mlp(sizes):
    """Linear → BatchNorm1d → ReLU between every pair of sizes; the last layer is plain linear
    (the projection heads and BYOL's predictor)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=last))
        if not last:
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)


def encoder(in_dim: int = 64, hidden: int = 512, depth: int = 2):
    """The backbone: ``depth`` blocks Linear → BatchNorm1d → ReLU; its output is the representation."""
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        d = hidden
    return nn.Sequential(*layers)


def collapse_std(z) -> float:
    """Mean over dims of the batch std of L2-normalised projections: ≈ 1/√D when the
    projections spread over the sphere, → 0 when every image maps to one point."""
    u = z.array if isinstance(z, Tensor) else z
    u = u / xp.maximum(xp.sqrt((u * u).sum(axis=1, keepdims=True)), 1e-12)
    return float(u.std(axis=0).mean())


# ---------------------------------------------------------------- the two methods
def _backbone(net, in_dim, hidden, depth):
    """(encoder, its output width): ``net`` (a module with a ``feature_dim``, e.g.
    :func:`minissl.models.cnn.cnn_encoder`) or else the MLP :func:`encoder`."""
    if net is None:
        return encoder(in_dim, hidden, depth), hidden
    if not hasattr(net, "feature_dim"):
        raise ValueError("encoder= needs a module with a feature_dim attribute (its output width), "
                         "e.g. minissl.models.cnn.cnn_encoder()")
    return net, net.feature_dim


class SimCLR(nn.Module):
    """Encoder + projection head trained with :func:`nt_xent`. ``loss(x1, x2)`` takes two views.

    The encoder is an MLP (``in_dim``, ``hidden``, ``depth``) unless ``encoder=`` gives one,
    e.g. ``cnn_encoder()`` for 28×28 images; the projector is then feature_dim → hidden → proj_dim."""

    def __init__(self, in_dim=64, hidden=512, depth=2, proj_dim=64, temperature=0.5, encoder=None):
        super().__init__()
        self.encoder, width = _backbone(encoder, in_dim, hidden, depth)
        self.projector = mlp([width, hidden, proj_dim])
        self.temperature = temperature

    def forward(self, x):
        return self.encoder(x)

    def loss(self, x1, x2):
        z = self.projector(self.encoder(F.cat([x1, x2], 0)))  # one pass: BatchNorm sees both views
        n = x1.shape[0]
        self.last_z = z.detach()
        return nt_xent(z[:n], z[n:], self.temperature)


def byol_tau(step: int, total: int, tau_base: float = 0.99) -> float:
    """BYOL's EMA rate: τ_base at the start, rising along a half cosine to 1 at ``total`` steps."""
    return 1 - (1 - tau_base) * (math.cos(math.pi * min(step, total) / max(total, 1)) + 1) / 2


class BYOL(nn.Module):
    """Online encoder + projector + predictor; target encoder + projector = their EMA.

    The target lives outside the module's parameters (no optimiser sees it) and
    runs under ``no_grad``: it is moved only by :meth:`update_target`. ``encoder=`` as in :class:`SimCLR`.
    """

    def __init__(self, in_dim=64, hidden=512, depth=2, proj_dim=64, pred_hidden=512, tau_base=0.99, encoder=None):
        super().__init__()
        self.encoder, width = _backbone(encoder, in_dim, hidden, depth)
        self.projector = mlp([width, hidden, proj_dim])
        self.predictor = mlp([proj_dim, pred_hidden, proj_dim])
        self.tau_base = tau_base
        # A plain attribute (a list), so the target's parameters are not registered as ours.
        self._target = [copy.deepcopy(nn.Sequential(self.encoder, self.projector))]
        for p in self.target.parameters():
            p.requires_grad = False

    target = property(lambda self: self._target[0])

    def forward(self, x):
        return self.encoder(x)

    def loss(self, x1, x2):
        n = x1.shape[0]
        x = F.cat([x1, x2], 0)
        z = self.projector(self.encoder(x))
        q = normalize(self.predictor(z))
        self.last_z = z.detach()
        self.target.train(self.training)
        with no_grad():
            t = normalize(self.target(x)).detach()
        # views swapped: q(view 1) predicts target(view 2) and vice versa
        t = F.cat([t[n:], t[:n]], 0)
        return (2 - 2 * (q * t).sum(dim=1)).mean() * 2  # both directions, each averaged over the batch

    @no_grad()
    def update_target(self, step: int, total: int) -> float:
        """ξ ← τ ξ + (1 - τ) θ for every parameter (BatchNorm running stats are copied); returns τ."""
        tau = byol_tau(step, total, self.tau_base)
        online = nn.Sequential(self.encoder, self.projector)
        for po, pt in zip(online.parameters(), self.target.parameters()):
            pt.array *= tau
            pt.array += (1 - tau) * po.array
        for (_, bo), (_, bt) in zip(online.named_buffers(), self.target.named_buffers()):
            bt.array = bo.array.copy()
        return tau


def pretrain(model, images, augment, epochs=50, batch_size=256, lr=1e-3, weight_decay=1e-5, progress=True):
    """Self-supervised training of a :class:`SimCLR` or :class:`BYOL` on unlabelled ``images`` (N, D),
    through :func:`minissl.train.fit`.

    AdamW with a warm-up + cosine learning rate; each step draws two fresh views of a batch
    (full batches only: BatchNorm wants them); BYOL's target moves after every step.
    Returns the history: per-epoch mean loss and collapse monitor (:func:`collapse_std`).
    """
    data = xp.asarray(images, dtype=xp.float32)
    n = data.shape[0]
    spe = steps_per_epoch(n, batch_size, drop_last=True)
    if spe < 1:
        raise ValueError(f"pretrain: {n} images make no full batch of {batch_size}; lower batch_size")
    total = spe * epochs
    opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = warmup_cosine(opt, min(2 * spe, total // 10 + 1), total)
    stds = []

    def loss_fn(m, rows):
        batch = data[xp.asarray(rows)]
        return m.loss(tensor(augment(batch)), tensor(augment(batch)))

    def after_step(step, m):
        if hasattr(m, "update_target"):
            m.update_target(step - 1, total)
        stds.append(collapse_std(m.last_z))

    hist = fit(model, minibatches(n, batch_size, epochs, host_rng(), drop_last=True), total, loss_fn=loss_fn,
               optimizer=opt, scheduler=sched, after_step=after_step, progress=progress, desc=type(model).__name__)
    per_epoch = lambda v: [sum(v[e * spe:(e + 1) * spe]) / spe for e in range(epochs)]  # noqa: E731
    return {"loss": per_epoch(hist["loss"]), "collapse_std": per_epoch(stds)}
