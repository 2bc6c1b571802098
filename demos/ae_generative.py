"""VQ-VAE compression, the rate–distortion trade-off, and VAE samples on digits.

Claims (held-out 30% of the digits; NMSE = mean squared error / variance of the
test pixels, so 1.0 is "predict the mean pixel value"):
* VQ-VAE with 4 codes from a codebook of K = 64 (4 × 6 = 24 bits per image):
  NMSE below k-means on 4×4 patches with the same 24 bits (64 centroids shared
  by the 4 patches of an image; scikit-learn KMeans), codebook perplexity ≥ K/2
  and under 10% dead codes (codes no training image uses);
* rate–distortion: VQ-VAEs at several rates against PCA whose coefficients are
  quantised uniformly (k components × b bits, the best (k, b) with k·b ≤ rate);
* a VAE decodes draws from its prior N(0, I) into new digits.
Figures: ae_vqvae.png, ae_rate_distortion.png, ae_vae_samples.png.
Run alone: ``python demos/ae_generative.py [--quick]``.
"""
from __future__ import annotations

import ae_common as C
import numpy as np
from common import parse_args, plt, print_table, save_metrics, savefig

import minissl as ms
from minissl.models.autoencoder import PCA, fit
from minissl.models.vae import VAE
from minissl.models.vqvae import VQVAE, code_perplexity, dead_share


def patches(a):
    """(N, 64) 8×8 images -> (4N, 16): the four 4×4 quarters of each image."""
    return a.reshape(-1, 2, 4, 2, 4).transpose(0, 1, 3, 2, 4).reshape(-1, 16)


def unpatch(p):
    return p.reshape(-1, 2, 2, 4, 4).transpose(0, 1, 3, 2, 4).reshape(-1, 64)


def quantised_pca(xtr, xte, k, bits):
    """PCA code of k numbers, each rounded to one of 2**bits levels spread over
    the training range of that coefficient: k·bits bits per image."""
    pca = PCA(k).fit(xtr)
    ztr, zte = ms.backend.to_numpy(pca.transform(xtr)), ms.backend.to_numpy(pca.transform(xte))
    lo, hi = ztr.min(0), ztr.max(0)
    levels = 2 ** bits
    step = (hi - lo) / levels
    q = np.clip(np.floor((zte - lo) / step), 0, levels - 1)
    return ms.backend.to_numpy(pca.inverse_transform((lo + (q + 0.5) * step).astype(np.float32)))


def train_vqvae(xtr, latents, codes, epochs, seed, ema=True):
    ms.manual_seed(seed)
    model = VQVAE(64, num_latents=latents, num_codes=codes, code_dim=16, hidden=(256,), ema=ema)
    fit(model, xtr, epochs=epochs, lr=1e-3, progress=f"VQ-VAE {latents}x{codes}")
    return model


def run(args):
    from sklearn.cluster import KMeans
    xtr_np, xte_np, ytr, yte = C.digits(args.seed)
    xtr, xte = ms.tensor(xtr_np), ms.tensor(xte_np)
    var = float(xte_np.var())
    m, rows = {}, []
    epochs = 60 if args.quick else 150

    km = KMeans(64, n_init=4, random_state=args.seed).fit(patches(xtr_np))
    km_rec = unpatch(km.cluster_centers_[km.predict(patches(xte_np))])
    m["kmeans_patch_nmse"] = float(((km_rec - xte_np) ** 2).mean() / var)

    vq = train_vqvae(xtr, 4, 64, epochs, args.seed)
    with ms.no_grad():
        rec, _, idx_te = vq(xte)
        _, _, idx_tr = vq(xtr)
    m["vqvae_bits_per_image"] = vq.bits_per_input
    m["vqvae_nmse"] = float(((rec.numpy() - xte_np) ** 2).mean() / var)
    m["vqvae_perplexity"] = code_perplexity(idx_tr, 64)
    m["vqvae_dead_share"] = dead_share(idx_tr, 64)
    m["vqvae_perplexity_test"] = code_perplexity(idx_te, 64)
    m["vqvae_restarts"] = vq.quantizer.restarts
    rows += [("VQ-VAE 4 codes x K=64 (24 bits): NMSE", f"{m['vqvae_nmse']:.4f}", "target < k-means patches"),
             ("k-means on 4x4 patches, 24 bits: NMSE", f"{m['kmeans_patch_nmse']:.4f}", "scikit-learn"),
             ("VQ-VAE codebook perplexity (train)", f"{m['vqvae_perplexity']:.1f}", "target >= 32 of 64"),
             ("VQ-VAE dead codes (train)", f"{m['vqvae_dead_share']:.3f}", f"target < 0.10; {m['vqvae_restarts']} restarts")]

    # rate–distortion: VQ-VAE at several rates vs quantised PCA
    configs = [(1, 64), (2, 64), (4, 64), (8, 64)] if args.quick else [(1, 16), (1, 64), (2, 64), (4, 64), (6, 64), (8, 64), (12, 64)]
    rd_vq = []
    for lat, k in configs:
        model = vq if (lat, k) == (4, 64) else train_vqvae(xtr, lat, k, epochs, args.seed)
        with ms.no_grad():
            mse = float(((model(xte)[0].numpy() - xte_np) ** 2).mean())
        rd_vq.append((model.bits_per_input, mse))
    rd_pca = {}
    for k in range(1, 17):
        for b in range(1, 9):
            rate = k * b
            mse = float(((quantised_pca(xtr, xte, k, b) - xte_np) ** 2).mean())
            if rate <= 80 and mse < rd_pca.get(rate, (np.inf,))[0]:
                rd_pca[rate] = (mse, k, b)
    best = (np.inf, 0, 0)
    for rate in sorted(rd_pca):  # lower envelope: at a given budget, any (k, b) with k·b <= rate will do
        best = rd_pca[rate] = min(best, rd_pca[rate])
    m["rate_distortion_vqvae"] = [[r, d] for r, d in rd_vq]
    m["rate_distortion_quantised_pca"] = [[r, v[0], v[1], v[2]] for r, v in sorted(rd_pca.items())]
    m["quantised_pca_nmse_24bits"] = rd_pca[24][0] / var
    rows.append(("quantised PCA, 24 bits: NMSE", f"{m['quantised_pca_nmse_24bits']:.4f}",
                 "best k x b = %d x %d" % rd_pca[24][1:]))

    ms.manual_seed(args.seed)
    vae = VAE(64, latent_dim=8, hidden=(256,))
    fit(vae, xtr, epochs=epochs * 2, lr=1e-3, progress="VAE")
    with ms.no_grad():
        ms.manual_seed(args.seed)
        rec_t, kl_t = vae.loss_terms(xte)
        samples = vae.sample(40).numpy()
    m["vae_test_neg_elbo_nats"] = float(rec_t.item() + kl_t.item())
    m["vae_test_kl_nats"] = float(kl_t.item())
    rows.append(("VAE, 8-D latent: test -ELBO (nats/image)", f"{m['vae_test_neg_elbo_nats']:.2f}", f"KL {m['vae_test_kl_nats']:.2f}"))

    if not getattr(args, "no_figures", False):
        pyplot = plt()
        idx = np.arange(12)
        fig = C.image_rows("24 bits per image (held-out digits)",
                           [("input", xte_np[idx]), ("VQ-VAE", rec.numpy()[idx]), ("k-means patches", km_rec[idx])], pyplot)
        savefig(fig, args, "ae_vqvae.png")
        fig, axes = pyplot.subplots(1, 2, figsize=(12, 3.8))
        counts = np.bincount(ms.backend.to_numpy(idx_tr).reshape(-1), minlength=64)
        axes[0].bar(range(64), np.sort(counts)[::-1])
        axes[0].set(title=f"codebook usage (train): perplexity {m['vqvae_perplexity']:.1f} of 64",
                    xlabel="code (sorted by use)", ylabel="times used")
        r, d = zip(*rd_vq)
        axes[1].plot(r, d, "o-", label="VQ-VAE (L codes x K)")
        pr = sorted(rd_pca)
        axes[1].plot(pr, [rd_pca[q][0] for q in pr], "s--", ms=3, label="PCA, quantised coefficients")
        axes[1].plot([24], [m["kmeans_patch_nmse"] * var], "k^", label="k-means 4x4 patches")
        axes[1].set(xlabel="rate (bits per image)", ylabel="distortion (test MSE per pixel)", yscale="log",
                    title="rate-distortion on held-out digits")
        axes[1].legend()
        savefig(fig, args, "ae_rate_distortion.png")
        fig = C.image_rows("VAE: decoded draws from the prior N(0, I)",
                           [("", samples[i:i + 10]) for i in range(0, 40, 10)], pyplot)
        savefig(fig, args, "ae_vae_samples.png")
    return m, rows


def main():
    a = parse_args("ae_generative", __doc__.splitlines()[0])
    metrics, table = run(a)
    print_table(table, ["experiment", "value", "note"], "VQ-VAE, compression and VAE (held-out digits)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
