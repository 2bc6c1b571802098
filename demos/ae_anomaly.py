"""One-class anomaly detection on Fashion-MNIST: train on one class, flag the other nine.

Protocol (the standard one-class benchmark of Ruff et al., 2018 and Golan & El-Yaniv, 2018):
for each class c = 0..9, a detector sees only training images of class c (``n_normal``
of them); it scores a stratified set of test images of all ten classes, where class c
is normal and the rest are anomalies; the score is the ROC-AUC (larger score = more
anomalous). Reported: AUC per class, and its mean over the 10 classes, each as mean
and 95% interval over seeds (``--quick``: 1 seed, fewer images, no interval).

Detectors (same normal images for all):
* conv AE (``minissl.models.cnn``, code 16): reconstruction error Σ (x - x̂)²;
* PCA with 16 components (the same code size): reconstruction error;
* one-class SVM (scikit-learn, RBF, ν = 0.1, γ = "scale") on raw pixels
  (at most 1,000 normal images: its cost grows with the square of the set);
* kNN on raw pixels: mean Euclidean distance to the 5 nearest normal training images;
* kNN on SimCLR features: mean cosine distance to the 5 nearest normal training
  images in the feature space of a SimCLR CNN (``demos/contrastive.py``'s recipe,
  smaller budget) pre-trained once per seed on unlabelled training images of *all*
  classes. That is not the strict one-class setting: the encoder has seen
  (unlabelled) images of the anomaly classes, as a pre-trained feature extractor
  would have; its random-init twin (kNN on the same CNN with random weights) is the control.

Published reference (not a target; larger networks, full training sets): Golan &
El-Yaniv, "Deep Anomaly Detection Using Geometric Transformations", NeurIPS 2018,
Table 1 (Fashion-MNIST rows): their transformation classifier (GEOM) reaches a mean
AUROC of 93.5 over the 10 classes. The per-class values and the other rows of that table
(OC-SVM, KDE, DAGMM, DSEBM, AnoGAN baselines) could not be retrieved while writing this
demo, so only GEOM's mean is put beside ours (``published``).
Figures: ae_anomaly.png (per-class AUC bars, score histograms of one class, ROC curves).
Run alone: ``python demos/ae_anomaly.py [--quick]``.
"""
from __future__ import annotations

import ae_common as C
import fashion_common as FC
import numpy as np
from common import claim, one_blas_thread, parse_args, plt, print_claims, print_table, save_metrics, savefig
from ae_common import SEEDS_FLAG

import minissl as ms
from minissl.metrics import roc_auc
from minissl.models.augment import fashion_augment
from minissl.models.autoencoder import PCA, AutoEncoder
from minissl.models.cnn import cnn_encoder
from minissl.models.contrastive import SimCLR, pretrain

DETECTORS = ("conv_ae", "pca", "ocsvm", "knn_raw", "knn_random_cnn", "knn_simclr")
NAMES = {"conv_ae": "conv AE (code 16)", "pca": "PCA (16)", "ocsvm": "one-class SVM", "knn_raw": "kNN raw pixels",
         "knn_random_cnn": "kNN random CNN", "knn_simclr": "kNN SimCLR CNN"}
PUBLISHED = {"source": "Golan & El-Yaniv, NeurIPS 2018, Table 1, Fashion-MNIST", "geom_mean_auc": 0.935}


def settings(args):
    q = args.quick
    return dict(seeds=getattr(args, "seeds", None) or (1 if q else 3), n_normal=400 if q else 1000, n_test=1000 if q else 3000,
                ae_epochs=6, ssl_images=1000 if q else 2000, ssl_epochs=3 if q else 5, k=5)


def knn_score(train, test, k, cosine=False):
    """Mean distance from each test row to its k nearest training rows (cosine: on unit vectors)."""
    if cosine:
        train = train / np.linalg.norm(train, axis=1, keepdims=True)
        test = test / np.linalg.norm(test, axis=1, keepdims=True)
    d2 = (test * test).sum(1)[:, None] - 2 * test @ train.T + (train * train).sum(1)[None, :]
    return np.sqrt(np.maximum(np.sort(d2, axis=1)[:, :k], 0)).mean(1)


def run_seed(args, cfg, seed):
    from sklearn.svm import OneClassSVM
    xtr, ytr, xte, yte = FC.fashion("ae_anomaly")
    rng = np.random.default_rng(seed)
    test = FC.subset(yte, cfg["n_test"], rng)
    xt, yt = xte[test], yte[test]
    ms.manual_seed(seed)
    simclr = SimCLR(encoder=cnn_encoder(), hidden=256, proj_dim=64, temperature=0.2)
    pretrain(simclr, xtr[rng.permutation(len(xtr))[:cfg["ssl_images"]]], fashion_augment(), epochs=cfg["ssl_epochs"],
             batch_size=128, lr=2e-3, progress=False)
    ms.manual_seed(seed)
    encoders = {"knn_simclr": simclr.encoder, "knn_random_cnn": cnn_encoder()}
    feats_t = {k: C.predict(e, xt) for k, e in encoders.items()}
    auc, keep = {d: [] for d in DETECTORS}, None
    for c in range(10):
        normal = xtr[rng.permutation(np.flatnonzero(ytr == c))[:cfg["n_normal"]]]
        ae = AutoEncoder(C.PIXELS, 16, arch="conv")
        C.train(ae, normal, cfg["ae_epochs"], seed + c)
        scores = {"conv_ae": ((C.predict(ae, xt) - xt) ** 2).sum(1),
                  "pca": PCA(16).fit(normal).reconstruction_error(xt),
                  "ocsvm": -OneClassSVM(gamma="scale", nu=0.1).fit(normal[:1000]).score_samples(xt),
                  "knn_raw": knn_score(normal, xt, cfg["k"])}
        for name, enc in encoders.items():
            scores[name] = knn_score(C.predict(enc, normal), feats_t[name], cfg["k"], cosine=True)
        for d in DETECTORS:
            auc[d].append(roc_auc(yt != c, scores[d]))
        if c == 6:  # shirts: the hardest class (they look like T-shirts, pullovers and coats)
            keep = (yt != c, scores)
    return auc, keep


def run(args):
    cfg = settings(args)
    per_seed, keep = [], None
    for s in range(cfg["seeds"]):
        auc, k = run_seed(args, cfg, args.seed + s)
        per_seed.append(auc)
        keep = keep or k
        print(f"seed {args.seed + s}: mean AUC " + ", ".join(f"{NAMES[d]} {np.mean(auc[d]):.3f}" for d in DETECTORS),
              flush=True)
    res = {d: {"mean_auc": FC.summary([np.mean(a[d]) for a in per_seed]),
               "per_class": [FC.summary([a[d][c] for a in per_seed]) for c in range(10)]} for d in DETECTORS}

    def above(a, b, key):  # paired over seeds: the same split and normal class for both detectors
        return claim(f"{NAMES[a]} detects anomalies better than {NAMES[b]} (mean AUC difference)",
                     [np.mean(s[a]) - np.mean(s[b]) for s in per_seed], key=key)
    claims = [above("conv_ae", b, f"ae_beats_{b}") for b in ("pca", "ocsvm", "knn_raw")]
    claims += [above("knn_simclr", "knn_raw", "simclr_knn_beats_raw_knn"),
               above("knn_simclr", "knn_random_cnn", "simclr_knn_beats_random_cnn_knn")]
    verdicts = {c["key"]: c["verdict"] for c in claims}
    verdicts["best_detector"] = max(DETECTORS, key=lambda d: res[d]["mean_auc"]["mean"])
    out = {"anomaly": res, "anomaly_verdicts": verdicts, "anomaly_settings": cfg, "anomaly_published": PUBLISHED,
           "anomaly_auc_ae_mean": res["conv_ae"]["mean_auc"]["mean"],
           "anomaly_auc_best_mean": res[verdicts["best_detector"]]["mean_auc"]["mean"], "claims": claims}
    rows = [(NAMES[d], FC.fmt(res[d]["mean_auc"]), " ".join(f"{r['mean']:.2f}" for r in res[d]["per_class"]))
            for d in DETECTORS]
    rows.append(("GEOM (published)", f"{PUBLISHED['geom_mean_auc']:.3f}", PUBLISHED["source"]))
    if not getattr(args, "no_figures", False):
        _figure(args, res, keep)
    return out, rows


def _figure(args, res, keep):
    pyplot = plt()
    fig = pyplot.figure(figsize=(15, 8))
    ax = fig.add_subplot(2, 1, 1)
    w = 0.8 / len(DETECTORS)
    for i, d in enumerate(DETECTORS):
        m = [r["mean"] for r in res[d]["per_class"]]
        ci = [r["ci95"] for r in res[d]["per_class"]]
        err = None if ci[0] is None else np.array([[a - c[0] for a, c in zip(m, ci)], [c[1] - a for a, c in zip(m, ci)]])
        ax.bar(np.arange(10) + (i - len(DETECTORS) / 2 + 0.5) * w, m, w, yerr=err, capsize=2,
               label=f"{NAMES[d]} (mean {res[d]['mean_auc']['mean']:.3f})")
    ax.axhline(PUBLISHED["geom_mean_auc"], color="k", ls="--", lw=1, label="GEOM, published mean (Golan & El-Yaniv 2018)")
    ax.set_xticks(range(10))
    ax.set_xticklabels([f"normal = {c}" for c in FC.CLASSES], fontsize=8)
    ax.set(ylim=(0.4, 1.0), ylabel="ROC-AUC", title="one-class Fashion-MNIST: AUC per normal class")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    lab, scores = keep
    for j, d in enumerate(("conv_ae", "knn_simclr")):
        a = fig.add_subplot(2, 3, 4 + j)
        sc = np.log(scores[d] + 1e-9)
        bins = np.linspace(sc.min(), sc.max(), 40)
        a.hist(sc[~lab], bins, alpha=0.6, density=True, label="normal (Shirt)")
        a.hist(sc[lab], bins, alpha=0.6, density=True, label="anomalies")
        a.set(title=f"{NAMES[d]}: AUC {roc_auc(lab, scores[d]):.3f}", xlabel="log score")
        a.legend(fontsize=8)
    a = fig.add_subplot(2, 3, 6)
    for d in DETECTORS:
        fpr, tpr = C.roc_curve(lab, scores[d])
        a.plot(fpr, tpr, label=NAMES[d])
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC, normal = Shirt")
    a.legend(fontsize=7)
    fig.tight_layout()
    savefig(fig, args, "ae_anomaly.png")


def main():
    a = parse_args("ae_anomaly", __doc__.splitlines()[0], seeds=SEEDS_FLAG)
    one_blas_thread()
    metrics, table = run(a)
    print_table(table, ["detector", "mean AUC", "AUC per normal class 0..9"], "One-class anomaly detection (held-out)")
    print_claims(metrics["claims"], title="Claims (paired over seeds)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
