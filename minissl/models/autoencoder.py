"""Auto-encoders: squeeze the input through a bottleneck, then rebuild it.

Lecture idea (auto-encoder, the oldest self-supervised task): an encoder maps
an input x (N, D) to a short code z = enc(x) (N, K), K << D; a decoder maps it
back, x̂ = dec(z) (N, D). No labels are needed: the target is the input itself,

    L = 1/(N·D) Σ ||x - dec(enc(x))||²                     (mean squared error)

Everything else in this file is a variation on that line:

* denoising auto-encoder: feed ``corrupt(x)`` (Gaussian noise, or masking
  noise that zeroes pixels) but still compare with the *clean* x, so the
  network must learn what digits look like rather than copy pixels;
* PCA, written with the backend's SVD: the best *linear* auto-encoder. A
  linear AE trained with MSE reaches the same error (it spans the same
  subspace), a non-linear one can do better with the same K;
* anomaly detection: train on normal data only; ``reconstruction_error`` is
  small for inputs that look like the training data and large for the rest.

Shapes: inputs (N, D) float32; codes (N, K). ``fit`` is the one small training
loop that the auto-encoder, discrete, VQ-VAE and VAE models share.
Demo: ``demos/autoencoders.py`` (reconstruction grids, 2-D code map,
denoising, anomaly detection).
"""
from __future__ import annotations

from .. import backend, nn
from ..backend import xp
from ..nn import functional as F
from ..optim import Adam
from ..tensor import Tensor, no_grad
from ..train import fit as train_fit
from ..train import minibatches, steps_per_epoch

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, None: None, "linear": None}


def mlp(sizes, activation="relu", dtype=xp.float32) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with ``activation``
    between them (none after the last). ``activation=None`` gives a linear map."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"mlp: unknown activation {activation!r}; use one of {sorted(k for k in _ACTIVATIONS if k)} or None")
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, got {list(sizes)}")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(sizes) - 2 and _ACTIVATIONS[activation] is not None:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def coders(arch: str, in_dim: int, enc_out: int, dec_in: int, hidden=(128,), activation="relu",
           channels=(16, 32)):
    """(encoder in_dim -> enc_out, decoder dec_in -> in_dim) for ``arch="mlp"`` (``hidden`` widths)
    or ``arch="conv"`` (:class:`~minissl.models.cnn.ConvEncoder` / ``ConvDecoder`` with ``channels``,
    for square grey images given as flat rows, e.g. 28×28 = 784)."""
    if arch == "mlp":
        hidden = tuple(hidden)
        return mlp((in_dim, *hidden, enc_out), activation), mlp((dec_in, *hidden[::-1], in_dim), activation)
    if arch == "conv":
        from .cnn import ConvDecoder, ConvEncoder
        side = int(round(in_dim ** 0.5))
        if side * side != in_dim or side % 4:
            raise ValueError(f"arch='conv' needs square images with a side divisible by 4 (e.g. 28x28 = 784), "
                             f"got in_dim={in_dim}; use arch='mlp' for other data")
        return ConvEncoder(enc_out, channels, side), ConvDecoder(dec_in, channels, side)
    raise ValueError(f"unknown arch {arch!r}; use 'mlp' or 'conv'")


class AutoEncoder(nn.Module):
    """An auto-encoder ``in_dim -> code_dim -> in_dim``: MLP (``hidden`` widths) or, with
    ``arch="conv"``, the convolutional pair of :mod:`minissl.models.cnn` (28×28 images as rows).

    ``activation=None`` and ``hidden=()`` give a linear auto-encoder (the PCA
    comparison). ``output="sigmoid"`` squashes reconstructions into [0, 1]
    (pixels); ``"linear"`` leaves them free (standardised tabular data).
    """

    def __init__(self, in_dim: int, code_dim: int, hidden=(128,), activation="relu", output="sigmoid",
                 dtype=xp.float32, arch: str = "mlp", channels=(16, 32)):
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"AutoEncoder: output must be 'sigmoid' (data in [0, 1]) or 'linear', got {output!r}")
        self.in_dim, self.code_dim, self.output = in_dim, code_dim, output
        if arch == "mlp":
            hidden = tuple(hidden)
            self.encoder = mlp((in_dim, *hidden, code_dim), activation, dtype)
            self.decoder = mlp((code_dim, *hidden[::-1], in_dim), activation, dtype)
        else:
            self.encoder, self.decoder = coders(arch, in_dim, code_dim, code_dim, channels=channels)

    def encode(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"AutoEncoder expects inputs of shape (N, {self.in_dim}), got {x.shape}; "
                             "flatten images first, e.g. x.reshape(len(x), -1)")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        out = self.decoder(z)
        return out.sigmoid() if self.output == "sigmoid" else out

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def loss(self, x: Tensor, noise: str | None = None, level: float = 0.0) -> Tensor:
        """Mean squared reconstruction error per element. With ``noise`` this is the
        denoising auto-encoder: the input is corrupted, the target stays clean."""
        return F.mse_loss(self(corrupt(x, noise, level) if noise else x), x)


def corrupt(x: Tensor, kind: str, level: float) -> Tensor:
    """Noise for a denoising auto-encoder (a new draw each call).

    ``"gaussian"``: x + level·ε, ε ~ N(0, 1). ``"mask"``: each element set to 0
    with probability ``level`` (the masking noise of Vincent et al., 2008 — the
    same idea as BERT's masked tokens, on pixels)."""
    if kind == "gaussian":
        eps = backend.rng().standard_normal(x.shape, dtype=xp.float32).astype(x.dtype)
        return Tensor(x.array + level * eps, _internal=True)
    if kind == "mask":
        if not 0 <= level < 1:
            raise ValueError(f"corrupt: masking level is a probability in [0, 1), got {level}")
        keep = backend.rng().random(x.shape, dtype=xp.float32) >= level
        return Tensor(x.array * keep, _internal=True)
    raise ValueError(f"corrupt: unknown noise {kind!r}; use 'gaussian' or 'mask'")


@no_grad()
def reconstruction_error(model, x: Tensor, batch_size: int = 1024):
    """Per-example squared error Σ_d (x_d - x̂_d)² as a NumPy array: the anomaly
    score (large = unlike the training data). ``model(x)`` must return x̂."""
    was = model.training
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        rec = model(xb)
        rec = rec[0] if isinstance(rec, tuple) else rec
        out.append(((xb.array - rec.array) ** 2).sum(axis=1))
    model.train(was)
    return backend.to_numpy(xp.concatenate(out))


class PCA:
    """Principal component analysis with the backend's SVD: the optimal linear
    auto-encoder. Centre X (N, D), take X_c = U S Vᵀ; the code is z = X_c V_k
    (N, k) and the reconstruction x̂ = z V_kᵀ + mean. No other rank-k linear
    map has a smaller squared error (Eckart–Young)."""

    def __init__(self, n_components: int):
        self.n_components = n_components

    def fit(self, x):
        x = _array(x)
        if not 0 < self.n_components <= min(x.shape):
            raise ValueError(f"PCA: n_components={self.n_components} must be in 1..{min(x.shape)} for data {x.shape}")
        self.mean_ = x.mean(axis=0)
        _, s, vt = xp.linalg.svd(x - self.mean_, full_matrices=False)
        self.components_ = vt[:self.n_components]                      # (k, D), rows orthonormal
        self.explained_variance_ = (s[:self.n_components] ** 2) / (len(x) - 1)
        return self

    def transform(self, x):
        return (_array(x) - self.mean_) @ self.components_.T

    def inverse_transform(self, z):
        return _array(z) @ self.components_ + self.mean_

    def reconstruction_error(self, x):
        """Per-example squared error Σ_d (x_d - x̂_d)², as a NumPy array."""
        x = _array(x)
        return backend.to_numpy(((x - self.inverse_transform(self.transform(x))) ** 2).sum(axis=1))


def _array(x):
    return x.array if isinstance(x, Tensor) else xp.asarray(x)


def fit(model, data, loss_fn=None, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
        weight_decay: float = 0.0, progress: str | None = None, optimizer=None) -> list:
    """Train ``model`` with Adam on shuffled minibatches of ``data`` for ``epochs`` passes, through
    :func:`minissl.train.fit`; returns the mean loss per epoch.

    ``data``: a Tensor (rows are examples) or a tuple of Tensors of equal
    length (e.g. images and labels); ``loss_fn(model, batch) -> scalar Tensor``
    gets a batch of the same form (default ``model.loss(batch)``). ``progress``
    names a progress bar (``None`` = silent). Batches are drawn from the host
    generator, so ``ms.manual_seed`` reproduces a run.
    """
    parts = data if isinstance(data, tuple) else (data,)
    if not all(isinstance(t, Tensor) for t in parts) or len({len(t) for t in parts}) != 1:
        raise TypeError("fit: data must be a minissl Tensor or a tuple of Tensors of equal length; "
                        "wrap arrays with ms.tensor(...)")
    loss_fn = loss_fn or (lambda m, b: m.loss(b))
    n = len(parts[0])
    sizes = []

    def step_loss(m, rows):
        sizes.append(len(rows))
        batch = tuple(t[xp.asarray(rows)].detach() for t in parts)
        return loss_fn(m, batch if isinstance(data, tuple) else batch[0])

    hist = train_fit(model, minibatches(n, batch_size, epochs, backend.host_rng()), epochs * steps_per_epoch(n, batch_size),
                     loss_fn=step_loss, optimizer=optimizer or Adam(model.parameters(), lr=lr, weight_decay=weight_decay),
                     progress=bool(progress), desc=progress or "train")
    spe, out = steps_per_epoch(n, batch_size), []
    for e in range(epochs):  # each batch weighted by its size: the mean over the epoch's examples
        ls, ss = hist["loss"][e * spe:(e + 1) * spe], sizes[e * spe:(e + 1) * spe]
        out.append(sum(a * b for a, b in zip(ls, ss)) / n)
    return out
