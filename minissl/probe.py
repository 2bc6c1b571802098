"""The linear probe: how much a frozen representation already knows about a label.

Freeze the features (an encoder's outputs, word counts, pixels), standardise
them, and fit a multinomial logistic regression on them; its test accuracy is
the probe's score. Only a *linear* read-out is allowed, so a high score means
the representation made the classes linearly separable, not that the probe
learned them. Per L2 strength λ the probe minimises (full batch, Adam)::

    L(W, b) = (1/N) Σ_i CE(W x_i + b, y_i) + λ ‖W‖² / 2

Which λ is right depends on the features, so :func:`linear_probe` fits one
probe per λ of a grid, keeps the one with the best accuracy on a validation
split and scores the test split once. The K probes sit side by side in one
Linear (weights (K·C, F)), so fitting all of them costs one matrix product a
step; each one's gradient is exactly that of its own loss, because their
losses are summed and share no parameter.
"""
from __future__ import annotations

from typing import NamedTuple

from . import nn
from . import ops as F
from .backend import host_rng, xp
from .optim import Adam, warmup_cosine
from .tensor import Tensor, no_grad, tensor
from .train import fit

L2_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


class LogisticRegression(nn.Module):
    """K softmax classifiers side by side (one per L2 strength): features (N, F) -> logits (N, K, C)."""

    def __init__(self, in_features, num_classes, n_models=1):
        super().__init__()
        self.k, self.c = n_models, num_classes
        self.linear = nn.Linear(in_features, n_models * num_classes)
        for p in self.linear.parameters():  # zero init: the problem is convex, no symmetry to break
            p.array[...] = 0

    def forward(self, x):
        return self.linear(x).reshape(x.shape[0], self.k, self.c)


def fit_probe(x, y, l2s, steps=300, lr=0.05, num_classes=None, batch_size=None):
    """One L2-regularised logistic regression per strength in ``l2s`` on features ``x`` (N, F)
    and labels ``y`` (N,), all at once: ``steps`` Adam steps, full-batch, or on random
    minibatches of ``batch_size`` rows when there are more (for N in the tens of thousands;
    the learning rate then decays to 0 along a half cosine, so the last steps average out the
    minibatch noise). Returns the :class:`LogisticRegression` (logits (N, K, C)); standardise
    ``x`` first (see linear_probe)."""
    if len(l2s) == 0:
        raise ValueError("fit_probe: l2s is empty; give at least one L2 strength, e.g. l2s=(1e-3,)")
    c = num_classes or int(xp.asarray(y).max()) + 1
    k = len(l2s)
    x = x if isinstance(x, Tensor) else Tensor(xp.asarray(x, dtype=xp.float32))
    y = xp.asarray(y)
    model = LogisticRegression(x.shape[1], c, k)
    lam = tensor(xp.repeat(xp.asarray(l2s, dtype=xp.float32), c)[:, None])  # one λ per weight row
    w = model.linear.weight
    opt = Adam(model.parameters(), lr=lr)
    minibatch = bool(batch_size) and len(y) > batch_size

    def batches(step):
        if not minibatch:
            return x, y
        rows = xp.asarray(host_rng().integers(0, len(y), batch_size))
        return x[rows], y[rows]

    def loss(m, batch):
        xb, yb = batch
        logits = m(xb).reshape(-1, c)
        yy = tensor(xp.repeat(yb, k))  # row-major (N, K) order, as logits.reshape(-1, C)
        return F.cross_entropy(logits, yy, reduction="sum") / xb.shape[0] + (lam * w * w).sum() / 2

    fit(model, batches, steps, loss_fn=loss, optimizer=opt, scheduler=warmup_cosine(opt, 0, steps) if minibatch else None,
        progress=False)
    return model


class ProbeResult(NamedTuple):
    test_accuracy: float
    l2: float              # the strength chosen on the validation split
    val_accuracy: float    # that strength's validation accuracy


def linear_probe(train, val, test, l2s=L2_GRID, steps=300, lr=0.05, stats_from=None,
                 refit: bool = False, batch_size=None) -> ProbeResult:
    """Standardise the features, pick the L2 strength on ``val``, report accuracy on ``test``.

    Each of ``train``, ``val``, ``test`` is (features (N, F), labels (N,)), backend or NumPy
    arrays. Means and standard deviations come from ``stats_from`` (unlabelled features, e.g.
    the whole training split when only a few of its labels are used) or else from the train
    features, never from val or test. ``refit``: once the strength is chosen, fit it again on
    train and val together (as scikit-learn's ``LogisticRegressionCV`` does) before scoring
    test. ``batch_size``: minibatches for large training sets (see :func:`fit_probe`).
    Returns ``(test_accuracy, l2, val_accuracy)``.
    """
    (xtr, ytr), (xva, yva), (xte, yte) = [(xp.asarray(a, dtype=xp.float32), xp.asarray(b))
                                          for a, b in (train, val, test)]
    if xtr.ndim != 2 or len(xtr) != len(ytr):
        raise ValueError(f"linear_probe: train features must be (N, F) with one label each, got features "
                         f"{tuple(xtr.shape)} and {len(ytr)} labels")
    c = max(int(ytr.max()), int(yva.max()), int(yte.max())) + 1
    model, std = _standardised_fit((xtr, ytr), (xva, xte), stats_from, l2s, steps, lr, c, batch_size)
    with no_grad():
        va = (model(std[0]).array.argmax(axis=2) == yva[:, None]).mean(axis=0)
        best = int(va.argmax())
    column = best
    if refit:  # one probe, the chosen strength, on train and val together
        both = (xp.concatenate([xtr, xva]), xp.concatenate([ytr, yva]))
        model, std = _standardised_fit(both, (xva, xte), stats_from, [l2s[best]], steps, lr, c, batch_size)
        column = 0
    with no_grad():
        te = (model(std[1]).array[:, column].argmax(axis=1) == yte).mean()
    return ProbeResult(float(te), float(l2s[best]), float(va[best]))


def _standardised_fit(train, others, stats_from, l2s, steps, lr, c, batch_size=None):
    """fit_probe on standardised train features -> (model, the other feature sets standardised alike)."""
    x, y = train
    ref = x if stats_from is None else xp.asarray(stats_from, dtype=xp.float32)
    mu, sd = ref.mean(axis=0), ref.std(axis=0) + 1e-6
    model = fit_probe(tensor((x - mu) / sd), y, l2s, steps, lr, c, batch_size)
    return model, [tensor((a - mu) / sd) for a in others]


def labelled_tokens(hidden, labels, ignore_index: int = -100):
    """Token vectors that carry a label: hidden (N, T, H) and labels (N, T) -> (M, H), (M,).

    Positions labelled ``ignore_index`` (padding, [CLS], [SEP], a word's later pieces, as
    ``minissl.tasks.encode_task`` marks them) are dropped; each kept token is one probe example."""
    h, y = xp.asarray(hidden, dtype=xp.float32), xp.asarray(labels)
    if h.ndim != 3 or tuple(y.shape) != tuple(h.shape[:2]):
        raise ValueError(f"labelled_tokens: hidden must be (N, T, H) and labels (N, T), got {tuple(h.shape)} and "
                         f"{tuple(y.shape)}; pad the labels with {ignore_index} where a token has none")
    keep = y != ignore_index
    return h[keep], y[keep]


def token_probe(train, val, test, ignore_index: int = -100, **kw) -> ProbeResult:
    """A token-level linear probe (e.g. part of speech from frozen per-token vectors): each split
    is (hidden (N, T, H), labels (N, T)); every labelled token is an example of
    :func:`linear_probe` (``kw``: its options). Test accuracy is per token."""
    return linear_probe(*(labelled_tokens(h, y, ignore_index) for h, y in (train, val, test)), **kw)
