"""Shared pieces of the auto-encoder demos: data splits, image grids, ROC curves.

The data are scikit-learn's bundled sets (no download): ``load_digits``
(1,797 images of 8×8 pixels, scaled to [0, 1]) and ``load_breast_cancer``
(569 × 30 measurements, benign/malignant). scikit-learn is only used here, in
the demos (``pip install minissl[demos]``), never by the library.
"""
from __future__ import annotations

import os

# The models here are small MLPs: a multi-threaded BLAS spends more time
# synchronising threads than multiplying (35 ms vs 0.6 ms per step measured on a
# busy 2-core machine), so use one thread unless the user asked otherwise.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import common  # noqa: E402,F401  (puts the repository on sys.path)


def need_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise SystemExit("the auto-encoder demos load scikit-learn's bundled data sets: "
                         "pip install scikit-learn (or pip install minissl[demos])") from None


def digits(seed: int, test_size: float = 0.3):
    """Stratified train/test split of the digits, pixels in [0, 1], float32."""
    need_sklearn()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)


def breast_cancer():
    """(features, is_malignant) as NumPy arrays."""
    need_sklearn()
    from sklearn.datasets import load_breast_cancer
    x, y = load_breast_cancer(return_X_y=True)
    return x, y == 0  # scikit-learn codes malignant as 0


def roc_curve(labels, scores):
    """False- and true-positive rates at every threshold (anomalies = positives)."""
    labels = np.asarray(labels, bool)
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]


def show_images(ax_row, images, title=None):
    """Draw 8×8 images into a row of axes."""
    for ax, img in zip(ax_row, images):
        ax.imshow(np.asarray(img).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax_row[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)


def image_rows(fig_title, rows, plt):
    """A figure with one row of images per (label, images) pair."""
    n = max(len(imgs) for _, imgs in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(0.8 * n + 1, 0.85 * len(rows) + 0.4), squeeze=False)
    for axr, (label, imgs) in zip(axes, rows):
        for ax in axr[len(imgs):]:
            ax.axis("off")
        show_images(axr, imgs, label)
    fig.suptitle(fig_title, fontsize=10)
    return fig
