"""Few-shot learning with no gradient descent: a GPT learns a new task from its prompt.

The lecture's GPT-3 point: give the model a few worked examples in the prompt
("sea otter => loutre de mer, cheese => ...") and it does the task, with its
weights frozen. Here each *task* is a random dictionary: 8 made-up words
(a..h), each with one of 8 meanings (0..7), drawn afresh for every sequence.
A prompt lists k dictionary entries, each written as one token "word=meaning"
(like "c=5"), then a query word; the model must answer the query's meaning::

    c=5  a=2  f=7  c=5  a     ->  2

No single dictionary is worth memorising (there are 8^8 ≈ 16.8 million and
each is seen once), so the only way to lower the loss is to read the
dictionary *from the prompt*: attend from the query to the entry for the same
word and copy its meaning. At test time we draw brand-new dictionaries
(checked to be absent from training), put 0, 1, 2, 4 or 8 entries before a
query, freeze the weights and measure accuracy. With 0 shots the best anyone
can do is guess (1/8); an entry only helps if it is for the query word, so a
perfect reader of the prompt scores 1 - (7/8)^(k+1) with k shots; we print
that bound beside the model.

What this shows and what it does not: the model here was trained with a loss
on the query answer, in exactly this prompt format, so it has learnt to read
a dictionary from its prompt (the mechanism), not acquired it as a side effect
of next-token pre-training. ``demos/gpt_real.py`` measures the real effect:
a pre-trained SmolLM2-135M, frozen, on real tasks at 0-8 shots.

The claims table says so in each row: accuracy at 8 shots minus 0 shots (and
minus chance), per test dictionary (the same dictionaries at every shot count),
with a 95% paired bootstrap interval over the 4,000 of them; one trained model,
one seed.

(Why one token per entry: written as two tokens "c 5", the model first has to
discover a two-layer "induction head" (a meaning token looks at the word before
it, then the query looks for that word); in our runs a 2-layer GPT sat at the
chance loss ln 8 for 1,500 steps before that happens, too long for a demo.)

    python demos/gpt_incontext.py [--quick]
"""
from __future__ import annotations

import numpy as np

from common import claim_paired, parse_args, plt, positive_int, print_claims, print_table, save_metrics, savefig
from minissl.models.gpt import GPT, GPTConfig, train_lm

N_WORDS, N_MEANINGS, MAX_SHOTS = 8, 8, 16
SHOTS = (0, 1, 2, 4, 8)
IGNORE = -100
# tokens: meanings 0..7, query words 8..15, entries "w=m" 16 + 8·w + m
WORD0, ENTRY0 = N_MEANINGS, N_MEANINGS + N_WORDS
VOCAB = ENTRY0 + N_WORDS * N_MEANINGS


def draw_tasks(rng, n):
    """n random dictionaries: (n, N_WORDS) array, row i maps word w to meaning tasks[i, w]."""
    return rng.integers(0, N_MEANINGS, size=(n, N_WORDS))


def prompts(tasks, k, rng):
    """k entries of each task's dictionary, then a query word: (ids (n, k+1), answers (n,))."""
    words = rng.integers(0, N_WORDS, size=(len(tasks), k + 1))  # demonstrations, then the query
    meanings = np.take_along_axis(tasks, words, axis=1)
    ids = np.concatenate([ENTRY0 + N_MEANINGS * words[:, :k] + meanings[:, :k], WORD0 + words[:, k:]], axis=1)
    return ids, meanings[:, k]


def correct_by_shots(model, rng, n_tasks, seen):
    """{k: (n_tasks,) 1.0 where the query about test dictionary i, after k of its entries, is answered right}."""
    tasks = draw_tasks(rng, 2 * n_tasks)
    tasks = tasks[[t.tobytes() not in seen for t in tasks]][:n_tasks]  # drop the rare dictionary seen in training
    out = {}
    for k in SHOTS:
        ids, answer = prompts(tasks, k, rng)
        logits = model(ids).logits
        guess = logits.numpy()[:, -1, :N_MEANINGS].argmax(-1)  # the answer is a meaning token
        out[k] = (guess == answer).astype(float)
    return out


def accuracy_by_shots(model, rng, n_tasks, seen):
    """{k: query accuracy after k entries} over n_tasks unseen dictionaries."""
    return {k: float(c.mean()) for k, c in correct_by_shots(model, rng, n_tasks, seen).items()}


def main():
    args = parse_args("gpt_incontext", __doc__.split("\n")[0],
                      steps=(positive_int, None, "training steps (default 3000, --quick 1500)"))
    steps = args.steps or (1500 if args.quick else 3000)
    rng = np.random.default_rng(args.seed)
    seen = set()

    def get_batch(step, batch=128):
        tasks = draw_tasks(rng, batch)
        seen.update(t.tobytes() for t in tasks)
        ids, answer = prompts(tasks, int(rng.integers(0, MAX_SHOTS + 1)), rng)  # every shot count in training
        y = np.full(ids.shape, IGNORE)
        y[:, -1] = answer  # loss only on the query's meaning
        return ids, y

    cfg = GPTConfig(vocab_size=VOCAB, n_layer=2, n_head=4, n_embd=64, block_size=MAX_SHOTS + 1)
    model = GPT(cfg)
    print(f"GPT {cfg.n_layer} layers x {cfg.n_embd} wide, {model.num_parameters():,} parameters; "
          f"each training prompt: 0-{MAX_SHOTS} entries of a fresh random dictionary, then a query")
    before = accuracy_by_shots(model, np.random.default_rng(10_000 + args.seed), 500, seen)
    hist = train_lm(model, get_batch, steps, lr=3e-3, weight_decay=0.1, warmup=100, desc="gpt_incontext")
    model.eval()
    correct = correct_by_shots(model, np.random.default_rng(20_000 + args.seed), 4000, seen)
    after = {k: float(c.mean()) for k, c in correct.items()}
    bound = {k: 1 - (7 / 8) ** k + (7 / 8) ** k / 8 for k in SHOTS}
    print_table([[k, before[k], after[k], bound[k]] for k in SHOTS],
                ["shots", "accuracy before training", "accuracy after (frozen)", "perfect reader"],
                f"query accuracy on 4000 unseen dictionaries (chance = {1 / N_MEANINGS:.3f})")

    fig, ax = plt().subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(hist["step"], hist["loss"], lw=0.7)
    ax[0].set(xlabel="step", ylabel="loss on the query (nats)", title="pre-training on random dictionaries")
    ax[1].plot(SHOTS, [after[k] for k in SHOTS], "o-", label="GPT, frozen weights")
    ax[1].plot(SHOTS, [bound[k] for k in SHOTS], "--", c="gray", label="perfect reader of the prompt")
    ax[1].axhline(1 / N_MEANINGS, ls=":", c="k", label="chance")
    ax[1].set(xlabel="demonstrations in the prompt", ylabel="query accuracy", xticks=SHOTS, ylim=(0, 1),
              title="few-shot accuracy on unseen tasks")
    ax[1].legend()
    savefig(fig, args, "accuracy_vs_shots.png")
    rising = all(after[a] < after[b] for a, b in zip(SHOTS, SHOTS[1:]))
    print(f"accuracy rises with every extra demonstration: {rising}")
    print("This GPT was trained with a loss on the query answer in exactly this prompt format, so the curve shows "
          "the mechanism (reading a dictionary from the prompt), not in-context learning emerging from plain "
          "next-token pre-training; 0 shots is chance by construction. demos/gpt_real.py measures the real effect.")
    where = f"trained on this prompt format, {len(correct[0])} unseen dictionaries, seed {args.seed}"
    top = SHOTS[-1]
    claims = [claim_paired(f"{top} shots beat 0 shots (query accuracy)", correct[top], correct[0], seed=args.seed,
                           where=where),
              claim_paired(f"{top} shots beat chance (1/{N_MEANINGS})", correct[top],
                           np.full(len(correct[top]), 1 / N_MEANINGS), seed=args.seed, where=where)]
    print_claims(claims, title="Claims (one trained model; paired bootstrap over test dictionaries)")
    save_metrics(args, {"accuracy_by_shots": {str(k): after[k] for k in SHOTS},
                        "accuracy_before_training": {str(k): before[k] for k in SHOTS},
                        "perfect_reader": {str(k): bound[k] for k in SHOTS}, "rises_with_shots": rising,
                        "trained_on_the_prompt_format": True,
                        "steps": steps, "parameters": model.num_parameters(), "claims": claims})


if __name__ == "__main__":
    main()
