"""SimCLR and BYOL on scikit-learn's 8×8 digits: features learned without labels, judged by a linear probe.

    python demos/contrastive.py [--quick] [--seeds 3] [--epochs 60]

For every seed: a stratified train / validation / test split; SimCLR and BYOL
pre-train on the train + validation *images* (no labels, test images never
seen); then a logistic regression (written in minissl) is fitted on frozen
features of the labelled train split, its L2 strength picked on the validation
split, and scored once on the test split. Baselines: the raw pixels and the
same encoder with random weights. The probe is repeated with only a few labels
per class, where self-supervised features should help most.

Writes metrics.json (probe_raw, probe_random_init, probe_simclr, probe_byol:
means over seeds, plus per-seed values and the label-efficiency curve),
probe_vs_labels.png, feature_map.png (t-SNE of test-set features coloured by
digit) and training.png (loss and collapse monitor).
"""
from __future__ import annotations

import math

import numpy as np
from common import parse_args, plt, positive_float, positive_int, print_table, save_metrics, savefig

import minissl as ms
from minissl.models.augment import Augment
from minissl.models.contrastive import BYOL, SimCLR, linear_probe, pretrain

FEATURES = ("raw", "random_init", "simclr", "byol")
NAMES = {"raw": "raw pixels", "random_init": "random encoder", "simclr": "SimCLR", "byol": "BYOL"}


def load_digits_split(seed):
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("demos/contrastive.py needs scikit-learn for the digits data: pip install minissl[demos]")
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)  # pixel values 0..16 -> [0, 1]
    x_tv, x_te, y_tv, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    x_tr, x_va, y_tr, y_va = train_test_split(x_tv, y_tv, test_size=0.2, stratify=y_tv, random_state=seed)
    return (x_tr, y_tr), (x_va, y_va), (x_te, y_te)


def features(model, x):
    if model is None:
        return x
    model.eval()
    with ms.no_grad():
        return model(ms.tensor(x)).numpy()


def few_labels(y, per_class, rng):
    """Indices of ``per_class`` examples of each class (all of them when None)."""
    if per_class is None:
        return np.arange(len(y))
    return np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])


def run_seed(args, seed, label_counts):
    ms.manual_seed(seed)
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = load_digits_split(seed)
    unlabelled = np.concatenate([x_tr, x_va])
    kw = dict(hidden=args.hidden, depth=2, proj_dim=64)
    models = {"raw": None, "random_init": SimCLR(**kw)}
    histories = {}
    aug = Augment()
    for name, cls, extra, lr in (("simclr", SimCLR, dict(temperature=args.temperature), args.lr),
                                 ("byol", BYOL, dict(tau_base=0.99), args.lr)):
        ms.manual_seed(seed)
        m = cls(**kw, **extra)
        histories[name] = pretrain(m, unlabelled, aug, epochs=args.epochs, batch_size=args.batch_size, lr=lr)
        models[name] = m
    rng = np.random.default_rng(seed)
    subsets = {k: few_labels(y_tr, k, rng) for k in label_counts}
    acc, feats_te = {}, {}
    for name, m in models.items():
        f_tr, f_va, f_te = features(m, x_tr), features(m, x_va), features(m, x_te)
        feats_te[name] = f_te
        for k, idx in subsets.items():
            acc[name, k] = linear_probe((f_tr[idx], y_tr[idx]), (f_va, y_va), (f_te, y_te), stats_from=f_tr,
                                        steps=args.probe_steps)[0]
    return acc, histories, feats_te, y_te


def plot_label_curve(args, per_seed, label_counts, n_all):
    fig, ax = plt().subplots(figsize=(6, 4))
    xs = [k if k is not None else n_all for k in label_counts]
    for name in FEATURES:
        a = np.array([[s[name, k] for k in label_counts] for s in per_seed])
        ax.errorbar(xs, a.mean(0), yerr=a.std(0), marker="o", capsize=3, label=NAMES[name])
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples per class")
    ax.set_ylabel("linear-probe test accuracy")
    ax.set_title("Digits: linear probe vs number of labels")
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "probe_vs_labels.png")


def plot_feature_map(args, feats, y):
    from sklearn.manifold import TSNE
    fig, axes = plt().subplots(1, 3, figsize=(13, 4.2))
    for ax, name in zip(axes, ("raw", "simclr", "byol")):
        f = (feats[name] - feats[name].mean(0)) / (feats[name].std(0) + 1e-6)
        xy = TSNE(n_components=2, init="pca", perplexity=30, random_state=0).fit_transform(f)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab10", s=8)
        ax.set_title(f"t-SNE of {NAMES[name]} (test digits)")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes, ticks=range(10), label="digit")
    savefig(fig, args, "feature_map.png")


def plot_training(args, histories, proj_dim=64):
    fig, (a1, a2) = plt().subplots(1, 2, figsize=(10, 3.5))
    for name, h in histories.items():
        a1.plot(h["loss"], label=NAMES[name])
        a2.plot(h["collapse_std"], label=NAMES[name])
    a2.axhline(1 / math.sqrt(proj_dim), color="k", ls="--", lw=1, label="1/√d (spread out)")
    a1.set(xlabel="epoch", ylabel="loss", title="pre-training loss")
    a2.set(xlabel="epoch", ylabel="std of L2-normalised projections", title="collapse monitor", ylim=(0, None))
    a1.legend()
    a2.legend()
    savefig(fig, args, "training.png")


def main(argv=None):
    args = parse_args("contrastive", __doc__.splitlines()[0], argv,
                      seeds=(positive_int, None, "number of seeds (default 3, --quick 1)"),
                      epochs=(positive_int, None, "pre-training epochs (default 60, --quick 15)"),
                      hidden=(positive_int, 512, "encoder width"),
                      temperature=(positive_float, 0.5, "SimCLR temperature"),
                      batch_size=(positive_int, 256, "pre-training batch size"),
                      lr=(positive_float, 1e-3, "AdamW learning rate for pre-training"),
                      probe_steps=(positive_int, 300, "full-batch Adam steps of the linear probe"))
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.epochs = args.epochs or (15 if args.quick else 60)
    label_counts = (5, 10, 25, None) if args.quick else (2, 5, 10, 25, 50, None)
    per_seed, seeds = [], [args.seed + i for i in range(args.seeds)]
    for s in seeds:
        acc, histories, feats_te, y_te = run_seed(args, s, label_counts)
        per_seed.append(acc)
        print(f"seed {s}: " + ", ".join(f"{NAMES[n]} {acc[n, None]:.3f}" for n in FEATURES), flush=True)
        if s == seeds[0]:
            plot_training(args, histories)
            plot_feature_map(args, feats_te, y_te)
    n_all = int(np.mean(np.bincount(load_digits_split(seeds[0])[0][1])))
    plot_label_curve(args, per_seed, label_counts, n_all)

    def mean(name, k=None):
        return float(np.mean([a[name, k] for a in per_seed]))

    metrics = {f"probe_{n}": mean(n) for n in FEATURES}
    metrics.update({f"probe_{n}_per_seed": [a[n, None] for a in per_seed] for n in FEATURES})
    metrics["probe_vs_labels"] = {n: {str(k or "all"): mean(n, k) for k in label_counts} for n in FEATURES}
    metrics["collapse_std_final"] = {n: h["collapse_std"][-1] for n, h in histories.items()}
    metrics["collapse_std_healthy"] = 1 / math.sqrt(64)
    metrics.update(seeds=seeds, epochs=args.epochs, hidden=args.hidden, temperature=args.temperature)
    rows = [[NAMES[n]] + [mean(n, k) for k in label_counts] for n in FEATURES]
    print_table(rows, ["features"] + [f"{k or 'all'}/class" for k in label_counts],
                title=f"Linear-probe test accuracy on digits (mean of {len(seeds)} seed(s); columns: labels per class)")
    print(f"collapse monitor (final std of normalised projections; healthy ≈ {1 / math.sqrt(64):.3f}): "
          + ", ".join(f"{NAMES[n]} {v:.3f}" for n, v in metrics["collapse_std_final"].items()))
    print(f"wrote {save_metrics(args, metrics)}")


if __name__ == "__main__":
    main()
