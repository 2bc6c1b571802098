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
  CNN trained *supervised* end to end on the labelled images (below).

The supervised CNN (:func:`supervised`) is the strong baseline, so it gets a real
budget and the same model selection as the probe: the CNN + a linear head, trained
with cross-entropy by Adam (lr 2e-3, 5% warm-up, cosine decay to 0, batches of 128)
for ``--sup-epochs`` passes over the labelled images (default 10), at least
``--sup-min-steps`` (300) and at most ``--sup-max-steps`` (1,500) steps: 300, 470
and 1,500 steps at 1%, 10% and 100% of the labels. It is scored 15 times on the
validation set (the same 1,000 images the probe picks its L2 strength on, never the
test set); the best weights are kept and training stops after 5 scores without
improvement. The cap keeps the arm to about 2,300 steps a seed; ``--sup-only``
runs just this arm and the raw-pixel probe. Augmentation is off by default, chosen
on validation (EXPERIMENTS.md has the numbers; ``--sup-augment`` turns it on).

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
from common import (claim, load_runs, one_blas_thread, parse_args, plt, positive_float, positive_int, print_claims,
                    print_table, run_folders, save_metrics, savefig)

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


def split(y_train, n_test, seed, pool_size=None, test_size=None, n_val=1000):
    """Indices (pool, val, test): a stratified validation set of ``n_val`` training images,
    the pool (the other training images, shuffled, the first ``pool_size`` kept) and the
    test images scored (the first ``test_size`` of a permutation, or all)."""
    rng = np.random.default_rng(seed)
    val = FC.subset(y_train, n_val, rng)
    pool = rng.permutation(np.setdiff1d(np.arange(len(y_train)), val))[:pool_size]
    test = rng.permutation(n_test)[:test_size] if test_size else np.arange(n_test)
    return pool, val, test


def sup_budget(n, epochs, min_steps, max_steps, batch=128):
    """Steps for ``n`` labelled images: ``epochs`` passes, at least ``min_steps`` and at most ``max_steps``."""
    return int(np.clip(epochs * -(-n // batch), min_steps, max_steps))


@ms.no_grad()
def accuracy(net, x, y):
    return float((embed(net, x).argmax(1) == y).mean())


def supervised(x, y, xv, yv, steps, seed, augment=False, lr=2e-3, batch=128, evals=15, patience=5):
    """The same CNN + a linear head trained end to end on (x, y); returns (net, history).

    Adam, lr warm-up over 5% of ``steps`` then cosine decay to 0; batches of ``batch``
    rows drawn epoch by epoch, with ``fashion_augment`` views when ``augment``. The
    validation accuracy on (xv, yv) is measured ``evals`` times; the weights of the best
    evaluation are kept (model selection), and training stops early after ``patience``
    evaluations without improvement. History: ``eval_step``, ``eval`` (validation
    accuracy), ``best_step``, ``steps_run``.
    """
    from minissl.train import fit, minibatches
    ms.manual_seed(seed)
    enc = cnn_encoder()
    net = nn.Sequential(enc, nn.Linear(enc.feature_dim, 10))
    opt = ms.optim.Adam(net.parameters(), lr=lr)
    sched = ms.optim.warmup_cosine(opt, max(1, steps // 20), steps)
    aug, rng = fashion_augment(), np.random.default_rng(seed)
    best = {"acc": -1.0, "state": None, "since": 0, "stop": False}

    def batches():
        for rows in minibatches(len(y), min(batch, len(y)), -(-steps // -(-len(y) // batch)), rng):
            if best["stop"]:
                return
            xb = aug(x[rows]) if augment else x[rows]
            yield ms.tensor(xb), ms.tensor(y[rows])

    def validate(model):
        acc = accuracy(model, xv, yv)
        if acc > best["acc"]:
            best.update(acc=acc, since=0, state={k: v.array.copy() for k, v in model.state_dict().items()})
        else:
            best["since"] += 1
            best["stop"] = best["since"] >= patience
        return acc

    hist = fit(net, batches(), steps, loss_fn=lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
               optimizer=opt, scheduler=sched, eval_fn=validate, eval_every=max(1, steps // evals),
               progress=False)
    net.load_state_dict({k: ms.tensor(a) for k, a in best["state"].items()})
    net.eval()
    return net, {"eval_step": hist["eval_step"], "eval": hist["eval"], "best_step": hist["eval_step"][
        int(np.argmax(hist["eval"]))], "steps_run": len(hist["step"])}


def run_seed(args, seed, data):
    xtr, ytr, xte, yte = data
    pool, val, test = split(ytr, len(yte), seed, args.pool, args.test)
    xp_, yp, xv, yv, xt, yt = xtr[pool], ytr[pool], xtr[val], ytr[val], xte[test], yte[test]
    labelled = {}
    for f in sorted(FRACTIONS):  # nested subsets: the 1% labels are among the 10%
        labelled[f] = FC.subset(yp, int(round(f * len(yp))), np.random.default_rng(seed))
    ssl = xp_[:args.ssl_images]

    nets, hist, times, sup_hist = {}, {}, {}, {}
    ms.manual_seed(seed)
    nets["random_init"] = cnn_encoder()
    ssl_arms = () if args.sup_only else (("simclr", SimCLR, dict(temperature=args.temperature)), ("byol", BYOL, {}))
    for name, cls, extra in ssl_arms:
        ms.manual_seed(seed)
        model = cls(encoder=cnn_encoder(), hidden=256, proj_dim=64, **extra)
        t = time.time()
        hist[name] = pretrain(model, ssl, fashion_augment(), epochs=args.epochs, batch_size=args.batch_size,
                              lr=args.lr)
        times[name] = time.time() - t
        nets[name] = model.encoder

    feats = {"raw": (xp_, xv, xt)}
    if not args.sup_only:
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
        steps = sup_budget(len(idx), args.sup_epochs, args.sup_min_steps, args.sup_max_steps)
        net, h = supervised(xp_[idx], yp[idx], xv, yv, steps, seed, augment=args.sup_augment,
                            evals=5 if args.quick else 15)  # --quick: validation checks cost as much as training
        acc["supervised", f] = accuracy(net, xt, yt)
        sup_hist[pct(f)] = h
    times["supervised"] = time.time() - t
    return acc, hist, {k: v[2] for k, v in feats.items()}, yt, times, sup_hist


def features(args):
    """The arms a run scores: all of FEATURES, or with --sup-only the supervised CNN and raw pixels."""
    return ("raw", "supervised") if args.sup_only else FEATURES


def plot_label_curve(args, probe):
    fig, ax = plt().subplots(figsize=(6.5, 4.2))
    for name in probe:
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


def load_contrastive_runs(folders):
    """Per-seed accuracies, seeds, timings and settings of earlier runs (--merge); settings must agree."""
    runs = load_runs(folders, "contrastive")
    per_seed = [{(n, f): m["probe"][n][pct(f)]["per_seed"][i] for n in m["probe"] for f in FRACTIONS}
                for m in runs for i in range(len(m["seeds"]))]
    seeds = [s for m in runs for s in m["seeds"]]
    return per_seed, seeds, [m["pretrain_seconds"] for m in runs], [m["seconds"] for m in runs], runs[0]["settings"]


def main(argv=None):
    args = parse_args("contrastive", __doc__.splitlines()[0], argv,
                      seeds=(positive_int, None, "number of seeds (default 3, --quick 1)"),
                      epochs=(positive_int, None, "pre-training epochs (default 6, --quick 3)"),
                      ssl_images=(positive_int, None, "unlabelled images for pre-training (default 3000, --quick 2000)"),
                      temperature=(positive_float, 0.2, "SimCLR temperature"),
                      batch_size=(positive_int, 128, "pre-training batch size (images; two views each)"),
                      lr=(positive_float, 2e-3, "AdamW learning rate for pre-training"),
                      sup_epochs=(positive_int, None, "supervised CNN: passes over the labelled images (default 10, "
                                                      "--quick 5), within the two bounds below"),
                      sup_min_steps=(positive_int, None, "supervised CNN: at least this many Adam steps (default 300, "
                                                         "--quick 100)"),
                      sup_max_steps=(positive_int, None, "supervised CNN: at most this many Adam steps (default 1500, "
                                                         "--quick 300)"),
                      sup_augment=(bool, None, "train the supervised CNN on fashion_augment views, as the SSL "
                                               "arms (default: on the plain images; see the docstring)"),
                      sup_only=(bool, None, "train and score only the supervised CNN and the raw-pixel probe"),
                      probe_steps=(positive_int, 300, "Adam steps of the linear probe"),
                      merge=(run_folders, None, "summarise earlier single-seed runs instead of training: their "
                                                "--out folders, comma-separated (seeds run as parallel processes)"))
    one_blas_thread()
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.epochs = args.epochs or (3 if args.quick else 6)
    args.ssl_images = args.ssl_images or (2000 if args.quick else 3000)
    args.sup_epochs = args.sup_epochs or (5 if args.quick else 10)
    args.sup_min_steps = args.sup_min_steps or (100 if args.quick else 300)
    args.sup_max_steps = max(args.sup_min_steps, args.sup_max_steps or (300 if args.quick else 1500))
    args.pool, args.test = (5000, 2000) if args.quick else (None, None)
    if args.merge:
        per_seed, seeds, times, seconds, settings = load_contrastive_runs(args.merge)
        args.sup_only = settings.get("sup_only", False)
        return report(args, per_seed, seeds, times, settings, {"run_seconds": seconds, "merged_from": args.merge})
    data = FC.fashion("contrastive")
    plot_views(args, data[2])
    per_seed, seeds, times, sup = [], [args.seed + i for i in range(args.seeds)], [], []
    for s in seeds:
        acc, hist, feats_te, y_te, t, sup_hist = run_seed(args, s, data)
        per_seed.append(acc)
        times.append(t)
        sup.append(sup_hist)
        print(f"seed {s} (1%/10%/100% labels): " + ", ".join(
            f"{NAMES[n]} " + "/".join(f"{acc[n, f]:.3f}" for f in FRACTIONS) for n in features(args)), flush=True)
        if s == seeds[0] and not args.sup_only:
            plot_training(args, hist)
            plot_feature_map(args, feats_te, y_te, 800 if args.quick else 1500)
    settings = dict(epochs=args.epochs, ssl_images=args.ssl_images, temperature=args.temperature,
                    batch_size=args.batch_size, lr=args.lr, sup_epochs=args.sup_epochs,
                    sup_min_steps=args.sup_min_steps, sup_max_steps=args.sup_max_steps,
                    sup_augment=args.sup_augment, sup_only=args.sup_only,
                    pool=args.pool or 59000, test=args.test or 10000)
    return report(args, per_seed, seeds, times, settings, {"supervised_training": sup})


def report(args, per_seed, seeds, times, settings, extra):
    """Means, 95% intervals and verdicts over the seeds; the table, the label curve, metrics.json."""
    probe = {n: {pct(f): FC.summary([a[n, f] for a in per_seed]) for f in FRACTIONS} for n in features(args)}
    plot_label_curve(args, probe)
    if args.sup_only:
        return report_supervised(args, probe, per_seed, seeds, times, settings, extra)
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
    print_probe_table(probe, seeds)
    print_claims(claims, title=f"Claims ({len(seeds)} seed(s); one seed gives no interval)")
    print(f"wrote {save_metrics(args, metrics)} ({time.time() - args.started:.0f} s)")
    return metrics


def report_supervised(args, probe, per_seed, seeds, times, settings, extra):
    """--sup-only: the supervised CNN against the raw-pixel probe, nothing else trained."""
    claims = [claim("supervised CNN beats the raw-pixel probe (test accuracy difference, paired over seeds)",
                    [a["supervised", f] - a["raw", f] for a in per_seed], where=f"{pct(f)} labels",
                    key=f"supervised_beats_raw_{pct(f)}") for f in FRACTIONS]
    metrics = {"probe": probe, "verdicts": {c["key"]: c["verdict"] for c in claims}, "claims": claims,
               "seeds": seeds, "pretrain_seconds": {k: float(np.mean([t[k] for t in times])) for k in times[0]},
               "settings": settings, **extra}
    print_probe_table(probe, seeds)
    print_claims(claims, title=f"Claims ({len(seeds)} seed(s); one seed gives no interval)")
    print(f"wrote {save_metrics(args, metrics)} ({time.time() - args.started:.0f} s)")
    return metrics


def print_probe_table(probe, seeds):
    rows = [[NAMES[n]] + [FC.fmt(probe[n][pct(f)]) for f in FRACTIONS] for n in probe]
    print_table(rows, ["features"] + [f"{pct(f)} labels" for f in FRACTIONS],
                title=f"Fashion-MNIST test accuracy, linear probe (supervised CNN: end to end); mean ± 95% "
                      f"half-interval over {len(seeds)} seed(s)" + (" (one seed: no interval)" if len(seeds) < 2 else ""))


if __name__ == "__main__":
    main()
