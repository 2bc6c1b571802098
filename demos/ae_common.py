"""Shared pieces of the auto-encoder demos: the Fashion-MNIST split, training, ROC curves, image rows.

Data: Fashion-MNIST (``minissl.datasets.fashion_mnist``; see ``fashion_common``),
pixels in [0, 1] as rows of 784. Every demo trains on a stratified subset of the
60,000 training images (``--quick``: smaller) and scores on held-out test images.
"""
from __future__ import annotations

import fashion_common as FC  # noqa: F401  (sets single-threaded BLAS before NumPy starts)
import numpy as np

import minissl as ms
from minissl.models.autoencoder import fit

SIDE, PIXELS = 28, 784


def split(demo: str, seed: int, n_train: int, n_test: int):
    """(x_train (n_train, 784), y_train, x_test (n_test, 784), y_test): stratified draws, seeded."""
    xtr, ytr, xte, yte = FC.fashion(demo)
    rng = np.random.default_rng(seed)
    a, b = FC.subset(ytr, n_train, rng), FC.subset(yte, n_test, rng)
    return xtr[a], ytr[a], xte[b], yte[b]


def train(model, x, epochs, seed, lr=3e-3, batch_size=64, loss_fn=None, progress=None):
    """Adam on minibatches of the rows of x (NumPy); returns the per-epoch losses."""
    ms.manual_seed(seed)
    return fit(model, ms.tensor(x), loss_fn=loss_fn, epochs=epochs, batch_size=batch_size, lr=lr,
               progress=progress)


@ms.no_grad()
def predict(model, x, batch=1000, fn=None):
    """model(x) (or fn(model, batch)) on NumPy rows, batched, back as NumPy."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        y = (fn or (lambda m, b: m(b)))(model, ms.tensor(x[i:i + batch]))
        y = y[0] if isinstance(y, tuple) else y
        out.append(ms.backend.to_numpy(y.array if isinstance(y, ms.Tensor) else y))
    return np.concatenate(out)


def roc_curve(labels, scores):
    """False- and true-positive rates at every threshold (anomalies = positives)."""
    labels = np.asarray(labels, bool)
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]


def rows_figure(pyplot, title, rows):
    """Labelled rows of 28×28 images (``fashion_common.image_rows``)."""
    return FC.image_rows(pyplot, title, rows, SIDE)
