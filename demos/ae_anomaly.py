"""Anomaly detection with auto-encoders: trained on normal data only, scored by reconstruction error.

Protocols (all scores: larger = more anomalous; ROC-AUC from ``minissl.metrics``):

* Breast cancer: for each of 5 seeds, a random half of the *benign* cases is
  the training set (features standardised with its mean and std); the test set
  is the other benign half (normal) plus all 212 malignant cases (anomalies).
  The model is a denoising auto-encoder (30-64-16-64-30, tanh, Gaussian input
  noise σ = 1 in standardised units): the noise forces it to rebuild inputs
  onto the benign manifold instead of copying them; a plain AE of the same
  size is in the table for comparison. Baselines on the same splits: PCA reconstruction error
  (2 components) and scikit-learn's one-class SVM (RBF, ν = 0.1).
* Digits one-vs-rest (one-class protocol of Ruff et al., 2018): the digits are
  split 50/50 (stratified). For each class c = 0..9, a model is trained on the
  training images of class c only and scores the whole test half; test images
  of class c are normal, the other nine classes are anomalies. The reported
  number is the ROC-AUC averaged over the 10 classes. Baselines: PCA (8
  components) and a one-class SVM, same protocol.
Figures: ae_anomaly.png (score histograms, ROC curves).
Run alone: ``python demos/ae_anomaly.py [--quick]``.
"""
from __future__ import annotations

import ae_common as C
import numpy as np
from common import parse_args, plt, print_table, save_metrics, savefig

import minissl as ms
from minissl.metrics import roc_auc
from minissl.models.autoencoder import PCA, AutoEncoder, fit, reconstruction_error


def _dae_scores(a, b, seed, epochs, code=16, hidden=(64,), level=1.0, activation="tanh", output="linear"):
    ms.manual_seed(seed)
    model = AutoEncoder(a.shape[1], code, hidden=hidden, activation=activation, output=output)
    noise = "gaussian" if level else None
    fit(model, ms.tensor(a), loss_fn=lambda m, x: m.loss(x, noise, level), epochs=epochs, batch_size=32, lr=1e-3)
    return reconstruction_error(model, ms.tensor(b))


def breast_cancer(args, m, rows):
    from sklearn.svm import OneClassSVM
    x, malignant = C.breast_cancer()
    epochs = 150 if args.quick else 300
    auc = {k: [] for k in ("dae", "plain_ae", "pca", "ocsvm")}
    keep = None
    for s in range(5):
        r = np.random.default_rng(args.seed + s)
        benign = np.flatnonzero(~malignant)
        r.shuffle(benign)
        tr, te = benign[:len(benign) // 2], np.r_[benign[len(benign) // 2:], np.flatnonzero(malignant)]
        mu, sd = x[tr].mean(0), x[tr].std(0)
        a, b = ((x[tr] - mu) / sd).astype(np.float32), ((x[te] - mu) / sd).astype(np.float32)
        lab = malignant[te]
        scores = _dae_scores(a, b, args.seed + s, epochs)
        auc["dae"].append(roc_auc(lab, scores))
        auc["plain_ae"].append(roc_auc(lab, _dae_scores(a, b, args.seed + s, epochs, level=0.0)))
        auc["pca"].append(roc_auc(lab, PCA(2).fit(a).reconstruction_error(b)))
        auc["ocsvm"].append(roc_auc(lab, -OneClassSVM(gamma="scale", nu=0.1).fit(a).score_samples(b)))
        if keep is None:
            keep = (lab, scores)
    m["anomaly_auc_breast_cancer"] = float(np.mean(auc["dae"]))
    m["anomaly_auc_breast_cancer_per_seed"] = [float(v) for v in auc["dae"]]
    for k in ("plain_ae", "pca", "ocsvm"):
        m[f"anomaly_auc_breast_cancer_{k}"] = float(np.mean(auc[k]))
    rows += [("breast cancer: denoising AE (5 seeds)", m["anomaly_auc_breast_cancer"], "target >= 0.95"),
             ("breast cancer: plain AE, same size", m["anomaly_auc_breast_cancer_plain_ae"], "minissl"),
             ("breast cancer: PCA, 2 components", m["anomaly_auc_breast_cancer_pca"], "minissl SVD"),
             ("breast cancer: one-class SVM", m["anomaly_auc_breast_cancer_ocsvm"], "scikit-learn")]
    return keep


def digits(args, m, rows):
    from sklearn.svm import OneClassSVM
    xtr, xte, ytr, yte = C.digits(args.seed, test_size=0.5)
    epochs = 120 if args.quick else 300
    auc = {k: [] for k in ("dae", "pca", "ocsvm")}
    keep = None
    for c in range(10):
        normal = xtr[ytr == c]
        scores = _dae_scores(normal, xte, args.seed + c, epochs, code=8, hidden=(64,), level=0.5,
                             activation="relu", output="sigmoid")
        auc["dae"].append(roc_auc(yte != c, scores))
        auc["pca"].append(roc_auc(yte != c, PCA(8).fit(normal).reconstruction_error(xte)))
        auc["ocsvm"].append(roc_auc(yte != c, -OneClassSVM(gamma="scale", nu=0.1).fit(normal).score_samples(xte)))
        if c == 8:  # the hardest class: the figure shows it
            keep = (yte != c, scores)
    m["anomaly_auc_digits_mean"] = float(np.mean(auc["dae"]))
    m["anomaly_auc_digits_per_class"] = [float(v) for v in auc["dae"]]
    m["anomaly_auc_digits_pca"] = float(np.mean(auc["pca"]))
    m["anomaly_auc_digits_ocsvm"] = float(np.mean(auc["ocsvm"]))
    rows += [("digits one-vs-rest: denoising AE (mean of 10)", m["anomaly_auc_digits_mean"], "target >= 0.99"),
             ("digits one-vs-rest: PCA, 8 components", m["anomaly_auc_digits_pca"], "minissl SVD"),
             ("digits one-vs-rest: one-class SVM", m["anomaly_auc_digits_ocsvm"], "scikit-learn")]
    return keep


def run(args):
    m, rows = {}, []
    bc = breast_cancer(args, m, rows)
    dg = digits(args, m, rows)
    if not getattr(args, "no_figures", False):
        pyplot = plt()
        fig, axes = pyplot.subplots(1, 3, figsize=(15, 4))
        for ax, (lab, sc), title in [(axes[0], bc, "breast cancer (seed 0)"), (axes[1], dg, "digits: normal = 8")]:
            bins = np.linspace(np.log(sc.min()), np.log(sc.max()), 40)
            ax.hist(np.log(sc[~lab]), bins, alpha=0.6, label="normal")
            ax.hist(np.log(sc[lab]), bins, alpha=0.6, label="anomaly")
            ax.set(title=f"{title}: AUC {roc_auc(lab, sc):.3f}", xlabel="log reconstruction error")
            ax.legend()
            fpr, tpr = C.roc_curve(lab, sc)
            axes[2].plot(fpr, tpr, label=title)
        axes[2].plot([0, 1], [0, 1], "k:", lw=0.8)
        axes[2].set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC curves")
        axes[2].legend()
        savefig(fig, args, "ae_anomaly.png")
    return m, rows


def main():
    a = parse_args("ae_anomaly", __doc__.splitlines()[0])
    metrics, table = run(a)
    print_table(table, ["detector", "ROC-AUC", "note"], "Anomaly detection (held-out)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
