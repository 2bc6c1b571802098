"""Chinese, one character per token: a GPT on Tang and Song poems and classical quotes.

Chinese has no spaces and thousands of characters, and the lecture's token for
it is the character itself. The corpus is Debian's fortunes-zh: 409 poems
(唐诗三百首 and 95 Song poems, written here as "《title》author", then the verses)
and 4,536 quotes (the Analects, the Daodejing, proverbs, lines of poetry ...),
about 330,000 characters. Every tenth poem and every tenth quote is held out,
never trained on; the validation loss is the mean next-character cross-entropy
(nats) over all of that held-out text.

Is the GPT learning more than which characters are common and which follow
which? Two baselines are counted on the same training text and scored on the
same held-out characters:

* unigram: p(b) from character counts (add-one, so an unseen character is not
  infinitely surprising);
* bigram: p(b | a), the previous character as context, interpolated with the
  unigram by Witten-Bell (trust the bigram counts of ``a`` in proportion to
  how often ``a`` was seen against how many different characters followed it):
  no parameter to tune, so nothing is fitted on the validation text.

The GPT sees 64 characters of context, so it should beat both. The claims
table reads each baseline's loss minus the GPT's, per held-out window of 64
characters, with a 95% paired bootstrap interval over those windows: one
trained model (one seed), so the interval covers the text, not training noise.

    python demos/gpt_chinese.py [--quick] [--steps N]
"""
from __future__ import annotations

import math
import os

import numpy as np

from common import (claim_paired, one_blas_thread, parse_args, plt, positive_int, print_claims, print_table,
                    save_metrics, savefig, skip)
from minissl.backend import xp
from minissl.datasets import DatasetMissing, chinese_poems, chinese_text
from minissl.models.gpt import GPT, GPTConfig, evaluate_lm, ngram_token_losses, train_lm, window_losses
from minissl.text import CharTokenizer

BATCH = 16


def load_split():
    """(train, validation) strings, every tenth poem and every tenth quote held out; and the
    first lines ("《title》author") of the held-out poems, to prompt the model with."""
    try:
        poems = [f"{p.title}{p.author}\n{p.text}" for p in chinese_poems()]
        docs = poems + chinese_text()
    except DatasetMissing as e:
        skip("gpt_chinese", str(e))
    return ("\n\n".join(d for i, d in enumerate(docs) if i % 10 != 9),
            "\n\n".join(d for i, d in enumerate(docs) if i % 10 == 9),
            [d.split("\n")[0] + "\n" for i, d in enumerate(poems) if i % 10 == 9])


def windows(stream, T, batch=32):
    """All of the validation stream as non-overlapping (x, y) windows of T characters."""
    starts = np.arange(0, len(stream) - T - 1, T)
    return [(stream[s[:, None] + np.arange(T)], stream[s[:, None] + np.arange(1, T + 1)])
            for s in np.array_split(starts, math.ceil(len(starts) / batch))]


def cjk_font():
    """The file of an installed font that has Chinese glyphs, or None (none ships with minissl)."""
    from matplotlib import font_manager
    names = ("CJK", "WenQuanYi", "Droid Sans Fallback", "AR PL", "Heiti", "SimHei", "SimSun", "Noto Sans SC")
    return next((f.fname for f in font_manager.fontManager.ttflist if any(n in f.name for n in names)), None)


def main():
    args = parse_args("gpt_chinese", __doc__.split("\n")[0],
                      steps=(positive_int, None, "training steps (default 2000, --quick 300)"))
    one_blas_thread()
    steps = args.steps or (300 if args.quick else 2000)
    train_text, val_text, titles = load_split()
    tok = CharTokenizer.from_corpus(train_text + val_text)  # one alphabet for the GPT and both baselines
    tr, va = np.array(tok.encode(train_text)), np.array(tok.encode(val_text))
    cfg = GPTConfig(tok.vocab_size, n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.1)
    model = GPT(cfg)
    T = cfg.block_size
    val = windows(va, T)
    x_all = np.concatenate([x for x, _ in val])  # (windows, T)
    y_all = np.concatenate([y for _, y in val])
    uni_tok, bi_tok = ngram_token_losses(tr, x_all, y_all, tok.vocab_size)  # nats of every held-out character
    unigram, bigram = float(uni_tok.mean()), float(bi_tok.mean())
    print(f"training on {len(tr):,} characters, validating on {y_all.size:,}; vocabulary {tok.vocab_size:,} "
          f"characters; GPT {cfg.n_layer} layers x {cfg.n_embd} wide, {model.num_parameters():,} parameters\n"
          f"baselines on the held-out text: unigram {unigram:.3f}, bigram {bigram:.3f} nats per character")

    rng = np.random.default_rng(args.seed)

    def get_batch(step):
        s = rng.integers(0, len(tr) - T - 1, size=BATCH)
        return tr[s[:, None] + np.arange(T)], tr[s[:, None] + np.arange(1, T + 1)]

    hist = train_lm(model, get_batch, steps, lr=2e-3, betas=(0.9, 0.99), weight_decay=0.1, grad_clip=1.0,
                    warmup=min(100, steps // 10), eval_fn=lambda m: evaluate_lm(m, val),
                    eval_every=max(50, steps // 10), desc="gpt_chinese")
    val_loss = hist["eval"][-1]
    gpt_win = window_losses(model, val)  # per held-out window, for the claims' intervals
    poems = []
    for i, title in enumerate(titles[:4]):  # title and poet of a held-out poem; the GPT writes the verses
        out = tok.decode(model.generate(np.array([tok.encode(title)]), 64 - len(title), temperature=0.8, top_k=40,
                                        rng=xp.random.default_rng(args.seed + i))[0])
        verses = out[len(title):].lstrip("\n").split("\n\n")[0]  # a blank line ends a poem
        poems.append(title + verses)
    print("\n\n".join(["\ngenerated poems:"] + poems))

    fig, ax = plt().subplots(figsize=(7, 4))
    ax.plot(hist["step"], hist["loss"], lw=0.5, alpha=0.5, label="GPT train (one batch)")
    ax.plot(hist["eval_step"], hist["eval"], "o-", label="GPT validation")
    ax.axhline(unigram, ls="--", c="gray", label="unigram (validation)")
    ax.axhline(bigram, ls=":", c="k", label="bigram, Witten-Bell (validation)")
    ax.set(xlabel="step", ylabel="nats per character", title="per-character GPT on Chinese poems and quotes")
    ax.legend()
    savefig(fig, args, "loss_curve.png")
    font = cjk_font()
    if font:  # the poems as a picture, only where a Chinese font is installed
        from matplotlib.font_manager import FontProperties
        fig = plt().figure(figsize=(9, 4))
        fig.text(0.02, 0.98, "\n\n".join(poems), va="top", fontproperties=FontProperties(fname=font), fontsize=11)
        savefig(fig, args, "poems.png")
    rows = [["GPT validation loss", val_loss], ["bigram (Witten-Bell)", bigram], ["unigram (add-one)", unigram],
            ["GPT - bigram", val_loss - bigram], ["steps", steps]]
    with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as f:
        f.write("# Per-character GPT on Chinese\n\n| | nats per character |\n|---|---|\n")
        f.write("".join(f"| {k} | {v:.3f} |\n" for k, v in rows[:4]))
        f.write("\n## Generated poems\n\n" + "\n\n".join(p.replace("\n", "  \n") for p in poems) + "\n")
        f.write(f"\n(glyph figure: {'poems.png, font ' + font if font else 'none, no CJK font is installed'})\n")
    print_table(rows, ["", "value"], "next-character loss on held-out Chinese (nats per character)")
    # claims: baseline loss minus GPT loss > 0, paired over the held-out windows (one seed, one model)
    where = f"{len(gpt_win)} held-out windows of {T} characters, seed {args.seed}"
    claims = [claim_paired("GPT's validation loss is below the bigram's (nats)", bi_tok.mean(1), gpt_win,
                           seed=args.seed, where=where),
              claim_paired("GPT's validation loss is below the unigram's (nats)", uni_tok.mean(1), gpt_win,
                           seed=args.seed, where=where)]
    print_claims(claims, title="Claims (one trained model; paired bootstrap over held-out windows)")
    save_metrics(args, {"val_loss": val_loss, "val_loss_unigram": unigram, "val_loss_bigram": bigram,
                        "gpt_beats_bigram": val_loss < bigram, "gpt_minus_bigram": val_loss - bigram,
                        "curve": {"step": hist["eval_step"], "val_loss": hist["eval"]},
                        "train_chars": len(tr), "val_chars": y_all.size, "vocab_size": tok.vocab_size,
                        "steps": steps, "batch": BATCH, "parameters": model.num_parameters(), "poems": poems,
                        "cjk_font": font, "claims": claims})


if __name__ == "__main__":
    main()
