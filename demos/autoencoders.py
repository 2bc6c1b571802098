"""Auto-encoders on Fashion-MNIST, the whole lecture half in one run: reconstruction vs PCA, denoising,
anomaly detection, discrete codes, disentanglement, VQ-VAE, compression, VAE.

Runs the four parts (each also runs alone, with its own docstring stating its claims)
and writes one ``metrics.json`` and every figure into ``--out`` (default ``runs/autoencoders``):

* ``ae_reconstruction.py`` — conv AE vs PCA at code sizes 2, 8, 32; denoising AEs;
* ``ae_anomaly.py``        — one-class protocol, ROC-AUC per class: conv AE, PCA, one-class SVM,
  kNN on raw pixels and on SimCLR features, beside a published result;
* ``ae_discrete.py``       — binary and one-hot codes (cluster purity vs k-means), style swaps;
* ``ae_generative.py``     — VQ-VAE codebooks with and without restarts, rate-distortion vs
  quantised PCA and JPEG, VAE samples and interpolations.

Every headline number is a mean over seeds with a 95% interval and its per-seed values
(``--quick``: 1 seed and smaller sets, no interval). ``claims`` (the last table) judges
each comparison from the 95% interval of its per-seed paired difference: holds, does not
hold, or not significant (always the last with one seed); ``verdicts`` adds the fixed
targets (codebook health, style probe near chance), a missed one printed as "NO". Needs Fashion-MNIST
(``python -m minissl.datasets fetch fashion-mnist`` says how) and scikit-learn. Run
times on a 2-core CPU shared with other jobs are stored as ``seconds``.
"""
from __future__ import annotations

import ae_anomaly
import ae_common  # the --seeds flag
import ae_discrete
import ae_generative
import ae_reconstruction
from common import comma_list, one_blas_thread, parse_args, print_claims, print_table, save_metrics

PARTS = [("reconstruction", ae_reconstruction), ("anomaly", ae_anomaly), ("discrete", ae_discrete),
         ("generative", ae_generative)]

VERDICT_KEYS = ("reconstruction_verdicts", "anomaly_verdicts", "discrete_verdicts", "generative_verdicts")


def main(argv=None):
    args = parse_args("autoencoders", __doc__.splitlines()[0], argv,
                      only=(comma_list(*(p for p, _ in PARTS), empty_means_all=True), "",
                            "comma-separated parts to run (default: all): " + ",".join(p for p, _ in PARTS)),
                      seeds=ae_common.SEEDS_FLAG)
    one_blas_thread()
    wanted = [p.strip() for p in args.only.split(",") if p.strip()] or [p for p, _ in PARTS]
    metrics, table, claims = {}, [], []
    for name, mod in PARTS:
        if name in wanted:
            print(f"== {name}", flush=True)
            m, rows = mod.run(args)
            claims += [dict(c, where=name) for c in m.pop("claims", [])]
            metrics.update(m)
            table += [(name, r[0], r[1], " | ".join(map(str, r[2:]))) for r in rows]
    print_table(table, ["part", "experiment", "value", "note"], "Auto-encoders: results on held-out data")

    found = [(key.replace("_verdicts", ""), claim, ok) for key in VERDICT_KEYS
             for claim, ok in metrics.get(key, {}).items()]
    metrics["verdicts"] = {f"{part}.{claim}": ok for part, claim, ok in found}
    print_table([(p, c, "yes" if ok is True else "NO" if ok is False else str(ok)) for p, c, ok in found],
                ["part", "claim or target", "holds"], "Verdicts and targets")
    metrics["claims"] = claims
    print_claims(claims, title="Claims (paired over seeds; --quick has one seed, so no interval)")
    print("metrics:", save_metrics(args, metrics))
    return metrics


if __name__ == "__main__":
    main()
