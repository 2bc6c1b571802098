"""Tree structure as a latent variable: does a neural PCFG trained only on sentences find their brackets?

A neural PCFG (``minissl/models/tree.py``) is trained to maximise log p(sentence),
summed over all binary trees by the inside algorithm; it never sees a tree. Its
trees are then read off by minimum-Bayes-risk decoding of the span marginals
(the gradient of log p(x) with respect to span potentials) and compared with the
gold trees the grammar built (``minissl/tasks/trees.py``).

Measure: unlabelled bracketing F1, per sentence, averaged over test sentences;
single words and the whole sentence are not counted (Kim et al. 2019). The
gold trees are n-ary (flat noun phrases) and every predicted tree is binary, so
even a perfect parser loses precision: the "binary upper bound" row is the best
binary tree that contains every gold span.

Baselines: right-branching and left-branching trees, random binary trees (each
span split uniformly; several draws), and the same model at its random
initialisation (the control). The trained model runs with several seeds; the
claims are paired differences over seeds (mean and 95% t interval) and, for
the headline comparison with right-branching, a bootstrap over test sentences.
Seeds can land in very different grammars, so two more claims score one picked
seed: picked by validation log p(x) (unsupervised) or by validation F1 (which
uses the validation split's gold trees). Sentences come from one seed-fixed
draw; train, validation and test sentences are distinct, and nothing is tuned
on the test split.

    python demos/tree_induction.py [--quick] [--seeds 5] [--steps 1000]
"""
from __future__ import annotations

import numpy as np

from common import (claim, claim_from_interval, one_blas_thread, parse_args, plt, positive_int, print_claims,
                    print_table, save_metrics, savefig)

import minissl as ms
from minissl.metrics import bootstrap_ci, bracket_f1, mean_ci
from minissl.models.tree import NeuralPCFG, left_branching, mbr_tree, random_tree, right_branching
from minissl.tasks import grammar_vocab
from minissl.tasks.trees import tree_sentences
from minissl.tensor import no_grad
from minissl.train import fit

RANDOM_TREE_DRAWS = 5


def settings(quick):
    if quick:
        return dict(n_train=1500, n_val=200, n_test=300, steps=400, seeds=3)
    return dict(n_train=4000, n_val=300, n_test=500, steps=1000, seeds=5)


# Kim et al. (2019) use 30 nonterminals, 60 preterminals, Adam with lr 1e-3, betas (0.75, 0.999),
# gradient clipping at 3, batches of 4. Here: two thirds of the symbols (the grammar has 11 tags) and
# batches of 16, for CPU time; the optimiser is theirs.
MODEL = dict(nt=20, t=40, dim=64)
TRAIN = dict(batch=16, lr=1e-3, betas=(0.75, 0.999), grad_clip=3.0)


def batches_by_length(data, ids, batch, rng):
    """Batches of similar length (less padding): shuffle, sort by length, cut, shuffle the batches."""
    order = sorted(rng.permutation(len(data)), key=lambda k: len(data[k]["words"]))
    chunks = [order[i:i + batch] for i in range(0, len(order), batch)]
    return [encode([data[k] for k in c], ids) for c in (chunks[i] for i in rng.permutation(len(chunks)))]


def encode(sents, ids):
    """Sentences -> (words (B, n) ids padded with 0, lengths (B,))."""
    n = max(len(s["words"]) for s in sents)
    words = np.zeros((len(sents), n), dtype=np.int64)
    for b, s in enumerate(sents):
        words[b, :len(s["words"])] = [ids[w] for w in s["words"]]
    return words, np.array([len(s["words"]) for s in sents])


def evaluate(model, data, ids, batch=64):
    """Per-sentence F1 of the model's MBR trees, its trees, and log p(x) summed / words."""
    f1, trees, logp, nwords = np.zeros(len(data)), [None] * len(data), 0.0, 0
    order = sorted(range(len(data)), key=lambda k: len(data[k]["words"]))
    for i in range(0, len(order), batch):
        rows = order[i:i + batch]
        words, lengths = encode([data[k] for k in rows], ids)
        marg = model.span_marginals(words, lengths)
        with no_grad():
            logp += float(model(words, lengths).sum().item())
        nwords += int(lengths.sum())
        for b, k in enumerate(rows):
            n = int(lengths[b])
            trees[k] = mbr_tree(marg[b], n)
            f1[k] = bracket_f1(trees[k], data[k]["spans"], n)
    return f1, trees, logp / nwords


def baseline_f1(data, make_tree):
    return np.array([bracket_f1(make_tree(len(s["words"])), s["spans"], len(s["words"])) for s in data])


def upper_bound_f1(data):
    """The best binary tree that keeps every gold span (CKY with score 1 on gold spans)."""
    out = []
    for s in data:
        n = len(s["words"])
        score = np.zeros((n, n + 1))
        for i, j in s["spans"]:
            score[i, j] = 1.0
        out.append(bracket_f1(mbr_tree(score, n), s["spans"], n))
    return np.array(out)


def train_one(train, val, test, ids, S, seed):
    """Random-init control, then training; returns the per-sentence F1s and log-likelihoods of both."""
    ms.manual_seed(seed)
    model = NeuralPCFG(len(ids), **MODEL)
    init_val, _, _ = evaluate(model, val, ids)
    init_test, _, init_ll = evaluate(model, test, ids)
    rng = np.random.default_rng(seed)
    pool = []

    def batches(step):
        if not pool:
            pool.extend(batches_by_length(train, ids, TRAIN["batch"], rng))
        return pool.pop()

    opt = ms.optim.Adam(model.parameters(), lr=TRAIN["lr"], betas=TRAIN["betas"])
    hist = fit(model, batches, S["steps"], loss_fn=lambda m, b: m.loss(*b), optimizer=opt,
               grad_clip=TRAIN["grad_clip"], desc=f"seed {seed}")
    val_f1, _, val_ll = evaluate(model, val, ids)
    test_f1, trees, ll = evaluate(model, test, ids)
    return dict(model=model, val_f1=val_f1, val_ll=val_ll, test_f1=test_f1, trees=trees, test_ll=ll,
                init_val_f1=init_val, init_test_f1=init_test, init_ll=init_ll, loss=hist["loss"])


def brackets(words, spans):
    """"[[the dog] [chased [the cat]]]": every span of two or more words in brackets."""
    opens = [sum(1 for i, j in spans if i == k and j - i > 1) for k in range(len(words))]
    closes = [sum(1 for i, j in spans if j == k + 1 and j - i > 1) for k in range(len(words))]
    return " ".join("[" * o + w + "]" * c for w, o, c in zip(words, opens, closes))


def children(spans, i, j):
    """The maximal spans strictly inside (i, j): the node's children in the tree drawn."""
    inner = [s for s in spans if i <= s[0] and s[1] <= j and s != (i, j)]
    return [s for s in inner if not any(t != s and t[0] <= s[0] and s[1] <= t[1] for t in inner)]


def draw_tree(ax, words, spans, title):
    """Words on the bottom line, each constituent a node above its words at the height of its subtree."""
    n = len(words)
    spans = set(spans) | {(i, i + 1) for i in range(n)} | {(0, n)}
    pos = {}

    def place(i, j):
        kids = sorted(children(spans, i, j))
        if not kids:
            pos[(i, j)] = (i, 0)
        else:
            pts = [place(*k) for k in kids]
            pos[(i, j)] = (float(np.mean([p[0] for p in pts])), 1 + max(p[1] for p in pts))
            for p in pts:
                ax.plot([pos[(i, j)][0], p[0]], [pos[(i, j)][1], p[1]], color="0.4", lw=1)
        return pos[(i, j)]
    place(0, n)
    for k, w in enumerate(words):
        ax.text(k, -0.3, w, ha="center", va="top", rotation=40, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(-2.2, max(p[1] for p in pos.values()) + 0.5)
    ax.axis("off")


def figures(args, example, gold, learned, marg, bars):
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 3, figsize=(15, 3.8), gridspec_kw=dict(width_ratios=[1, 1, 0.8]))
    draw_tree(axes[0], example["words"], gold, "gold tree (the grammar's)")
    draw_tree(axes[1], example["words"], learned, "learned tree (MBR on span marginals, first seed)")
    n = len(example["words"])
    im = axes[2].imshow(np.ma.masked_where(marg[:, 1:] == 0, marg[:, 1:]), cmap="viridis", vmin=0, vmax=1)
    for i, j in gold:
        if 1 < j - i:
            axes[2].add_patch(pyplot.Rectangle((j - 1.5, i - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    axes[2].set_xlabel("span end j (last word)")
    axes[2].set_ylabel("span start i")
    axes[2].set_title("p(span is a constituent) = d log p(x) / d s(i, j)\n(red: gold spans)", fontsize=9)
    axes[2].set_xticks(range(n))
    axes[2].set_yticks(range(n))
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    savefig(fig, args, "tree_example.png")
    fig, ax = pyplot.subplots(figsize=(8, 3.8))
    names = list(bars)
    means = [bars[k]["mean"] for k in names]
    err = [[m - (bars[k]["lo"] if bars[k]["lo"] is not None else m) for k, m in zip(names, means)],
           [(bars[k]["hi"] if bars[k]["hi"] is not None else m) - m for k, m in zip(names, means)]]
    ax.bar([k.replace(" ", "\n", 1) for k in names], means, yerr=err, capsize=4,
           color=["C0", "C1", "C1", "C1", "C2", "0.6"])
    ax.set_ylabel("sentence F1 (test)")
    ax.set_title("Unlabelled bracketing F1, 95% intervals (seeds, or random-tree draws)")
    ax.tick_params(axis="x", labelsize=8)
    savefig(fig, args, "f1_bars.png")


def main():
    args = parse_args("tree_induction", __doc__.splitlines()[0],
                      seeds=(positive_int, None, "trained models, one per seed (default 3 with --quick, else 5)"),
                      steps=(positive_int, None, "training steps per model (default 400 with --quick, else 1000)"))
    one_blas_thread()   # small matrix products: one thread is faster, and kinder to a shared CPU
    S = settings(args.quick)
    S.update({k: getattr(args, k) for k in ("seeds", "steps") if getattr(args, k) is not None})
    data = tree_sentences(S["n_train"] + S["n_val"] + S["n_test"], seed=args.seed)
    train, val = data[:S["n_train"]], data[S["n_train"]:S["n_train"] + S["n_val"]]
    test = data[S["n_train"] + S["n_val"]:]
    ids = {w: i for i, w in enumerate(grammar_vocab("a"))}
    print(f"{len(train)} training, {len(val)} validation, {len(test)} test sentences; "
          f"mean length {np.mean([len(s['words']) for s in test]):.1f} words")

    runs = [train_one(train, val, test, ids, S, args.seed + k) for k in range(S["seeds"])]
    rb, lb, ub = (baseline_f1(test, right_branching), baseline_f1(test, left_branching), upper_bound_f1(test))
    rng = np.random.default_rng(args.seed)
    rand = [baseline_f1(test, lambda n: random_tree(n, rng)).mean() for _ in range(RANDOM_TREE_DRAWS)]
    model_f1 = [r["test_f1"].mean() for r in runs]
    init_f1 = [r["init_test_f1"].mean() for r in runs]
    bars = {"trained PCFG": mean_ci(model_f1), "right-branching": mean_ci([rb.mean()]),
            "left-branching": mean_ci([lb.mean()]), "random trees": mean_ci(rand),
            "random-init PCFG": mean_ci(init_f1), "binary upper bound": mean_ci([ub.mean()])}

    per_sentence = np.mean([r["test_f1"] for r in runs], axis=0)   # each test sentence, averaged over seeds
    boot = bootstrap_ci(lambda a, b: float(np.mean(a - b)), per_sentence, rb, seed=args.seed)
    claims = [
        claim("trained PCFG beats right-branching (seeds)", np.asarray(model_f1) - rb.mean()),
        claim_from_interval("trained PCFG beats right-branching (bootstrap over sentences)", boot["value"],
                            boot["lo"], boot["hi"], len(per_sentence)),
        claim("trained PCFG beats left-branching", np.asarray(model_f1) - lb.mean()),
        claim("trained PCFG beats random trees", np.asarray(model_f1) - np.mean(rand)),
        claim("trained PCFG beats its random init (F1)", np.asarray(model_f1) - np.asarray(init_f1)),
        claim("training raises held-out log p(x) per word",
              np.asarray([r["test_ll"] for r in runs]) - np.asarray([r["init_ll"] for r in runs])),
    ]
    # Picking one of the seeds: by validation log p(x) (no trees needed), or by validation F1 (which uses
    # the validation split's gold trees: a little supervision). Each pick is scored once on the test split.
    picks = {"val log p(x)": int(np.argmax([r["val_ll"] for r in runs])),
             "val F1 (gold trees used)": int(np.argmax([r["val_f1"].mean() for r in runs]))}
    for how, i in picks.items():
        b = bootstrap_ci(lambda a, c: float(np.mean(a - c)), runs[i]["test_f1"], rb, seed=args.seed)
        claims.append(claim_from_interval(f"seed picked by {how} beats right-branching (sentences)", b["value"],
                                          b["lo"], b["hi"], len(rb), seed=args.seed + i,
                                          test_f1=float(runs[i]["test_f1"].mean())))

    # the figure's example: the first test sentence of 9 to 11 words, parsed by the first seed's model
    k = next(i for i, s in enumerate(test) if 9 <= len(s["words"]) <= 11)
    marg = runs[0]["model"].span_marginals(*encode([test[k]], ids))[0]
    figures(args, test[k], test[k]["spans"], runs[0]["trees"][k], marg, bars)

    for s in test[:3]:
        i = test.index(s)
        print(f"\ngold:    {brackets(s['words'], s['spans'])}\nlearned: {brackets(s['words'], runs[0]['trees'][i])}")
    rows = [[name, f"{b['mean']:.3f}", "-" if b["lo"] is None else f"[{b['lo']:.3f}, {b['hi']:.3f}]",
             len(b["values"])] for name, b in bars.items()]
    print_table(rows, ["trees", "test F1", "95% interval", "runs"], title="Unlabelled bracketing F1 (test)")
    print_table([[f"seed {args.seed + i}", r["init_test_f1"].mean(), r["test_f1"].mean(), r["val_f1"].mean(),
                  r["init_ll"], r["test_ll"]] for i, r in enumerate(runs)],
                ["model", "F1 at init", "F1 trained", "val F1 trained", "log p/word init", "log p/word trained"],
                title="Per seed (test log-likelihood in nats per word)")
    print_claims(claims)
    metrics = {
        "settings": {**S, **MODEL, **TRAIN, "random_tree_draws": RANDOM_TREE_DRAWS},
        "test_f1": {name: b for name, b in bars.items()},
        "per_seed": [{"seed": args.seed + i, "test_f1": float(r["test_f1"].mean()),
                      "val_f1": float(r["val_f1"].mean()), "val_log_p_per_word": r["val_ll"],
                      "init_test_f1": float(r["init_test_f1"].mean()),
                      "init_val_f1": float(r["init_val_f1"].mean()), "test_log_p_per_word": r["test_ll"],
                      "init_test_log_p_per_word": r["init_ll"], "final_train_loss": float(np.mean(r["loss"][-50:]))}
                     for i, r in enumerate(runs)],
        "model_f1": bars["trained PCFG"], "right_branching_f1": float(rb.mean()),
        "left_branching_f1": float(lb.mean()), "random_trees_f1": bars["random trees"],
        "random_init_f1": bars["random-init PCFG"], "binary_upper_bound_f1": float(ub.mean()),
        "claims": claims,
        "example": {"words": test[k]["words"], "gold": test[k]["spans"], "learned": runs[0]["trees"][k]},
        "f1_convention": "sentence-level unlabelled F1 averaged over test sentences; single words and the whole "
                         "sentence are dropped (Kim et al. 2019); final punctuation removed",
    }
    print(f"\nmetrics: {save_metrics(args, metrics)}")


if __name__ == "__main__":
    main()
