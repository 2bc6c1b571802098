"""A character-level GPT learns to write like its corpus.

GPT's only training signal is "predict the next character". Before training
its samples are random characters; after a few minutes they have words,
spaces and punctuation in the right places. The number that measures it is the
validation loss in *bits per character*: log2(vocabulary size) for a blind
guess, about 1 for good English models.

The claims table asks whether the trained GPT predicts the held-out text better
than its own random initialisation and than a character bigram (Witten-Bell,
counted on the training text): that baseline's loss minus the GPT's, per
validation window, with a 95% paired bootstrap interval over the windows (one
trained model, one seed).

    python demos/gpt_text.py                    # Python's own documentation
    python demos/gpt_text.py --text my.txt      # any UTF-8 text, Chinese too
    python demos/gpt_text.py --quick
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common import (claim_paired, existing_text_file, ms, one_of, parse_args, plt, positive_int, print_claims,
                    print_table, save_metrics, savefig)
from minissl.backend import xp
from minissl.models.gpt import GPT, GPTConfig, evaluate_lm, ngram_token_losses, train_lm, window_losses
from minissl.text import CharTokenizer, load_pydoc_corpus


def load_text(path):
    """(train, validation) strings: the built-in corpus, or the last 10% of a file for validation."""
    if path is None:
        return ("\n".join(load_pydoc_corpus("train").texts()), "\n".join(load_pydoc_corpus("validation").texts()))
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"--text {path}: no such file; pass the path of a UTF-8 text file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SystemExit(f"--text {path} is not UTF-8; convert it first, e.g. `iconv -f gbk -t utf-8`") from None
    cut = int(0.9 * len(text))
    if cut < 1000:
        raise SystemExit(f"--text {path} has only {len(text)} characters; give at least a few thousand")
    return text[:cut], text[cut:]


def windows(stream, block, limit):
    """Non-overlapping (x, y) windows of the validation stream, 32 to a batch."""
    starts = np.arange(0, len(stream) - block - 1, block)[:limit]
    return [(stream[s[:, None] + np.arange(block)], stream[s[:, None] + np.arange(1, block + 1)])
            for s in np.array_split(starts, max(1, math.ceil(len(starts) / 32)))]


def sample(model, tok, prompt, n, rng):
    ids = np.array([tok.encode(prompt)])
    return tok.decode(model.generate(ids, n, temperature=0.8, top_k=20, rng=rng)[0])


def main():
    args = parse_args("gpt_text", __doc__.split("\n")[0],
                      text=(existing_text_file, None, "a UTF-8 text file to train on"),
                      steps=(positive_int, None, "training steps (default 2000, --quick 500)"),
                      preset=(one_of(*GPTConfig.PRESETS), None,
                              "model size: nano, micro, mini (default: a 4-layer 128-wide model)"))
    train_text, val_text = load_text(args.text)
    tok = CharTokenizer.from_corpus(train_text + val_text)
    tr, va = np.array(tok.encode(train_text)), np.array(tok.encode(val_text))
    if args.preset:
        cfg = GPTConfig.preset(args.preset, tok.vocab_size)
    elif args.quick:
        cfg = GPTConfig(tok.vocab_size, n_layer=2, n_head=4, n_embd=96, block_size=64)
    else:
        cfg = GPTConfig(tok.vocab_size, n_layer=4, n_head=4, n_embd=128, block_size=64)
    steps = args.steps or (500 if args.quick else 2000)
    batch, T = 32, cfg.block_size
    model = GPT(cfg)
    print(f"corpus: {len(tr):,} training and {len(va):,} validation characters, vocabulary {tok.vocab_size}; "
          f"GPT {cfg.n_layer} layers x {cfg.n_embd} wide, {model.num_parameters():,} parameters")
    val = windows(va, T, 64 if args.quick else 256)
    rng = np.random.default_rng(args.seed)
    prompt = "The " if args.text is None else train_text[:4]
    before = sample(model, tok, prompt, 200, xp.random.default_rng(args.seed))
    bpc0 = evaluate_lm(model, val) / math.log(2)
    init_win = window_losses(model, val)  # per window, for the claims' intervals
    print(f"\nbefore training (validation {bpc0:.3f} bits/char):\n{before}\n")

    def get_batch(step):
        s = rng.integers(0, len(tr) - T - 1, size=batch)
        return tr[s[:, None] + np.arange(T)], tr[s[:, None] + np.arange(1, T + 1)]

    hist = train_lm(model, get_batch, steps, lr=2e-3, weight_decay=0.1, grad_clip=1.0,
                    eval_fn=lambda m: evaluate_lm(m, val), eval_every=max(50, steps // 10),
                    checkpoint=Path(args.out) / "gpt_text.npz", desc="gpt_text")
    bpc = hist["eval"][-1] / math.log(2)
    gpt_win = window_losses(model, val)
    _, bi_tok = ngram_token_losses(tr, np.concatenate([x for x, _ in val]), np.concatenate([y for _, y in val]),
                                   tok.vocab_size)
    after = sample(model, tok, prompt, 300, xp.random.default_rng(args.seed))
    print(f"\nafter {steps} steps (validation {bpc:.3f} bits/char):\n{after}\n")

    fig, ax = plt().subplots(figsize=(7, 4))
    ln2 = math.log(2)
    ax.plot(hist["step"], np.array(hist["loss"]) / ln2, lw=0.6, alpha=0.6, label="train (batch)")
    ax.plot(hist["eval_step"], np.array(hist["eval"]) / ln2, "o-", label="validation")
    ax.axhline(math.log2(tok.vocab_size), ls="--", c="gray", label="uniform guess")
    ax.set(xlabel="step", ylabel="bits per character", title="character-level GPT")
    ax.legend()
    savefig(fig, args, "loss_curve.png")
    print_table([["vocabulary", tok.vocab_size], ["parameters", model.num_parameters()], ["steps", steps],
                 ["val bits/char before", bpc0], ["val bits/char after", bpc],
                 ["uniform guess bits/char", math.log2(tok.vocab_size)],
                 ["bigram (Witten-Bell) bits/char", float(bi_tok.mean()) / ln2]], ["", "value"], "character-level GPT")
    where = f"{len(gpt_win)} validation windows of {T} characters, seed {args.seed}"
    claims = [claim_paired("GPT's validation loss is below the bigram's (nats)", bi_tok.mean(1), gpt_win,
                           seed=args.seed, where=where),
              claim_paired("GPT's validation loss is below its random init's (nats)", init_win, gpt_win,
                           seed=args.seed, where=where)]
    save_metrics(args, {"val_bpc": bpc, "val_bpc_before": bpc0, "train_loss_final": hist["loss"][-1],
                        "steps": steps, "parameters": model.num_parameters(), "vocab_size": tok.vocab_size,
                        "sample_before": before, "sample_after": after, "val_bpc_bigram": float(bi_tok.mean()) / ln2,
                        "claims": claims})
    print_claims(claims, title="Claims (one trained model; paired bootstrap over validation windows)")


if __name__ == "__main__":
    main()
