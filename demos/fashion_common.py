"""What the Fashion-MNIST demos share: the data, per-seed summaries with 95% intervals, image grids.

Data: ``minissl.datasets.fashion_mnist()`` (the Debian package ``dataset-fashion-mnist``;
a demo without it exits as *skipped* with the install command). Pixels are scaled to
[0, 1] and flattened to rows of 784 (the auto-encoders' layout; the CNNs reshape).

Evidence convention (DESIGN §9): a headline number is a mean over seeds with a 95%
Student-t interval, and metrics.json keeps every seed's value (:func:`summary`).
"""
from __future__ import annotations

import numpy as np
from common import skip

from minissl.metrics import mean_ci

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def fashion(demo: str):
    """(x_train (60000, 784), y_train, x_test (10000, 784), y_test), float32 pixels in [0, 1]."""
    from minissl.datasets import fashion_mnist
    from minissl.datasets._store import DatasetMissing
    try:
        xtr, ytr, xte, yte = fashion_mnist()
    except DatasetMissing as e:  # not installed here: the demo is skipped, with the install command
        skip(demo, str(e))
    f = lambda a: (a.reshape(len(a), -1) / 255.0).astype(np.float32)  # noqa: E731
    return f(xtr), ytr.astype(np.int64), f(xte), yte.astype(np.int64)


def subset(y, n, rng, stratified=True):
    """Indices of n examples (stratified by class when asked), in random order."""
    if n >= len(y):
        return rng.permutation(len(y))
    if not stratified:
        return rng.permutation(len(y))[:n]
    classes = np.unique(y)
    per = [rng.permutation(np.flatnonzero(y == c))[: max(1, round(n * np.mean(y == c)))] for c in classes]
    return rng.permutation(np.concatenate(per))[:n]


def summary(values):
    """{"mean", "ci95": [lo, hi] (Student t, minissl.metrics.mean_ci; None with one seed), "per_seed": [...]}."""
    r = mean_ci(values)
    return {"mean": r["mean"], "ci95": None if r["lo"] is None else [r["lo"], r["hi"]], "per_seed": r["values"]}


def fmt(s):
    """'0.812 ± 0.007' (half-width of the 95% interval), or just the mean with one seed."""
    if s["ci95"] is None:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ± {(s['ci95'][1] - s['ci95'][0]) / 2:.3f}"


def grid(ax, images, cols, side=28):
    """Tile (N, side²) images into one picture on ``ax`` (rows of ``cols``), white background."""
    images = np.clip(np.asarray(images, dtype=np.float32).reshape(-1, side, side), 0, 1)
    rows = -(-len(images) // cols)
    canvas = np.zeros((rows * (side + 1) + 1, cols * (side + 1) + 1), np.float32)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        canvas[1 + r * (side + 1):1 + r * (side + 1) + side, 1 + c * (side + 1):1 + c * (side + 1) + side] = img
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def image_rows(pyplot, title, rows, side=28):
    """One figure, one labelled row of images per (label, images) pair."""
    fig, axes = pyplot.subplots(len(rows), 1, figsize=(1.0 * max(len(r[1]) for r in rows), 1.1 * len(rows) + 0.5),
                                squeeze=False)
    for ax, (label, imgs) in zip(axes[:, 0], rows):
        grid(ax, imgs, len(imgs), side)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=11)
    return fig
