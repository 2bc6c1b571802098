"""VQ-VAE codebooks, rate-distortion against quantised PCA and JPEG, and VAE samples on Fashion-MNIST.

Claims (held-out test images; NMSE = MSE / variance of the test pixels, 1.0 = "predict the mean"):
* codebook health of a convolutional VQ-VAE (8 latents × K = 64 codes = 48 bits per
  image, EMA codebook) *with* dead-code restarts and *without* them: perplexity of code
  use (K when all codes are used equally) and the share of dead codes (never used on
  the training set). Both are reported; the claim "restarts are not needed for a healthy
  codebook" is ``verdicts.healthy_without_restarts`` (perplexity ≥ K/4 and under 10% dead);
* rate-distortion: VQ-VAEs at 12-96 bits per image against PCA with uniformly quantised
  coefficients (k numbers × b bits, the best (k, b) with k·b ≤ rate) and against JPEG
  (Pillow, quality 5-95, its standard Huffman tables) counting only the entropy-coded
  scan bits of each image: the header (quantisation and Huffman tables, about 600 bytes)
  is the same for every image of a collection and is left out, else JPEG would spend
  more than 4,000 bits on any 28×28 image. Even so JPEG cannot go below a few hundred
  bits (each 8×8 block costs at least its DC code and an end-of-block), above the
  VQ-VAEs' range, so it is compared with quantised PCA at its own rates (PCA's curve stops
  at 1,024 bits: above that PCA is shown at 1,024, which can only flatter JPEG);
* a convolutional VAE (16-D latent) decodes draws from its prior N(0, I) into new
  garments, and the decodings of a straight line between two codes morph one into the other.
Figures: ae_vqvae.png (reconstructions, code use), ae_codebook.png (what one latent slot's
64 codes draw), ae_rate_distortion.png, ae_vae_samples.png, ae_vae_interpolation.png.
Run alone: ``python demos/ae_generative.py [--quick]`` (--quick: 1 seed, no interval).
"""
from __future__ import annotations

import io

import ae_common as C
import fashion_common as FC
import numpy as np
from common import claim, one_blas_thread, parse_args, plt, print_claims, print_table, save_metrics, savefig
from ae_common import SEEDS_FLAG

import minissl as ms
from minissl.models.autoencoder import PCA
from minissl.models.vae import VAE
from minissl.models.vqvae import VQVAE, code_perplexity, dead_share

K = 64


def settings(args):
    q = args.quick
    return dict(seeds=getattr(args, "seeds", None) or (1 if q else 3), n_train=2000 if q else 4000, n_test=500 if q else 2000,
                epochs=4 if q else 5, rd_latents=(2, 8) if q else (2, 4, 8, 16), vae_epochs=6 if q else 8)


def quantised_pca(pca, ztr, zte, k, bits):
    """The first k PCA coefficients, each rounded to one of 2**bits levels over its training range
    (k·bits bits per image), decoded back to pixels."""
    lo, hi = ztr[:, :k].min(0), ztr[:, :k].max(0)
    step = (hi - lo) / 2 ** bits
    q = np.clip(np.floor((zte[:, :k] - lo) / step), 0, 2 ** bits - 1)
    return (lo + (q + 0.5) * step) @ pca[1][:k] + pca[0]


def pca_curve(xtr, xte, max_rate, max_k=128):
    """{rate: mse}: lower envelope of quantised PCA over k·b ≤ rate (one SVD; the first k
    components of a k'-component PCA are the k-component PCA)."""
    p = PCA(max_k).fit(xtr)
    mean, comps = ms.backend.to_numpy(p.mean_), ms.backend.to_numpy(p.components_)
    ztr, zte = (xtr - mean) @ comps.T, (xte - mean) @ comps.T
    best = {}
    for k in range(1, max_k + 1):
        for b in range(1, 9):
            if k * b <= max_rate:
                mse = float(((quantised_pca((mean, comps), ztr, zte, k, b) - xte) ** 2).mean())
                best[k * b] = min(best.get(k * b, np.inf), mse)
    out, run = {}, np.inf
    for r in sorted(best):
        run = min(run, best[r])
        out[r] = run
    return out


def jpeg_curve(xte, qualities=(5, 10, 20, 30, 50, 70, 95)):
    """[(mean scan bits per image, mse)] for Pillow's JPEG at each quality; None without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return None
    out = []
    for q in qualities:
        bits, err = [], []
        for img in xte:
            buf = io.BytesIO()
            Image.fromarray(np.round(img.reshape(28, 28) * 255).astype(np.uint8)).save(buf, "JPEG", quality=q)
            data = buf.getvalue()
            sos = data.index(b"\xff\xda")
            scan = len(data) - (sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")) - 2  # minus EOI
            bits.append(8 * scan)
            dec = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32).reshape(-1) / 255
            err.append(((dec - img) ** 2).mean())
        out.append((float(np.mean(bits)), float(np.mean(err))))
    return out


def vqvae(latents, restarts, seed):
    ms.manual_seed(seed)
    return VQVAE(C.PIXELS, num_latents=latents, num_codes=K, code_dim=16, ema=True, arch="conv",
                 restart_after=100 if restarts else None)


def run(args):
    cfg = settings(args)
    per, keep, rd = {}, {}, {"vqvae": {}, "pca": [], "jpeg": None}

    def add(k, v):
        per.setdefault(k, []).append(float(v))
    for s in range(cfg["seeds"]):
        seed = args.seed + s
        xtr, ytr, xte, yte = C.split("ae_generative", seed, cfg["n_train"], cfg["n_test"])
        var = float(xte.var())
        for tag, restarts in (("restarts", True), ("no_restarts", False)):
            vq = vqvae(8, restarts, seed)
            C.train(vq, xtr, cfg["epochs"], seed, progress=f"VQ-VAE 8x{K} ({tag})")
            idx_tr = C.predict(vq, xtr, fn=lambda m, b: m(b)[2])
            add(f"vqvae_{tag}_nmse", ((C.predict(vq, xte) - xte) ** 2).mean() / var)
            add(f"vqvae_{tag}_perplexity", code_perplexity(idx_tr, K))
            add(f"vqvae_{tag}_dead_share", dead_share(idx_tr, K))
            add(f"vqvae_{tag}_restarts", vq.quantizer.restarts)
            if s == 0:
                keep[tag] = (vq, idx_tr)
        if s == 0:  # rate-distortion: one seed (the curves, not their spread, are the point)
            keep["data"] = (xte, yte)
            for lat in cfg["rd_latents"]:
                vq = keep["restarts"][0] if lat == 8 else vqvae(lat, True, seed)
                if lat != 8:
                    C.train(vq, xtr, cfg["epochs"], seed, progress=f"VQ-VAE {lat}x{K}")
                rd["vqvae"][vq.bits_per_input] = float(((C.predict(vq, xte) - xte) ** 2).mean())
            rd["jpeg"] = jpeg_curve(xte[:300 if args.quick else 1000])
            top = max([max(rd["vqvae"]) * 1.5] + [b for b, _ in rd["jpeg"] or []])
            rd["pca"] = sorted(pca_curve(xtr, xte, min(top, 1024)).items())
            vae = VAE(C.PIXELS, latent_dim=16, arch="conv")
            C.train(vae, xtr, cfg["vae_epochs"], seed, lr=1e-3, progress="VAE")
            ms.manual_seed(seed)
            with ms.no_grad():
                rec, kl = vae.loss_terms(ms.tensor(xte))
            keep["vae"] = vae
            rd["vae_test_neg_elbo_nats"], rd["vae_test_kl_nats"] = float(rec.item() + kl.item()), float(kl.item())
    m = {k: FC.summary(v) for k, v in per.items()}
    healthy = lambda t: m[f"vqvae_{t}_perplexity"]["mean"] >= K / 4 and m[f"vqvae_{t}_dead_share"]["mean"] < 0.1  # noqa: E731
    rate48 = {r: d for r, d in rd["pca"]}.get(48)
    verdicts = {"healthy_with_restarts": healthy("restarts"), "healthy_without_restarts": healthy("no_restarts"),
                "vqvae_beats_quantised_pca_48bits": rate48 is not None and rd["vqvae"][48] < rate48}
    if rd["jpeg"]:  # JPEG cannot go as low as the VQ-VAEs: compare it with quantised PCA at its own rates
        pca_at = lambda bits: min(d for r, d in rd["pca"] if r <= bits)  # noqa: E731
        rd["jpeg_vs_quantised_pca"] = [(b, e, pca_at(b)) for b, e in rd["jpeg"]]
        verdicts["jpeg_beats_quantised_pca_at_its_rates"] = all(e < p for _, e, p in rd["jpeg_vs_quantised_pca"])
        verdicts["jpeg_min_scan_bits_above_vqvae_max"] = min(b for b, _ in rd["jpeg"]) > max(rd["vqvae"])
    claims = [claim("dead-code restarts lower the share of dead codes (no restarts minus restarts)",
                    np.subtract(per["vqvae_no_restarts_dead_share"], per["vqvae_restarts_dead_share"]),
                    key="restarts_lower_dead_share")]
    verdicts["restarts_lower_dead_share"] = claims[0]["verdict"]
    out = {"generative": m, "generative_verdicts": verdicts, "rate_distortion": rd, "generative_settings": cfg,
           "claims": claims,
           "vqvae_perplexity": m["vqvae_restarts_perplexity"]["mean"],
           "vqvae_dead_share": m["vqvae_restarts_dead_share"]["mean"],
           "vqvae_perplexity_no_restarts": m["vqvae_no_restarts_perplexity"]["mean"],
           "vqvae_dead_share_no_restarts": m["vqvae_no_restarts_dead_share"]["mean"]}
    rows = []
    for t in ("restarts", "no_restarts"):
        rows += [(f"VQ-VAE 48 bits, {t.replace('_', ' ')}: NMSE", FC.fmt(m[f"vqvae_{t}_nmse"]), ""),
                 (f"  perplexity of code use (of {K})", FC.fmt(m[f"vqvae_{t}_perplexity"]), ""),
                 ("  dead codes (share)", FC.fmt(m[f"vqvae_{t}_dead_share"]),
                  f"{m[f'vqvae_{t}_restarts']['mean']:.0f} restarts")]
    rows.append(("quantised PCA at 48 bits: MSE / VQ-VAE MSE", f"{rate48:.4f}" if rate48 else "-",
                 f"{rd['vqvae'][48]:.4f}"))
    if rd["jpeg"]:
        rows += [(f"JPEG scan {b:.0f} bits: MSE", f"{e:.4f}", f"quantised PCA, same bits: {p:.4f}")
                 for b, e, p in rd["jpeg_vs_quantised_pca"][:4]]
    rows.append(("VAE test -ELBO (nats/image)", f"{rd['vae_test_neg_elbo_nats']:.1f}", f"KL {rd['vae_test_kl_nats']:.1f}"))
    if not getattr(args, "no_figures", False):
        _figures(args, keep, rd, m)
    return out, rows


def _figures(args, keep, rd, m):
    pyplot = plt()
    xte, yte = keep["data"]
    idx = np.array([int(np.flatnonzero(yte == c)[0]) for c in range(10)])
    rows = [("input", xte[idx])] + [(f"VQ-VAE, {t.replace('_', ' ')}", C.predict(keep[t][0], xte[idx]))
                                    for t in ("restarts", "no_restarts")]
    savefig(C.rows_figure(pyplot, "48 bits per image: 8 codes from a codebook of 64", rows), args, "ae_vqvae.png")

    vq, idx_tr = keep["restarts"]
    base = C.predict(vq, xte[idx[:1]], fn=lambda mm, b: mm(b)[2])  # (1, 8): the codes of one test image
    grid = np.repeat(base, K, axis=0)
    grid[:, 0] = np.arange(K)
    with ms.no_grad():
        imgs = ms.backend.to_numpy(vq.decode_indices(grid).array)
    fig, axes = pyplot.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 1.3]})
    FC.grid(axes[0], imgs, 8)
    axes[0].set_title("latent slot 1 set to each of the 64 codes\n(other 7 slots: one test image's codes)", fontsize=9)
    for t, style in (("restarts", "-"), ("no_restarts", "--")):
        counts = np.bincount(keep[t][1].reshape(-1), minlength=K)
        axes[1].plot(np.sort(counts)[::-1], style, label=f"{t.replace('_', ' ')}: perplexity "
                     f"{m[f'vqvae_{t}_perplexity']['mean']:.1f}, dead {m[f'vqvae_{t}_dead_share']['mean']:.2f}")
    axes[1].set(xlabel="code (sorted by use)", ylabel="uses on the training set", yscale="symlog",
                title="codebook usage")
    axes[1].legend(fontsize=8)
    savefig(fig, args, "ae_codebook.png")

    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    r = sorted(rd["vqvae"])
    ax.plot(r, [rd["vqvae"][q] for q in r], "o-", label="conv VQ-VAE (L codes of 6 bits)")
    ax.plot([a for a, _ in rd["pca"]], [b for _, b in rd["pca"]], "--", label="PCA, quantised coefficients")
    if rd["jpeg"]:
        ax.plot([a for a, _ in rd["jpeg"]], [b for _, b in rd["jpeg"]], "s:", label="JPEG (scan bits only)")
    ax.set(xscale="log", yscale="log", xlabel="bits per image", ylabel="test MSE per pixel",
           title="rate-distortion on held-out Fashion-MNIST")
    ax.legend()
    savefig(fig, args, "ae_rate_distortion.png")

    vae = keep["vae"]
    ms.manual_seed(args.seed)
    samples = ms.backend.to_numpy(vae.sample(40).array)
    fig, ax = pyplot.subplots(figsize=(10, 4.4))
    FC.grid(ax, samples, 10)
    ax.set_title("conv VAE: decoded draws from the prior N(0, I)")
    savefig(fig, args, "ae_vae_samples.png")
    mu = C.predict(vae, xte[idx], fn=lambda mm, b: mm.encode(b)[0])
    pairs = [(0, 9), (1, 3), (7, 5), (2, 8)]  # T-shirt→boot, trouser→dress, sneaker→sandal, pullover→bag
    t = np.linspace(0, 1, 10, dtype=np.float32)[:, None]
    with ms.no_grad():
        lines = [ms.backend.to_numpy(vae.decode(ms.tensor((1 - t) * mu[a] + t * mu[b])).array) for a, b in pairs]
    fig, ax = pyplot.subplots(figsize=(10, 4.4))
    FC.grid(ax, np.concatenate(lines), 10)
    ax.set_title("conv VAE: decoding the straight line between two garments' codes")
    savefig(fig, args, "ae_vae_interpolation.png")


def main():
    a = parse_args("ae_generative", __doc__.splitlines()[0], seeds=SEEDS_FLAG)
    one_blas_thread()
    metrics, table = run(a)
    print_table(table, ["experiment", "value", "note"], "VQ-VAE, compression and VAE (held-out Fashion-MNIST)")
    print_claims(metrics["claims"], title="Claims (paired over seeds; the targets are in generative_verdicts)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
