"""Discrete codes and disentanglement on Fashion-MNIST: binary and one-hot bottlenecks, style swaps.

Claims (held-out test images; mean and 95% interval over seeds, --quick: 1 seed):
* a 16-bit binary code (straight-through, conv encoder/decoder) reconstructs garments
  at 16 bits per image (MSE per pixel reported);
* a one-hot code with K = 10 (Gumbel-softmax, conv) groups the garments without
  labels: cluster purity (share of images whose cluster's majority class is their own)
  against k-means (scikit-learn, K = 10, on the same pixels), ``verdicts.onehot_beats_kmeans``;
* a *supervised* disentangled auto-encoder: the content code is trained on the class
  labels (so it is a classifier, not a code found without labels), the style is 8
  numbers with an adversary that tries to read the class from them. It redraws
  garment A in the "style" of image B; a fresh probe reads the class from the style
  code at near chance (10%) with the adversary, and far better without it. Finding
  such factors without labels is a harder problem this demo does not attempt.
Figures: ae_discrete.png (inputs, binary and one-hot reconstructions, the 10 prototypes),
ae_style_swap.png.
Run alone: ``python demos/ae_discrete.py [--quick]``.
"""
from __future__ import annotations

import ae_common as C
import fashion_common as FC
import numpy as np
from common import claim, one_blas_thread, parse_args, plt, print_claims, print_table, save_metrics, savefig
from ae_common import SEEDS_FLAG

import minissl as ms
from minissl.metrics import cluster_purity
from minissl.models.autoencoder import fit
from minissl.models.discrete import DiscreteAutoEncoder
from minissl.models.disentangle import DisentangledAutoEncoder

# Weight of the one-hot code's mutual-information term, chosen among 1.0, 0.3, 0.1 and 0.03 by
# cluster purity on a separate validation draw (split seed 100, quick sizes), never on these tests.
ONEHOT_BALANCE = 0.1


def settings(args):
    q = args.quick
    return dict(seeds=getattr(args, "seeds", None) or (1 if q else 3), n_train=2000 if q else 4000, n_test=1000 if q else 2000,
                epochs=4 if q else 5, dis_epochs=6 if q else 10)


def _probe(ztr, ytr, zte, yte):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    sc = StandardScaler().fit(ztr)
    return float(LogisticRegression(max_iter=2000).fit(sc.transform(ztr), ytr).score(sc.transform(zte), yte))


def run(args):
    from sklearn.cluster import KMeans
    cfg = settings(args)
    per, keep = {}, {}

    def add(k, v):
        per.setdefault(k, []).append(float(v))
    for s in range(cfg["seeds"]):
        seed = args.seed + s
        xtr, ytr, xte, yte = C.split("ae_discrete", seed, cfg["n_train"], cfg["n_test"])
        binary = DiscreteAutoEncoder(C.PIXELS, 16, "binary", arch="conv")
        C.train(binary, xtr, cfg["epochs"], seed, progress="binary code AE")
        add("binary16_mse", ((C.predict(binary, xte) - xte) ** 2).mean())
        onehot = DiscreteAutoEncoder(C.PIXELS, 10, "onehot", arch="conv", tau=0.5, balance=ONEHOT_BALANCE)
        C.train(onehot, xtr, cfg["epochs"], seed, progress="one-hot code AE")
        assign = C.predict(onehot, xte, fn=lambda m, b: ms.tensor(m.assign(b)))
        add("onehot_purity", cluster_purity(assign, yte))
        add("onehot_clusters_used", len(np.unique(assign)))
        add("kmeans_purity", cluster_purity(KMeans(10, n_init=4, random_state=seed).fit(xtr).predict(xte), yte))
        if s == 0:
            keep.update(binary=binary, onehot=onehot, data=(xte, yte))
            dis = {}
            for name, w in (("adv", 1.0), ("noadv", 0.0)):  # one seed: the contrast is large
                ms.manual_seed(seed)
                dis[name] = DisentangledAutoEncoder(C.PIXELS, 10, style_dim=8, hidden=(256,), adv_weight=w)
                fit(dis[name], (ms.tensor(xtr), ms.tensor(ytr)), loss_fn=lambda m, b: m.losses(*b)["total"],
                    epochs=cfg["dis_epochs"], batch_size=128, lr=2e-3, progress=f"disentangled AE ({name})")
                style_tr = C.predict(dis[name], xtr, fn=lambda m, b: m.style(b))
                style_te = C.predict(dis[name], xte, fn=lambda m, b: m.style(b))
                add(f"style_probe_acc_{name}", _probe(style_tr, ytr, style_te, yte))
            add("content_acc", (C.predict(dis["adv"], xte, fn=lambda m, b: m.content(b)[0]).argmax(1) == yte).mean())
            keep["dis"] = dis["adv"]
    m = {k: FC.summary(v) for k, v in per.items()}
    o, k = m["onehot_purity"], m["kmeans_purity"]
    claims = [claim("one-hot code clusters garments better than k-means (purity difference)",
                    np.subtract(per["onehot_purity"], per["kmeans_purity"]), key="onehot_beats_kmeans")]
    verdicts = {"onehot_beats_kmeans": claims[0]["verdict"],
                "style_code_hides_class": bool(m["style_probe_acc_adv"]["mean"] < 0.2)}  # a target: probe < 0.2
    rows = [("binary code, 16 bits: test MSE/pixel", FC.fmt(m["binary16_mse"]), "straight-through"),
            ("one-hot code, K=10: cluster purity", FC.fmt(o), f"{m['onehot_clusters_used']['mean']:.1f} clusters used"),
            ("k-means, K=10: cluster purity", FC.fmt(k),
             f"scikit-learn; one-hot better: {verdicts['onehot_beats_kmeans']}"),
            ("supervised disentangling: content code class accuracy", FC.fmt(m["content_acc"]),
             "trained on the labels"),
            ("style code -> class probe, adversary", FC.fmt(m["style_probe_acc_adv"]), "chance = 0.10"),
            ("style code -> class probe, no adversary", FC.fmt(m["style_probe_acc_noadv"]), "")]
    out = {"discrete": m, "discrete_verdicts": verdicts, "discrete_settings": cfg,
           "onehot_purity": o["mean"], "kmeans_purity": k["mean"], "claims": claims}
    if not getattr(args, "no_figures", False):
        _figures(args, keep)
    return out, rows


def _figures(args, keep):
    pyplot = plt()
    xte, yte = keep["data"]
    idx = np.array([int(np.flatnonzero(yte == c)[0]) for c in range(10)])
    with ms.no_grad():
        protos = ms.backend.to_numpy(keep["onehot"].decode(ms.tensor(np.eye(10, dtype=np.float32))).array)
    rows = [("input", xte[idx]), ("16-bit code", C.predict(keep["binary"], xte[idx])),
            ("one-hot (K=10)", C.predict(keep["onehot"], xte[idx])), ("the 10 prototypes", protos)]
    savefig(C.rows_figure(pyplot, "discrete codes (held-out garments)", rows), args, "ae_discrete.png")
    dis = keep["dis"]
    styles = np.random.default_rng(args.seed).choice(len(yte), 5, replace=False)
    content = ms.tensor(np.eye(10, dtype=np.float32))
    rows = [("content class", xte[idx])]
    with ms.no_grad():
        for s in styles:
            style = dis.style(ms.tensor(xte[[s] * 10]))
            rows.append((f"style of a {FC.CLASSES[yte[s]]}", ms.backend.to_numpy(dis.decode(content, style).array)))
    savefig(C.rows_figure(pyplot, "style swaps: each row draws the 10 classes in one image's style", rows), args,
            "ae_style_swap.png")


def main():
    a = parse_args("ae_discrete", __doc__.splitlines()[0], seeds=SEEDS_FLAG)
    one_blas_thread()
    metrics, table = run(a)
    print_table(table, ["experiment", "value", "note"], "Discrete codes and disentanglement (held-out Fashion-MNIST)")
    print_claims(metrics["claims"], title="Claims (paired over seeds)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
