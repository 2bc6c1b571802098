"""Autograd basics: a small MLP learns the two-spirals problem, and every layer's
gradient is checked against finite differences first.

What to look at:

* the gradient-check table: each layer's hand-written backward agrees with
  central differences (float64) to ~1e-10, so training can trust it;
* ``loss.png``: the training loss falling;
* ``boundary.png``: the decision boundary the network carved between the two
  interleaved spirals (a linear model cannot separate them);
* the claims table: on fresh test points from the same spirals, the MLP's
  accuracy minus a logistic regression's (the linear model, scikit-learn) and
  minus chance (1/2), point by point, with a 95% paired bootstrap interval over
  the test points (one trained model, one seed). The gradient check is a check
  of the code, not a claim, so it stays in its own table.

Run:  python demos/autograd_basics.py [--quick]
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from common import claim_paired, parse_args, plt, print_claims, print_table, save_metrics, savefig
from tqdm import tqdm

import minissl as ms
import minissl.nn.functional as F
from minissl import nn, optim


def two_spirals(n, noise, rng):
    """n points per class on two interleaved spirals (host NumPy; converted at the boundary)."""
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi  # sqrt: even density along the arm
    arm = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise, (2 * n, 2))
    y = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    return x.astype(np.float32), y


def mlp(width, dtype=ms.float32):
    return nn.Sequential(nn.Linear(2, width, dtype=dtype), nn.Tanh(),
                         nn.Linear(width, width, dtype=dtype), nn.GELU(),
                         nn.LayerNorm(width, dtype=dtype),
                         nn.Linear(width, 2, dtype=dtype))


ATOL, RTOL = 1e-8, 1e-6  # tighter than ms.gradcheck's defaults: float64 leaves room


def gradcheck_layers():
    """Check each kind of layer (and the loss) in float64 on a tiny input.

    ``ms.gradcheck`` nudges every input and parameter entry by ±1e-6, compares
    the change of Σ u·f with what backward predicted, and raises on a mismatch.
    """
    rng = np.random.default_rng(0)
    x = ms.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    y = ms.tensor(rng.integers(0, 4, 3))
    layers = {"Linear": nn.Linear(4, 4, dtype=ms.float64), "Tanh": nn.Tanh(), "GELU": nn.GELU(),
              "LayerNorm": nn.LayerNorm(4, dtype=ms.float64), "ReLU": nn.ReLU(),
              "cross_entropy": lambda inp: F.cross_entropy(inp, y)}
    rows = []
    for name, layer in layers.items():
        params = list(layer.parameters()) if isinstance(layer, nn.Module) else []
        checked = 1 + len(params)
        ok = ms.gradcheck(lambda inp, *_: layer(inp), [x] + params, atol=ATOL, rtol=RTOL, raise_exception=False)
        rows.append((name, checked, sum(t.numel() for t in [x] + params), "passed" if ok else "FAILED"))
    return rows


def main():
    args = parse_args("autograd_basics", __doc__.splitlines()[0])
    n, steps, width = (300, 400, 32) if args.quick else (600, 1500, 64)
    rng = np.random.default_rng(args.seed)
    x_np, y_np = two_spirals(n, 0.02, rng)
    x, y = ms.tensor(x_np), ms.tensor(y_np)

    checks = gradcheck_layers()
    print_table(checks, ["layer", "tensors", "entries", f"gradcheck (atol {ATOL:g}, rtol {RTOL:g})"],
                "Gradient check, float64: analytic backward vs central differences")

    model = mlp(width)
    opt = optim.AdamW(optim.param_groups_for_decay(model, 1e-4), lr=1e-2)
    sched = optim.warmup_cosine(opt, warmup_steps=steps // 20, total_steps=steps)
    losses = []
    # The training loop, written out once: every other demo runs this same step through
    # minissl.train.fit, which adds evaluation, checkpoints and a history around it.
    for _ in tqdm(range(steps), desc="training", mininterval=1.0):
        loss = F.cross_entropy(model(x), y)  # full batch: the data set is tiny
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    with ms.no_grad():
        accuracy = float((model(x).argmax(dim=1).numpy() == y_np).mean())
        x_test, y_test = two_spirals(n, 0.02, np.random.default_rng(args.seed + 1))
        test_correct = (model(ms.tensor(x_test)).argmax(dim=1).numpy() == y_test).astype(float)
        test_accuracy = float(test_correct.mean())
    linear_correct = (LogisticRegression().fit(x_np, y_np).predict(x_test) == y_test).astype(float)

    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(5, 3.5))
    ax.plot(losses)
    ax.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="Training loss")
    savefig(fig, args, "loss.png")

    grid = np.linspace(-1.3, 1.3, 200, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    with ms.no_grad():
        prob = F.softmax(model(ms.tensor(np.stack([gx.ravel(), gy.ravel()], 1))), -1).numpy()[:, 1]
    fig, ax = pyplot.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, prob.reshape(gx.shape), levels=20, cmap="RdBu_r", alpha=0.6)
    ax.scatter(x_np[:, 0], x_np[:, 1], c=y_np, cmap="RdBu_r", s=6, edgecolors="k", linewidths=0.2)
    ax.set(title=f"Decision boundary (train accuracy {accuracy:.1%})", aspect="equal")
    savefig(fig, args, "boundary.png")

    metrics = {"train_accuracy": accuracy, "test_accuracy": test_accuracy, "final_loss": losses[-1],
               "steps": steps, "gradcheck": {name: ok == "passed" for name, *_, ok in checks},
               "gradcheck_tolerance": {"atol": ATOL, "rtol": RTOL},
               "linear_test_accuracy": float(linear_correct.mean())}
    where = f"{len(y_test)} test points, seed {args.seed}"
    metrics["claims"] = [
        claim_paired("the MLP beats a linear model (logistic regression) on test accuracy", test_correct,
                     linear_correct, seed=args.seed, where=where),
        claim_paired("the MLP beats chance (1/2) on test accuracy", test_correct, np.full(len(y_test), 0.5),
                     seed=args.seed, where=where)]
    save_metrics(args, metrics)
    print_table([("train accuracy", accuracy), ("test accuracy", test_accuracy),
                 ("test accuracy, linear model", float(linear_correct.mean())), ("final loss", losses[-1])],
                ["metric", "value"], "Two spirals")
    print_claims(metrics["claims"], title="Claims (one trained model; paired bootstrap over test points)")
    print(f"\nfigures and metrics.json in {args.out}")


if __name__ == "__main__":
    main()
