"""Discrete codes and disentanglement on digits: binary and one-hot bottlenecks, style swaps.

Claims (held-out 30% of the digits):
* a 16-bit binary code (straight-through) reconstructs digits; an image costs 16 bits;
* a one-hot code with K = 10 groups the digits without labels: cluster purity
  (share of images whose cluster's majority label is their own) is reported
  next to k-means (scikit-learn, K = 10) on the same pixels;
* a disentangled auto-encoder (content = one-hot digit class, style = 8 numbers,
  adversary on the style) redraws digit A in the handwriting of image B. A
  logistic regression trained on real training images (scikit-learn) reads the
  swapped images as the *content* digit; a fresh probe trained on style codes
  predicts the class little better than chance (10%), without the adversary
  it reads it easily — the style code carries the "how", not the "what".
Figures: ae_discrete.png, ae_style_swap.png.
Run alone: ``python demos/ae_discrete.py [--quick]``.
"""
from __future__ import annotations

import ae_common as C
import numpy as np
from common import parse_args, plt, print_table, save_metrics, savefig

import minissl as ms
from minissl.metrics import cluster_purity
from minissl.models.autoencoder import fit
from minissl.models.discrete import DiscreteAutoEncoder
from minissl.models.disentangle import DisentangledAutoEncoder


def _probe(ztr, ytr, zte, yte):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    sc = StandardScaler().fit(ztr)
    clf = LogisticRegression(max_iter=2000).fit(sc.transform(ztr), ytr)
    return float(clf.score(sc.transform(zte), yte))


def run(args):
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    xtr_np, xte_np, ytr, yte = C.digits(args.seed)
    xtr, xte = ms.tensor(xtr_np), ms.tensor(xte_np)
    m, rows = {}, []
    epochs = 60 if args.quick else 200

    ms.manual_seed(args.seed)
    binary = DiscreteAutoEncoder(64, 16, "binary", hidden=(256,))
    fit(binary, xtr, epochs=epochs, lr=2e-3, progress="binary code AE")
    with ms.no_grad():
        m["binary16_mse"] = float(((binary(xte).numpy() - xte_np) ** 2).mean())
    rows.append(("binary code, 16 bits: test MSE/pixel", f"{m['binary16_mse']:.4f}", "straight-through"))

    ms.manual_seed(args.seed)
    onehot = DiscreteAutoEncoder(64, 10, "onehot", hidden=(256,), tau=0.5, balance=0.05)
    fit(onehot, xtr, epochs=epochs, lr=2e-3, progress="one-hot code AE")
    with ms.no_grad():
        assign = ms.backend.to_numpy(onehot.assign(xte))
        m["onehot10_mse"] = float(((onehot(xte).numpy() - xte_np) ** 2).mean())
    m["onehot_purity"] = cluster_purity(assign, yte)
    km = KMeans(10, n_init=10, random_state=args.seed).fit(xtr_np)
    m["kmeans_purity"] = cluster_purity(km.predict(xte_np), yte)
    m["onehot_clusters_used"] = int(len(np.unique(assign)))
    rows += [("one-hot code, K=10: cluster purity", f"{m['onehot_purity']:.3f}", f"no labels; {m['onehot_clusters_used']} clusters used"),
             ("k-means, K=10: cluster purity", f"{m['kmeans_purity']:.3f}", "scikit-learn")]

    # disentanglement: with and without the adversary on the style code
    dis_epochs = 80 if args.quick else 250
    models = {}
    for name, w in [("adversarial", 1.0), ("no adversary", 0.0)]:
        ms.manual_seed(args.seed)
        models[name] = DisentangledAutoEncoder(64, 10, style_dim=8, hidden=(256,), adv_weight=w)
        fit(models[name], (xtr, ms.tensor(ytr)), loss_fn=lambda mod, b: mod.losses(*b)["total"],
            epochs=dis_epochs, lr=2e-3, progress=f"disentangled AE ({name})")
    reader = LogisticRegression(max_iter=3000).fit(xtr_np, ytr)  # an independent judge of which digit an image shows
    dis = models["adversarial"]
    with ms.no_grad():
        for name, mod in models.items():
            key = "adv" if name == "adversarial" else "noadv"
            m[f"style_probe_acc_{key}"] = _probe(mod.style(xtr).numpy(), ytr, mod.style(xte).numpy(), yte)
        m["content_acc"] = float((dis.content(xte)[0].numpy().argmax(1) == yte).mean())
        perm = np.random.default_rng(args.seed).permutation(len(xte_np))
        swapped = dis.swap(xte, xte[perm]).numpy()
        m["swap_read_as_content"] = float((reader.predict(swapped) == yte).mean())
        m["swap_read_as_style_source"] = float((reader.predict(swapped) == yte[perm]).mean())
        m["disentangled_rec_mse"] = float(((dis(xte).numpy() - xte_np) ** 2).mean())
    rows += [("content code: digit accuracy", f"{m['content_acc']:.3f}", "supervised head"),
             ("style code -> digit probe, adversary", f"{m['style_probe_acc_adv']:.3f}", "chance = 0.10"),
             ("style code -> digit probe, no adversary", f"{m['style_probe_acc_noadv']:.3f}", "leaks the class"),
             ("style swaps read as the content digit", f"{m['swap_read_as_content']:.3f}", "logistic reg. on pixels"),
             ("style swaps read as the style source", f"{m['swap_read_as_style_source']:.3f}", "")]

    if not getattr(args, "no_figures", False):
        _figures(args, xte, xte_np, yte, binary, onehot, dis)
    return m, rows


def _figures(args, xte, xte_np, yte, binary, onehot, dis):
    pyplot = plt()
    with ms.no_grad():
        protos = onehot.decode(ms.tensor(np.eye(10, dtype=np.float32))).numpy()
        idx = np.arange(10)
        fig = C.image_rows("discrete codes (held-out digits)",
                           [("input", xte_np[idx]), ("16-bit code", binary(xte[idx]).numpy()),
                            ("one-hot (K=10)", onehot(xte[idx]).numpy()), ("the 10 prototypes", protos)], pyplot)
    savefig(fig, args, "ae_discrete.png")

    # a grid: rows take the style of one image, columns the content digit 0..9
    firsts = [int(np.flatnonzero(yte == d)[0]) for d in range(10)]
    styles = [int(i) for i in np.random.default_rng(args.seed).choice(len(yte), 6, replace=False)]
    content = ms.tensor(np.eye(10, dtype=np.float32))
    rows = [("content digit", np.r_[np.zeros((1, 64), np.float32), xte_np[firsts]])]
    with ms.no_grad():
        for s in styles:
            style = dis.style(xte[[s] * 10])
            rows.append((f"style of a {yte[s]}", np.r_[xte_np[s][None], dis.decode(content, style).numpy()]))
    fig = C.image_rows("style swaps: first column = style source, then digits 0..9 drawn in its style", rows, pyplot)
    savefig(fig, args, "ae_style_swap.png")


def main():
    a = parse_args("ae_discrete", __doc__.splitlines()[0])
    metrics, table = run(a)
    print_table(table, ["experiment", "value", "note"], "Discrete codes and disentanglement (held-out digits)")
    print("metrics:", save_metrics(a, metrics))


if __name__ == "__main__":
    main()
