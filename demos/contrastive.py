"""SimCLR and BYOL on Fashion-MNIST: CNN features learned without labels, judged by a linear probe.

    python demos/contrastive.py [--quick] [--seeds 3] [--epochs 6] [--ssl-images 3000]
    # or the seeds as parallel processes, then one summary:
    python demos/contrastive.py --seed 0 --seeds 1 --out runs/c0   (and --seed 1, --seed 2 likewise)
    python demos/contrastive.py --merge runs/c0,runs/c1,runs/c2

Protocol, for every seed (``--seeds``, default 3; ``--quick``: 1 seed, smaller sets):

* data: the 60,000 training images minus a fixed stratified validation set of
  1,000 (labels used only to pick the probe's L2 strength) form the *pool*; the
  10,000 test images are scored once. ``--quick``: a pool of 5,000, 2,000 test images.
* pre-training: SimCLR and BYOL train a small CNN (``minissl.models.cnn.cnn_encoder``:
  3 conv layers 16-32-64, 256 features) on ``--ssl-images`` pool images, no labels,
  with two views per image from ``minissl.models.augment.fashion_augment`` (random
  resized crop, flip, rotation, mild brightness/contrast, noise; no hue or saturation
  jitter: grey images have neither).
* probe: a logistic regression on frozen, standardised features, fitted on 1%, 10%
  and 100% of the pool's labels (stratified; 1% ⊂ 10% ⊂ 100%).
* baselines on the same labels: raw pixels, PCA (64 components fitted on the pool
  images), the same CNN with random weights (random-init control), and the same
  CNN trained *supervised* end to end on the labelled images (cross-entropy, the
  same augmentations, ``--sup-steps`` Adam steps).

Reference points (not targets): logistic regression on raw pixels reaches about
84% with all labels, a small supervised CNN about 90-92% (Xiao et al., 2017,
the Fashion-MNIST benchmark table). The lecture's claim is about few labels:
``verdicts`` in metrics.json says, per label budget, whether SimCLR beats raw
pixels and the random encoder (the 95% intervals must not overlap), and a claim
that does not hold is reported as ``false``.

Writes metrics.json (``probe.<features>.<1%|10%|100%>``: mean, ci95, per_seed),
probe_vs_labels.png, feature_map.png (PCA and t-SNE maps of test features coloured
by class), training.png (loss and collapse monitor) and views.png (augmentations).
Time on a busy 2-core CPU: ``--quick`` about a minute; the default run is printed
at the end and stored as ``seconds``.
"""
from __future__ import annotations

import math
import time

import fashion_common as FC
import numpy as np
from common import (claim, one_blas_thread, parse_args, plt, positive_float, positive_int, print_claims, print_table,
                    save_metrics, savefig)

import minissl as ms
from minissl import nn
from minissl.models.augment import fashion_augment
from minissl.models.autoencoder import PCA
from minissl.models.cnn import cnn_encoder
from minissl.models.contrastive import BYOL, SimCLR, pretrain
from minissl.probe import linear_probe

FEATURES = ("raw", "pca", "random_init", "simclr", "byol", "supervised")
NAMES = {"raw": "raw pixels", "pca": "PCA (64)", "random_init": "random CNN", "simclr": "SimCLR CNN",
         "byol": "BYOL CNN", "supervised": "supervised CNN"}
FRACTIONS = (0.01, 0.1, 1.0)
L2S = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def pct(f):
    return f"{f * 100:g}%"


@ms.no_grad()
def embed(net, x, batch=1000):
    net.eval()
    return np.concatenate([ms.backend.to_numpy(net(ms.tensor(x[i:i + batch])).array) for i in range(0, len(x), batch)])


def supervised(args, x, y, seed):
    """The same CNN + a linear layer, trained on (x, y) with the same augmentations; returns the network."""
    ms.manual_seed(seed)
    enc = cnn_encoder()
    net = nn.Sequential(enc, nn.Linear(enc.feature_dim, 10))
    opt = ms.optim.Adam(net.parameters(), lr=2e-3)
    sched = ms.optim.warmup_cosine(opt, args.sup_steps // 20, args.sup_steps)
    aug, rng = fashion_augment(), np.random.default_rng(seed)
    net.train()
    for _ in range(args.sup_steps):
        rows = rng.integers(0, len(y), min(128, len(y)))
        loss = nn.functional.cross_entropy(net(ms.tensor(aug(x[rows]))), ms.tensor(y[rows]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    return net


def run_seed(args, seed, data):
    xtr, ytr, xte, yte = data
    rng = np.random.default_rng(seed)
    val = FC.subset(ytr, 1000, rng)
    pool = np.setdiff1d(np.arange(len(ytr)), val)
    pool = rng.permutation(pool)[:args.pool] if args.pool else rng.permutation(pool)
    test = rng.permutation(len(yte))[:args.test] if args.test else np.arange(len(yte))
    xp_, yp, xv, yv, xt, yt = xtr[pool], ytr[pool], xtr[val], ytr[val], xte[test], yte[test]
    labelled = {}
    for f in sorted(FRACTIONS):  # nested subsets: the 1% labels are among the 10%
        labelled[f] = FC.subset(yp, int(round(f * len(yp))), np.random.default_rng(seed))
    ssl = xp_[:args.ssl_images]

    nets, hist, times = {}, {}, {}
    ms.manual_seed(seed)
    nets["random_init"] = cnn_encoder()
    for name, cls, extra in (("simclr", SimCLR, dict(temperature=args.temperature)), ("byol", BYOL, {})):
        ms.manual_seed(seed)
        model = cls(encoder=cnn_encoder(), hidden=256, proj_dim=64, **extra)
        t = time.time()
        hist[name] = pretrain(model, ssl, fashion_augment(), epochs=args.epochs, batch_size=args.batch_size,
                              lr=args.lr)
        times[name] = time.time() - t
        nets[name] = model.encoder

    feats = {"raw": (xp_, xv, xt)}
    pca = PCA(64).fit(xp_)
    feats["pca"] = tuple(ms.backend.to_numpy(pca.transform(a)) for a in (xp_, xv, xt))
    for name, net in nets.items():
        feats[name] = tuple(embed(net, a) for a in (xp_, xv, xt))
    acc = {}
    for name, (fp, fv, ft) in feats.items():
        for f, idx in labelled.items():
            acc[name, f] = linear_probe((fp[idx], yp[idx]), (fv, yv), (ft, yt), l2s=L2S, stats_from=fp,
                                        steps=args.probe_steps, batch_size=1024)[0]
    t = time.time()
    for f, idx in labelled.items():  # end-to-end supervised: its own classifier head, no probe
        net = supervised(args, xp_[idx], yp[idx], seed)
        acc["supervised", f] = float((embed(net, xt).argmax(1) == yt).mean())
    times["supervised"] = time.time() - t
    return acc, hist, {k: v[2] for k, v in feats.items()}, yt, times


def plot_label_curve(args, probe):
    fig, ax = plt().subplots(figsize=(6.5, 4.2))
    for name in FEATURES:
        m = [probe[name][pct(f)]["mean"] for f in FRACTIONS]
        ci = [probe[name][pct(f)]["ci95"] for f in FRACTIONS]
        err = None if ci[0] is None else np.array([[mm - c[0] for mm, c in zip(m, ci)], [c[1] - mm for mm, c in zip(m, ci)]])
        ax.errorbar([100 * f for f in FRACTIONS], m, yerr=err, marker="o", capsize=3, label=NAMES[name])
    ax.set(xscale="log", xlabel="% of training labels used", ylabel="test accuracy",
           title="Fashion-MNIST: linear probe on frozen features vs labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    savefig(fig, args, "probe_vs_labels.png")


def plot_feature_map(args, feats, y, n=2000):
    from sklearn.manifold import TSNE
    names = ("raw", "random_init", "simclr", "byol")
    fig, axes = plt().subplots(2, len(names), figsize=(4 * len(names), 8))
    for col, name in enumerate(names):
        f = feats[name][:n]
        f = (f - f.mean(0)) / (f.std(0) + 1e-6)
        u, s, vt = np.linalg.svd(f, full_matrices=False)
        maps = [("PCA", u[:, :2] * s[:2]),
                ("t-SNE", TSNE(n_components=2, init="pca", perplexity=30, random_state=0).fit_transform(f))]
        for row, (how, xy) in enumerate(maps):
            ax = axes[row, col]
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=y[:n], cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
            ax.set_title(f"{how} of {NAMES[name]}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    cb = fig.colorbar(sc, ax=axes, ticks=range(10))
    cb.ax.set_yticklabels(FC.CLASSES, fontsize=8)
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


def plot_views(args, x):
    aug = fashion_augment()
    rows = [("original", x[:10])] + [(f"view {i + 1}", ms.backend.to_numpy(aug(x[:10]))) for i in range(3)]
    savefig(FC.image_rows(plt(), "two views of one garment must map close together", rows), args, "views.png")


def run_folders(text):
    """Comma-separated output folders of earlier runs (each holding a metrics.json), for --merge."""
    import argparse
    import os
    folders = [t.strip() for t in text.split(",") if t.strip()]
    missing = [f for f in folders if not os.path.isfile(os.path.join(f, "metrics.json"))]
    if not folders or missing:
        raise argparse.ArgumentTypeError(f"{', '.join(missing) or text!r}: no metrics.json there; pass folders "
                                         "written by demos/contrastive.py --out")
    return folders


def load_runs(folders):
    """Per-seed accuracies, seeds, timings and settings of earlier runs (--merge); settings must agree."""
    import json
    import os
    per_seed, seeds, times, seconds, settings = [], [], [], [], None
    for d in folders:
        with open(os.path.join(d, "metrics.json")) as f:
            m = json.load(f)
        if settings is not None and m["settings"] != settings:
            raise SystemExit(f"demos/contrastive.py: {d} was run with other settings ({m['settings']} vs "
                             f"{settings}); merge only runs of one configuration")
        settings = m["settings"]
        for i, seed in enumerate(m["seeds"]):
            per_seed.append({(n, f): m["probe"][n][pct(f)]["per_seed"][i] for n in FEATURES for f in FRACTIONS})
            seeds.append(seed)
        times.append(m["pretrain_seconds"])
        seconds.append(m["seconds"])
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"demos/contrastive.py: the merged runs repeat a seed ({seeds}); give each run its own --seed")
    return per_seed, seeds, times, seconds, settings


def main(argv=None):
    args = parse_args("contrastive", __doc__.splitlines()[0], argv,
                      seeds=(positive_int, None, "number of seeds (default 3, --quick 1)"),
                      epochs=(positive_int, None, "pre-training epochs (default 6, --quick 3)"),
                      ssl_images=(positive_int, None, "unlabelled images for pre-training (default 3000, --quick 2000)"),
                      temperature=(positive_float, 0.2, "SimCLR temperature"),
                      batch_size=(positive_int, 128, "pre-training batch size (images; two views each)"),
                      lr=(positive_float, 2e-3, "AdamW learning rate for pre-training"),
                      sup_steps=(positive_int, None, "Adam steps of the supervised CNN (default 200, --quick 100)"),
                      probe_steps=(positive_int, 300, "Adam steps of the linear probe"),
                      merge=(run_folders, None, "summarise earlier single-seed runs instead of training: their "
                                                "--out folders, comma-separated (seeds run as parallel processes)"))
    one_blas_thread()
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.epochs = args.epochs or (3 if args.quick else 6)
    args.ssl_images = args.ssl_images or (2000 if args.quick else 3000)
    args.sup_steps = args.sup_steps or (100 if args.quick else 200)
    args.pool, args.test = (5000, 2000) if args.quick else (None, None)
    if args.merge:
        per_seed, seeds, times, seconds, settings = load_runs(args.merge)
        return report(args, per_seed, seeds, times, settings, {"run_seconds": seconds, "merged_from": args.merge})
    data = FC.fashion("contrastive")
    plot_views(args, data[2])
    per_seed, seeds, times = [], [args.seed + i for i in range(args.seeds)], []
    for s in seeds:
        acc, hist, feats_te, y_te, t = run_seed(args, s, data)
        per_seed.append(acc)
        times.append(t)
        print(f"seed {s} (1%/10%/100% labels): " + ", ".join(
            f"{NAMES[n]} " + "/".join(f"{acc[n, f]:.3f}" for f in FRACTIONS) for n in FEATURES), flush=True)
        if s == seeds[0]:
            plot_training(args, hist)
            plot_feature_map(args, feats_te, y_te, 800 if args.quick else 1500)
    settings = dict(epochs=args.epochs, ssl_images=args.ssl_images, temperature=args.temperature,
                    batch_size=args.batch_size, lr=args.lr, sup_steps=args.sup_steps,
                    pool=args.pool or 59000, test=args.test or 10000)
    return report(args, per_seed, seeds, times, settings, {})


def report(args, per_seed, seeds, times, settings, extra):
    """Means, 95% intervals and verdicts over the seeds; the table, the label curve, metrics.json."""
    probe = {n: {pct(f): FC.summary([a[n, f] for a in per_seed]) for f in FRACTIONS} for n in FEATURES}
    plot_label_curve(args, probe)

    claims = [claim(f"{NAMES[ssl]} features beat {NAMES[base]} (probe accuracy difference, paired over seeds)",
                    [a[ssl, f] - a[base, f] for a in per_seed], where=f"{pct(f)} labels",
                    key=f"{ssl}_beats_{base}_{pct(f)}")
              for f in FRACTIONS for ssl in ("simclr", "byol") for base in ("raw", "random_init", "pca", "supervised")]
    verdicts = {c["key"]: c["verdict"] for c in claims}
    metrics = {"probe": probe, "verdicts": verdicts, "claims": claims, "seeds": seeds,
               "probe_simclr_1pct": probe["simclr"]["1%"]["mean"], "probe_raw_1pct": probe["raw"]["1%"]["mean"],
               "simclr_beats_raw_1pct": verdicts["simclr_beats_raw_1%"],
               "simclr_beats_random_init_1pct": verdicts["simclr_beats_random_init_1%"],
               "pretrain_seconds": {k: float(np.mean([t[k] for t in times])) for k in times[0]},
               "settings": settings, **extra}
    rows = [[NAMES[n]] + [FC.fmt(probe[n][pct(f)]) for f in FRACTIONS] for n in FEATURES]
    print_table(rows, ["features"] + [f"{pct(f)} labels" for f in FRACTIONS],
                title=f"Fashion-MNIST test accuracy, linear probe (supervised CNN: end to end); mean ± 95% "
                      f"half-interval over {len(seeds)} seed(s)" + (" (one seed: no interval)" if len(seeds) < 2 else ""))
    print_claims(claims, title=f"Claims ({len(seeds)} seed(s); one seed gives no interval)")
    print(f"wrote {save_metrics(args, metrics)} ({time.time() - args.started:.0f} s)")
    return metrics


if __name__ == "__main__":
    main()
