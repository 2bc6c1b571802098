"""Auto-encoders, the whole lecture half in one run: reconstruction vs PCA, denoising,
anomaly detection, discrete codes, disentanglement, VQ-VAE, compression, VAE.

Runs the four parts (each also runs alone) and writes one ``metrics.json``
and every figure into ``--out`` (default ``runs/autoencoders``):

* ``ae_reconstruction.py`` — 2-number codes: PCA (SVD), linear AE, MLP AE; denoising AEs;
* ``ae_anomaly.py``        — breast cancer and digits one-vs-rest, ROC-AUC vs PCA and one-class SVM;
* ``ae_discrete.py``       — binary and one-hot codes (cluster purity), style swaps;
* ``ae_generative.py``     — VQ-VAE at 24 bits vs k-means patches, rate–distortion, VAE samples.

``python demos/autoencoders.py --quick`` takes about a minute and a half on a
2-core CPU; the default run a few minutes. Needs scikit-learn for the data and
the baselines (``pip install minissl[demos]``).
"""
from __future__ import annotations

import ae_anomaly
import ae_common  # noqa: F401  (sets single-threaded BLAS before NumPy starts)
import ae_discrete
import ae_generative
import ae_reconstruction
from common import comma_list, parse_args, print_table, save_metrics

PARTS = [("reconstruction", ae_reconstruction), ("anomaly", ae_anomaly), ("discrete", ae_discrete),
         ("generative", ae_generative)]

TARGETS = [  # (metric, comparison, threshold or baseline metric, what it means)
    ("ae_mse_2d", "<", "pca_mse_2d", "MLP AE beats PCA with a 2-D code"),
    ("linear_ae_gap", "<", 0.02, "linear AE within 2% of PCA"),
    ("anomaly_auc_breast_cancer", ">=", 0.95, "breast cancer ROC-AUC (5 seeds)"),
    ("anomaly_auc_digits_mean", ">=", 0.99, "digits one-vs-rest mean ROC-AUC"),
    ("vqvae_nmse", "<", "kmeans_patch_nmse", "VQ-VAE 24 bits beats k-means patches"),
    ("vqvae_perplexity", ">=", 32, "codebook perplexity >= K/2"),
    ("vqvae_dead_share", "<", 0.10, "dead codes < 10%"),
]


def main(argv=None):
    args = parse_args("autoencoders", __doc__.splitlines()[0], argv,
                      only=(comma_list(*(p for p, _ in PARTS), empty_means_all=True), "",
                            "comma-separated parts to run (default: all): " + ",".join(p for p, _ in PARTS)))
    wanted = [p.strip() for p in args.only.split(",") if p.strip()] or [p for p, _ in PARTS]
    metrics, table = {}, []
    for name, mod in PARTS:
        if name in wanted:
            print(f"== {name}", flush=True)
            m, rows = mod.run(args)
            metrics.update(m)
            table += [(name, *r) for r in rows]
    print_table(table, ["part", "experiment", "value", "note"], "Auto-encoders: results on held-out data")

    if "linear_ae_vs_pca" in metrics:
        metrics["linear_ae_gap"] = abs(metrics["linear_ae_vs_pca"])
    checks = []
    for key, op, ref, text in TARGETS:
        if key not in metrics:
            continue
        bound = metrics[ref] if isinstance(ref, str) else ref
        ok = metrics[key] < bound if op == "<" else metrics[key] >= bound
        checks.append((text, f"{metrics[key]:.4f}", f"{op} {bound:.4f}", "yes" if ok else "NO"))
        metrics[f"target_met_{key}"] = bool(ok)
    print_table(checks, ["target", "measured", "needed", "met"], "Targets")
    print("metrics:", save_metrics(args, metrics))
    return metrics


if __name__ == "__main__":
    main()
