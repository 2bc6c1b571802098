"""Convolutional auto-encoder vs PCA on Fashion-MNIST at code sizes 2, 8 and 32, and denoising auto-encoders.

Claims (held-out test images, pixels in [0, 1], MSE per pixel; mean and 95% interval over seeds):
* PCA is the best *linear* code of each size (Eckart-Young); a convolutional AE
  (``minissl.models.cnn``: two stride-2 convolutions, a linear code, the mirror
  decoder) with the same number of code numbers beats it (``verdicts.ae_beats_pca_k<k>``);
  the gap is largest for the smallest codes, where a curved manifold helps most;
* a denoising AE (Gaussian noise σ = 0.3, or masking noise that zeroes 50% of the
  pixels) rebuilds clean garments from corrupted ones better than the plain AE of the
  same size given the same corrupted input (``verdicts.dae_beats_plain_<noise>``).
Figures: ae_reconstructions.png (inputs, PCA and AE at each code size),
ae_code_map.png (2-number codes coloured by class), ae_denoising.png (before / after).
Run alone: ``python demos/ae_reconstruction.py [--quick]`` (--quick: 1 seed, no interval).
"""
from __future__ import annotations

import ae_common as C
import fashion_common as FC
import numpy as np
from common import claim, one_blas_thread, parse_args, plt, print_claims, print_table, save_metrics, savefig
from ae_common import SEEDS_FLAG

import minissl as ms
from minissl.models.autoencoder import PCA, AutoEncoder, corrupt

CODES = (2, 8, 32)
NOISE = {"gaussian": 0.3, "mask": 0.5}


def settings(args):
    return dict(seeds=getattr(args, "seeds", None) or (1 if args.quick else 3), n_train=2000 if args.quick else 4000,
                n_test=1000 if args.quick else 2000, epochs=5)


def _corrupt(x, kind, seed):
    ms.manual_seed(seed)
    return ms.backend.to_numpy(corrupt(ms.tensor(x), kind, NOISE[kind]).array)


def run(args):
    cfg = settings(args)
    per = {}  # metric name -> per-seed values
    keep = {}

    def add(k, v):
        per.setdefault(k, []).append(float(v))
    for s in range(cfg["seeds"]):
        seed = args.seed + s
        xtr, ytr, xte, yte = C.split("ae_reconstruction", seed, cfg["n_train"], cfg["n_test"])
        aes = {}
        for k in CODES:
            pca = PCA(k).fit(xtr)
            add(f"pca_mse_k{k}", pca.reconstruction_error(xte).mean() / C.PIXELS)
            aes[k] = AutoEncoder(C.PIXELS, k, arch="conv")
            C.train(aes[k], xtr, cfg["epochs"], seed, progress=f"conv AE, code {k}")
            add(f"ae_mse_k{k}", ((C.predict(aes[k], xte) - xte) ** 2).mean())
            if s == 0:
                keep[k] = (pca, aes[k])
        k = CODES[-1]
        for kind in NOISE:
            dae = AutoEncoder(C.PIXELS, k, arch="conv")
            C.train(dae, xtr, cfg["epochs"], seed, loss_fn=lambda m, b, kind=kind: m.loss(b, kind, NOISE[kind]),
                    progress=f"denoising AE ({kind})")
            xn = _corrupt(xte, kind, seed + 1000)
            add(f"denoise_{kind}_mse_input", ((np.clip(xn, 0, 1) - xte) ** 2).mean())
            add(f"denoise_{kind}_mse_plain_ae", ((C.predict(aes[k], xn) - xte) ** 2).mean())
            add(f"denoise_{kind}_mse_dae", ((C.predict(dae, xn) - xte) ** 2).mean())
            if s == 0:
                keep[kind] = dae
        if s == 0:
            keep["data"] = (xte, yte)
    m = {name: FC.summary(v) for name, v in per.items()}
    # paired over seeds (each seed: one split and one initialisation for both arms)
    claims = [claim(f"conv AE reconstructs better than PCA, code {k} (PCA MSE minus AE MSE)",
                    np.subtract(per[f"pca_mse_k{k}"], per[f"ae_mse_k{k}"]), key=f"ae_beats_pca_k{k}") for k in CODES]
    claims += [claim(f"denoising AE beats the plain AE on {kind} noise (MSE difference)",
                     np.subtract(per[f"denoise_{kind}_mse_plain_ae"], per[f"denoise_{kind}_mse_dae"]),
                     key=f"dae_beats_plain_{kind}") for kind in NOISE]
    verdicts = {c["key"]: c["verdict"] for c in claims}
    rows = [(f"code {k}: PCA / conv AE", FC.fmt(m[f"pca_mse_k{k}"]), FC.fmt(m[f"ae_mse_k{k}"]),
             f"AE better: {verdicts[f'ae_beats_pca_k{k}']}") for k in CODES]
    rows += [(f"{kind} noise {NOISE[kind]}: plain AE / DAE", FC.fmt(m[f"denoise_{kind}_mse_plain_ae"]),
              FC.fmt(m[f"denoise_{kind}_mse_dae"]),
              f"input {m[f'denoise_{kind}_mse_input']['mean']:.4f}; DAE better: {verdicts[f'dae_beats_plain_{kind}']}")
             for kind in NOISE]
    out = {"reconstruction": m, "reconstruction_verdicts": verdicts, "reconstruction_settings": cfg,
           "ae_mse_k2": m["ae_mse_k2"]["mean"], "pca_mse_k2": m["pca_mse_k2"]["mean"],
           "ae_beats_pca_k2": verdicts["ae_beats_pca_k2"], "claims": claims}
    if not getattr(args, "no_figures", False):
        _figures(args, keep)
    return out, rows


def _figures(args, keep):
    pyplot = plt()
    xte, yte = keep["data"]
    idx = np.array([int(np.flatnonzero(yte == c)[0]) for c in range(10)])
    rows = [("input", xte[idx])]
    for k in CODES:
        pca, ae = keep[k]
        rows += [(f"PCA {k}", ms.backend.to_numpy(pca.inverse_transform(pca.transform(xte[idx])))),
                 (f"conv AE {k}", C.predict(ae, xte[idx]))]
    savefig(C.rows_figure(pyplot, "held-out garments through a bottleneck of 2, 8, 32 numbers", rows), args,
            "ae_reconstructions.png")
    pca, ae = keep[2]
    z_ae = C.predict(ae, xte, fn=lambda m, b: m.encode(b))
    z_pca = ms.backend.to_numpy(pca.transform(xte))
    fig, axes = pyplot.subplots(1, 2, figsize=(12, 4.6))
    for ax, z, title in [(axes[0], z_pca, "PCA code"), (axes[1], z_ae, "conv AE code")]:
        sc = ax.scatter(z[:, 0], z[:, 1], c=yte, cmap="tab10", s=5, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{title} (2 numbers) of held-out images")
    cb = fig.colorbar(sc, ax=axes, ticks=range(10))
    cb.ax.set_yticklabels(FC.CLASSES, fontsize=8)
    savefig(fig, args, "ae_code_map.png")
    rows = []
    for kind in NOISE:
        xn = _corrupt(xte[idx], kind, args.seed + 1000)
        rows += [(f"{kind} input", np.clip(xn, 0, 1)), ("plain AE", C.predict(keep[CODES[-1]][1], xn)),
                 ("denoising AE", C.predict(keep[kind], xn)), ("clean", xte[idx])]
    savefig(C.rows_figure(pyplot, "denoising: corrupted input, plain AE, denoising AE, the clean image", rows), args,
            "ae_denoising.png")


def main():
    a = parse_args("ae_reconstruction", __doc__.splitlines()[0], seeds=SEEDS_FLAG)
    one_blas_thread()
    metrics, table = run(a)
    print_table(table, ["experiment", "baseline", "model", "verdict"], "Reconstruction MSE per pixel (held-out)")
    print_claims(metrics["claims"], title="Claims (paired over seeds)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
