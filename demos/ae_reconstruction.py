"""Auto-encoder vs PCA on digits with a 2-number code, and denoising auto-encoders.

Claims (held-out 30% of the digits, pixels in [0, 1], MSE per pixel):
* PCA with 2 components (our SVD; scikit-learn's PCA on the same split agrees)
  ≈ 0.053; a linear auto-encoder reaches it within 2%; a non-linear one beats it;
* a denoising auto-encoder rebuilds clean digits from noisy or masked ones
  better than a plain auto-encoder of the same size.
Figures: ae_reconstructions.png, ae_code_map.png, ae_denoising.png.
Run alone: ``python demos/ae_reconstruction.py [--quick]``.
"""
from __future__ import annotations

import ae_common as C
import numpy as np
from common import parse_args, plt, print_table, save_metrics, savefig

import minissl as ms
from minissl.models.autoencoder import PCA, AutoEncoder, corrupt, fit


def _mse(model, x, xclean=None):
    with ms.no_grad():
        return float(((model(x).numpy() - (x if xclean is None else xclean).numpy()) ** 2).mean())


def run(args):
    xtr_np, xte_np, ytr, yte = C.digits(args.seed)
    xtr, xte = ms.tensor(xtr_np), ms.tensor(xte_np)
    epochs = 60 if args.quick else 300
    m, rows = {}, []

    pca = PCA(2).fit(xtr)
    m["pca_mse_2d"] = float(pca.reconstruction_error(xte).mean() / 64)
    from sklearn.decomposition import PCA as SkPCA
    sk = SkPCA(2).fit(xtr_np)
    m["sklearn_pca_mse_2d"] = float(((sk.inverse_transform(sk.transform(xte_np)) - xte_np) ** 2).mean())

    ms.manual_seed(args.seed)
    lin = AutoEncoder(64, 2, hidden=(), activation=None, output="linear")
    fit(lin, xtr, epochs=300, lr=3e-3, progress="linear AE")  # cheap; linear AEs converge slowly (ill-conditioned)
    m["linear_ae_mse_2d"] = _mse(lin, xte)

    ms.manual_seed(args.seed)
    ae = AutoEncoder(64, 2, hidden=(256, 64), activation="relu")
    hist = fit(ae, xtr, epochs=epochs, lr=2e-3, progress="non-linear AE (2-D code)")
    m["ae_mse_2d"] = _mse(ae, xte)
    m["linear_ae_vs_pca"] = m["linear_ae_mse_2d"] / m["pca_mse_2d"] - 1
    rows += [("PCA, 2 components (SVD)", f"{m['pca_mse_2d']:.4f}", "scikit-learn PCA: %.4f" % m["sklearn_pca_mse_2d"]),
             ("linear AE, 2-D code", f"{m['linear_ae_mse_2d']:.4f}",
              "%+.1f%% vs PCA (target within 2%%)" % (100 * m["linear_ae_vs_pca"])),
             ("MLP AE 64-256-64-2, 2-D code", f"{m['ae_mse_2d']:.4f}", "target < PCA")]

    # denoising: the same architecture (8-D code), trained plain vs on corrupted inputs
    dae_epochs = 40 if args.quick else 150
    noisy = {"gaussian": 0.3, "mask": 0.4}
    models = {}
    for name, kind in [("plain", None), ("gaussian", "gaussian"), ("mask", "mask")]:
        ms.manual_seed(args.seed)
        models[name] = AutoEncoder(64, 8, hidden=(256,))
        fit(models[name], xtr, loss_fn=lambda mod, b, k=kind: mod.loss(b, k, noisy.get(k, 0.0)),
            epochs=dae_epochs, lr=2e-3, progress=f"AE 8-D ({name})")
    for kind, level in noisy.items():
        ms.manual_seed(args.seed + 1)
        xn = corrupt(xte, kind, level)
        plain, den = _mse(models["plain"], xn, xte), _mse(models[kind], xn, xte)
        m[f"denoise_{kind}_mse_plain_ae"], m[f"denoise_{kind}_mse_dae"] = plain, den
        m[f"denoise_{kind}_mse_input"] = float(((xn.numpy() - xte_np) ** 2).mean())
        rows.append((f"{kind} noise {level}: input / plain AE / DAE", f"{den:.4f}",
                     "%.4f / %.4f / %.4f" % (m[f"denoise_{kind}_mse_input"], plain, den)))

    if not getattr(args, "no_figures", False):
        _figures(args, xte, xte_np, yte, pca, lin, ae, hist, models, noisy)
    return m, rows


def _figures(args, xte, xte_np, yte, pca, lin, ae, hist, models, noisy):
    pyplot = plt()
    idx = np.arange(10)
    with ms.no_grad():
        rec_pca = ms.backend.to_numpy(pca.inverse_transform(pca.transform(xte[idx])))
        fig = C.image_rows("digits through a 2-number bottleneck (held-out)",
                           [("input", xte_np[idx]), ("PCA", rec_pca), ("linear AE", lin(xte[idx]).numpy()),
                            ("MLP AE", ae(xte[idx]).numpy())], pyplot)
    savefig(fig, args, "ae_reconstructions.png")

    with ms.no_grad():
        z = ae.encode(xte).numpy()
        zp = ms.backend.to_numpy(pca.transform(xte))
    fig, axes = pyplot.subplots(1, 3, figsize=(14, 4.2))
    for ax, code, title in [(axes[0], zp, "PCA code"), (axes[1], z, "auto-encoder code")]:
        sc = ax.scatter(code[:, 0], code[:, 1], c=yte, cmap="tab10", s=8)
        ax.set_title(f"{title} of held-out digits (colour = label)")
    fig.colorbar(sc, ax=axes[1], ticks=range(10))
    axes[2].plot(hist)
    axes[2].set(yscale="log", xlabel="epoch", ylabel="train MSE", title="non-linear AE training")
    savefig(fig, args, "ae_code_map.png")

    rows = []
    with ms.no_grad():
        for kind, level in noisy.items():
            ms.manual_seed(args.seed + 1)
            xn = corrupt(xte[idx], kind, level)
            rows += [(f"{kind} input", np.clip(xn.numpy(), 0, 1)), ("plain AE", models["plain"](xn).numpy()),
                     ("denoising AE", models[kind](xn).numpy())]
    savefig(C.image_rows("denoising: corrupted input, plain AE, denoising AE", rows, pyplot), args, "ae_denoising.png")


def main():
    a = parse_args("ae_reconstruction", __doc__.splitlines()[0])
    metrics, table = run(a)
    print_table(table, ["model", "test MSE/pixel", "note"], "Reconstruction on held-out digits")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
