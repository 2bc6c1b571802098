"""Can a tiny GPT learn an algorithm? Sorting digit sequences by next-token prediction.

Each training example is one string: six digits, a separator, the same digits
sorted, e.g. ``3 1 4 1 5 9 | 1 1 3 4 5 9``. The loss is next-token
cross-entropy on the sorted half only (the unsorted half is random, nothing to
learn there). At test time the model sees ``digits |`` and generates six
tokens greedily; the answer counts only if all six are right (exact match).
The test sequences are held out: none of them appears in training.

The claims table compares, test sequence by test sequence (95% paired bootstrap
interval over the 2,000 of them; one trained model, one seed), the GPT with the
cheapest answer, copying the input (right only when it is already sorted), and
with its own random initialisation (on the first 200 test sequences).

    python demos/gpt_sort.py [--quick]
"""
from __future__ import annotations

import math

import numpy as np

from common import claim_paired, parse_args, plt, positive_int, print_claims, print_table, save_metrics, savefig
from minissl.models.gpt import GPT, GPTConfig, train_lm

IGNORE = -100


def encode(x, n_digits):
    """(N, L) digits -> (N, 2L+1) token rows: digits, separator (= n_digits), sorted digits."""
    sep = np.full((len(x), 1), n_digits)
    return np.concatenate([x, sep, np.sort(x, axis=1)], axis=1)


def matches(model, x, n_digits, batch=500):
    """Greedy generation with the KV cache; per row, 1.0 if it came out sorted exactly right."""
    L, hits = x.shape[1], []
    for i in range(0, len(x), batch):
        rows = encode(x[i:i + batch], n_digits)
        out = model.generate(rows[:, :L + 1], L, do_sample=False)
        hits.append((out[:, L + 1:] == rows[:, L + 1:]).all(axis=1))
    return np.concatenate(hits).astype(float)


def exact_match(model, x, n_digits):
    """Fraction of rows sorted exactly right."""
    return float(matches(model, x, n_digits).mean())


N_TEST = 2000  # held-out test sequences, never trained on


def enough_sequences(args):
    """The test set must leave sequences to train on: with fewer than 2 x N_TEST of the D**L
    possible ones, the test draws take most of them (all, for a few digits), and training has
    next to nothing left that is not a test sequence."""
    if args.digits < 2:
        return "argument --digits: must be 2 or more (one digit is already sorted)"
    if args.length * math.log10(args.digits) < math.log10(2 * N_TEST):  # D**L itself can be astronomically big
        return (f"--length {args.length} with --digits {args.digits} gives only {args.digits ** args.length:,} "
                f"distinct sequences; the {N_TEST:,} held out for testing need at least {2 * N_TEST:,} "
                "(raise --length or --digits)")
    return None


def main():
    args = parse_args("gpt_sort", __doc__.split("\n")[0], check=enough_sequences,
                      length=(positive_int, 6, "digits per sequence"),
                      digits=(positive_int, 10, "alphabet size (digits 0..d-1)"),
                      steps=(positive_int, None, "training steps (default 3000, --quick 800)"))
    L, D = args.length, args.digits
    steps = args.steps or (800 if args.quick else 3000)
    rng = np.random.default_rng(args.seed)
    test = rng.integers(0, D, size=(N_TEST, L))
    held_out = {r.tobytes() for r in test}

    def get_batch(step, batch=64):
        x = rng.integers(0, D, size=(batch, L))
        keep = np.array([r.tobytes() not in held_out for r in x])  # never train on a test sequence
        rows = encode(x[keep], D)
        y = rows[:, 1:].copy()
        y[:, :L] = IGNORE  # predicting the next unsorted digit is impossible: no loss there
        return rows[:, :-1], y

    cfg = GPTConfig(vocab_size=D + 1, n_layer=2, n_head=4, n_embd=64, block_size=2 * L + 1)
    model = GPT(cfg)
    print(f"sorting {L} digits from 0..{D - 1}; GPT {cfg.n_layer} layers x {cfg.n_embd} wide, "
          f"{model.num_parameters():,} parameters; {len(test)} held-out test sequences")
    hits0 = matches(model, test[:200], D)
    acc0 = float(hits0.mean())
    hist = train_lm(model, get_batch, steps, lr=3e-3, weight_decay=0.1, warmup=100,
                    eval_fn=lambda m: exact_match(m, test[:500], D), eval_every=max(100, steps // 10), desc="gpt_sort")
    hits = matches(model, test, D)
    acc = float(hits.mean())
    copied = (np.diff(test, axis=1) >= 0).all(axis=1).astype(float)  # copying the input is right iff it is sorted
    demo = encode(test[:5], D)
    out = model.generate(demo[:, :L + 1], L, do_sample=False)
    rows = [[" ".join(map(str, r[:L])), " ".join(map(str, o[L + 1:])), "yes" if (o == r).all() else "no"]
            for r, o in zip(demo, out)]
    print_table(rows, ["input", "GPT output", "correct"], "held-out examples")

    fig, ax = plt().subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(hist["step"], hist["loss"], lw=0.7)
    ax[0].set(xlabel="step", ylabel="loss on the sorted half (nats)", yscale="log", title="training loss")
    ax[1].plot(hist["eval_step"], hist["eval"], "o-")
    ax[1].set(xlabel="step", ylabel="exact match (500 held-out)", ylim=(0, 1.02), title="held-out exact match")
    savefig(fig, args, "sort_curves.png")
    print_table([["exact match before training", acc0], ["exact match after training", acc],
                 ["exact match of copying the input", float(copied.mean())],
                 ["test sequences", len(test)], ["steps", steps]], ["", "value"], "GPT sorting")
    claims = [claim_paired("GPT's exact match beats copying the input", hits, copied, seed=args.seed,
                           where=f"{len(test)} held-out sequences, seed {args.seed}"),
              claim_paired("GPT's exact match beats its random init", hits[:200], hits0, seed=args.seed,
                           where=f"first 200 held-out sequences, seed {args.seed}")]
    print_claims(claims, title="Claims (one trained model; paired bootstrap over test sequences)")
    save_metrics(args, {"test_exact_match": acc, "exact_match_before": acc0, "steps": steps, "length": L,
                        "digits": D, "n_test": len(test), "parameters": model.num_parameters(),
                        "exact_match_copy_input": float(copied.mean()), "claims": claims})


if __name__ == "__main__":
    main()
