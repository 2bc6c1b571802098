"""Text as representation: does a writer/reader auto-encoder with a word-sequence code write summaries?

A writer seq2seq reads a generated sentence ("the big dog that chased the cat
did not eat the cake in the park .") and writes L words; a reader seq2seq
rebuilds the sentence from them (``minissl/models/textrep.py``, REINFORCE with
a leave-one-out baseline). Two arms, the same seeds:

* ``plain``: reward = log p_reader(x | z). The lecture predicts a private code.
* ``lm``:    reward += λ · log p_LM(z), a small GPT trained on real sentences of
  the same generator (disjoint draw) playing the discriminator.

Because the grammar built each sentence, its key facts are known: the subject,
the verb and the object nouns ("dog", "eat", "cake"). Measures on test
sentences, with the writer's arg-max z:

* readability: the LM's perplexity of z (per word), beside the LM's perplexity
  of the first L words of real test sentences and of the gold summary ("the dog
  ate the cake ." cut to L words);
* content: precision (share of z's words that are key words of x) and recall
  (share of x's key words found in z);
* reconstruction: the reader's negative log-likelihood of x, nats per token.

Controls: the same models at their random initialisation, and uniformly random
words as z (readability and key-word scores). Claims are paired differences over
seeds (mean and 95% t interval).

What the runs show (EXPERIMENTS.md has the numbers): the plain arm reproduces
the lecture's failure in its smallest form, a private code of a few repeated
words that the reader uses and no language model would write; the LM reward
makes the middle readable by writing the same words for every sentence, so the
content measures do not improve. The demo prints this as measured (``finding``
in metrics.json), whatever the run gives.

    python demos/text_as_representation.py [--quick] [--seeds 3] [--steps 1000] [--lm-weight 1]
"""
from __future__ import annotations

import math

import numpy as np

from common import (claim, nonneg_float, one_blas_thread, parse_args, plt, positive_int, print_claims,
                    print_table, save_metrics, savefig)

import minissl as ms
from minissl.metrics import mean_ci
from minissl.models.gpt import GPT, GPTConfig, train_lm
from minissl.models.textrep import BOS, PAD, SPECIALS, TextAutoencoder
from minissl.tasks.grammar import Language, Sentence, event_clause, grammar_vocab
from minissl.tensor import no_grad
from minissl.text.collate import causal_lm_collate

KEY_MARKS = ("subj", "verb", "obj")


def settings(quick):
    if quick:
        return dict(n_train=2000, n_lm=3000, n_test=200, steps=250, lm_steps=300, seeds=3)
    return dict(n_train=5000, n_lm=5000, n_test=300, steps=1000, lm_steps=800, seeds=3)


class Vocab:
    def __init__(self):
        self.words = list(SPECIALS) + sorted(set(grammar_vocab("a")))
        self.id = {w: i for i, w in enumerate(self.words)}

    def ids(self, text):
        return [self.id[w] for w in text.split()]

    def text(self, ids):
        return " ".join(self.words[int(i)] for i in ids)


def documents(n, seed, vocab):
    """n generated sentences: ids, text, key word ids (subject, verb, object) and the gold summary ids."""
    rng, lang, out = np.random.default_rng(seed), Language("a"), []
    for _ in range(n):
        c = event_clause(rng, neg=rng.random() < 0.3)
        toks = lang.tokens(Sentence([c]))
        text = " ".join(w for w, _, _ in toks)
        keys = {vocab.id[w] for w, _, m in toks if m in KEY_MARKS}
        core = event_clause(rng, subject=c.info["subj"], verb=c.info["verb"], obj=c.info["obj"], p_adj=0.0,
                            p_pp=0.0, p_rel=0.0)
        out.append(dict(ids=vocab.ids(text), text=text, keys=keys, summary=vocab.ids(lang.text(Sentence([core])))))
    return out


def train_language_model(sentences, steps, seed):
    """A small GPT on real sentences ([BOS] w_1 .. w_n): the readability judge and the discriminator."""
    ms.manual_seed(seed)
    lm = GPT(GPTConfig(vocab_size=len(Vocab().words), block_size=32, n_layer=2, n_head=2, n_embd=64))
    rng = np.random.default_rng(seed)

    def batch(step):
        b = causal_lm_collate([[BOS] + sentences[i] + [PAD] for i in rng.integers(len(sentences), size=32)], PAD)
        return b["input_ids"], b["labels"]
    train_lm(lm, batch, steps, lr=3e-3, progress=False)
    lm.eval()
    return lm


def lm_nll_per_word(model, z):
    """Mean -log p_LM per word of the sequences z (B, L)."""
    return float(-model.lm_logp(z).mean() / z.shape[1])


def keyword_scores(z, docs):
    prec = np.mean([np.mean([w in d["keys"] for w in row]) for row, d in zip(z, docs)])
    rec = np.mean([np.mean([k in set(row.tolist()) for k in d["keys"]]) for row, d in zip(z, docs)])
    return float(prec), float(rec)


def evaluate(model, docs):
    """Arg-max z for every test document; readability, content, reconstruction."""
    z = model.write([d["ids"] for d in docs])
    nll = []
    for zz in (z, z[np.random.default_rng(0).permutation(len(z))]):  # own middles, then another document's
        with no_grad():
            out, labels = model.reader_out(zz, [d["ids"] for d in docs])
        nll.append(float(-model.doc_loglik(out.logits, labels).sum() / int((np.asarray(labels) >= 0).sum())))
    prec, rec = keyword_scores(z, docs)
    return dict(lm_nll=lm_nll_per_word(model, z), key_precision=prec, key_recall=rec, recon_nll=nll[0],
                recon_nll_shuffled=nll[1], distinct=len({tuple(r) for r in z.tolist()}) / len(z)), z


def describe(per, refs, n):
    """One plain paragraph on what the middle sequences turned out to be, from the measured means."""
    def m(arm, key):
        return mean_ci(per[arm][key])["mean"]
    out = []
    for arm in ("plain", "lm"):
        codes = m(arm, "distinct") * n
        used = m(arm, "recon_nll_shuffled") - m(arm, "recon_nll")
        out.append(f"{arm}: about {codes:.0f} distinct middle(s) for {n} test sentences; the reader gains {used:.3f} "
                   f"nats/token from its own middle over another sentence's; key-word recall {m(arm, 'key_recall'):.3f} "
                   f"(gold summary {refs['gold_summary_key_recall']:.3f}); LM nll/word {m(arm, 'lm_nll'):.2f} "
                   f"(real text {refs['real_prefix_lm_nll']:.2f}, random words {refs['random_words_lm_nll']:.2f}).")
    if m("lm", "distinct") * n < 2 and m("lm", "lm_nll") < m("plain", "lm_nll"):
        out.append("The LM reward made the middle readable by writing one sequence for every sentence: readable, "
                   "empty of content. It did not produce summaries here.")
    return "\n".join(out)


def run_arm(train, test, lm, lm_weight, seed, cfg, length, lr):
    ms.manual_seed(seed)
    model = TextAutoencoder(len(Vocab().words), length, lm=lm, lm_weight=lm_weight)
    init, _ = evaluate(model, test)
    opt = ms.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for step in range(cfg["steps"]):
        model.step([train[i]["ids"] for i in rng.integers(len(train), size=16)], opt, rng)
    final, z = evaluate(model, test)
    return init, final, z


def main():
    args = parse_args("text_as_representation", __doc__.splitlines()[0],
                      seeds=(positive_int, None, "seeds per arm (default 3)"),
                      steps=(positive_int, None, "training steps per run (default: 250 quick, 1000 full)"),
                      length=(positive_int, 5, "words in the middle sequence"),
                      lm_weight=(nonneg_float, 1.0, "λ: weight of log p_LM(z) in the writer's reward"),
                      lr=(nonneg_float, 3e-3, "Adam learning rate"))
    one_blas_thread()
    cfg = settings(args.quick)
    cfg["seeds"] = args.seeds or cfg["seeds"]
    cfg["steps"] = args.steps or cfg["steps"]
    vocab = Vocab()
    train = documents(cfg["n_train"], args.seed + 1, vocab)
    lm_text = documents(cfg["n_lm"], args.seed + 2, vocab)   # the LM's "real sentences": a disjoint draw
    test = documents(cfg["n_test"], args.seed + 3, vocab)
    lm = train_language_model([d["ids"] for d in lm_text], cfg["lm_steps"], args.seed)
    judge = TextAutoencoder(len(vocab.words), args.length, lm=lm)  # only its lm_logp is used
    L = args.length
    refs = {"real_prefix_lm_nll": lm_nll_per_word(judge, np.array([d["ids"][:L] for d in test if len(d["ids"]) >= L])),
            "gold_summary_lm_nll": lm_nll_per_word(judge, np.array([(d["summary"] * L)[:L] for d in test]))}
    rz = np.random.default_rng(args.seed).integers(len(SPECIALS), len(vocab.words), size=(len(test), L))
    refs["random_words_lm_nll"] = lm_nll_per_word(judge, rz)
    refs["random_words_key_precision"], refs["random_words_key_recall"] = keyword_scores(rz, test)
    gz = np.array([(d["summary"] * L)[:L] for d in test])
    refs["gold_summary_key_precision"], refs["gold_summary_key_recall"] = keyword_scores(gz, test)

    arms = {"plain": 0.0, "lm": args.lm_weight}
    runs = {a: [] for a in arms}
    examples = {}
    for s in range(cfg["seeds"]):
        for arm, lam in arms.items():
            init, final, z = run_arm(train, test, lm, lam, args.seed + 100 * s, cfg, L, args.lr)
            runs[arm].append({"init": init, "final": final})
            print(f"seed {s} {arm:5s} " + " ".join(f"{k}={v:.3f}" for k, v in final.items()), flush=True)
            if s == 0:
                examples[arm] = [vocab.text(row) for row in z[:6]]
    metric_names = list(runs["plain"][0]["final"])
    per = {arm: {m: [r["final"][m] for r in rs] for m in metric_names} for arm, rs in runs.items()}
    init = {m: [r["init"][m] for r in runs["plain"]] for m in metric_names}

    def diff(a, b):
        return [x - y for x, y in zip(a, b)]
    claims = [
        claim("plain: middle less readable than real text (LM nll/word, plain − real prefixes)",
              [v - refs["real_prefix_lm_nll"] for v in per["plain"]["lm_nll"]]),
        claim("LM reward makes the middle more readable (LM nll/word, plain − lm)",
              diff(per["plain"]["lm_nll"], per["lm"]["lm_nll"])),
        claim("LM reward raises key-word recall (lm − plain)", diff(per["lm"]["key_recall"], per["plain"]["key_recall"])),
        claim("LM reward raises key-word precision (lm − plain)",
              diff(per["lm"]["key_precision"], per["plain"]["key_precision"])),
        claim("LM reward costs reconstruction (nll/token, lm − plain)", diff(per["lm"]["recon_nll"],
                                                                             per["plain"]["recon_nll"])),
        claim("plain reader uses the middle (nll/token, another document's middle − its own)",
              diff(per["plain"]["recon_nll_shuffled"], per["plain"]["recon_nll"])),
        claim("lm reader uses the middle (nll/token, another document's middle − its own)",
              diff(per["lm"]["recon_nll_shuffled"], per["lm"]["recon_nll"])),
        claim("plain middle holds more key words than random words (recall, plain − random)",
              [v - refs["random_words_key_recall"] for v in per["plain"]["key_recall"]]),
        claim("plain middle depends on the document (share of distinct middles − 1/N)",
              [v - 1 / len(test) for v in per["plain"]["distinct"]]),
        claim("lm middle depends on the document (share of distinct middles − 1/N)",
              [v - 1 / len(test) for v in per["lm"]["distinct"]]),
    ]
    rows = []
    for name, vals in [("random init", init), ("plain", per["plain"]), ("lm", per["lm"])]:
        rows.append([name] + [f"{mean_ci(vals[m])['mean']:.3f}" for m in metric_names])
    rows.append(["gold summary", f"{refs['gold_summary_lm_nll']:.3f}", f"{refs['gold_summary_key_precision']:.3f}",
                 f"{refs['gold_summary_key_recall']:.3f}", "", "", ""])
    rows.append(["random words", f"{refs['random_words_lm_nll']:.3f}", f"{refs['random_words_key_precision']:.3f}",
                 f"{refs['random_words_key_recall']:.3f}", "", "", ""])
    rows.append(["real prefixes", f"{refs['real_prefix_lm_nll']:.3f}", "", "", "", "", ""])
    print_table(rows, ["arm"] + metric_names, title=f"Test sentences ({len(test)}), means over {cfg['seeds']} seeds")
    for i in range(6):
        print(f"  x: {test[i]['text']}\n     plain z: {examples['plain'][i]}\n     lm z:    {examples['lm'][i]}")
    print_claims(claims)
    finding = describe(per, refs, len(test))
    print("\n" + finding)

    fig, axes = plt().subplots(1, 4, figsize=(14, 3.4))
    for ax, m, title in zip(axes, ["lm_nll", "key_recall", "key_precision", "recon_nll"],
                            ["readability: LM nll/word (lower = more readable)", "key-word recall",
                             "key-word precision", "reconstruction nll/token"]):
        names = ["init", "plain", "lm"]
        cis = [mean_ci(v[m]) for v in (init, per["plain"], per["lm"])]
        ax.bar(names, [c["mean"] for c in cis], color=["grey", "tab:red", "tab:blue"],
               yerr=[[c["mean"] - (c["lo"] if c["lo"] is not None else c["mean"]) for c in cis],
                     [(c["hi"] if c["hi"] is not None else c["mean"]) - c["mean"] for c in cis]], capsize=4)
        ref = {"lm_nll": "gold_summary_lm_nll", "key_recall": "gold_summary_key_recall",
               "key_precision": "gold_summary_key_precision"}.get(m)
        if ref:
            ax.axhline(refs[ref], color="green", ls="--", label="gold summary")
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    savefig(fig, args, "text_as_representation.png")

    metrics = {"settings": {**cfg, "length": L, "lm_weight": args.lm_weight, "lr": args.lr},
               "references": refs,
               "per_seed": {"init": init, **per},
               "intervals": {arm: {m: mean_ci(v[m]) for m in metric_names}
                             for arm, v in [("init", init), ("plain", per["plain"]), ("lm", per["lm"])]},
               "plain_lm_nll": mean_ci(per["plain"]["lm_nll"]), "lm_lm_nll": mean_ci(per["lm"]["lm_nll"]),
               "plain_key_recall": mean_ci(per["plain"]["key_recall"]),
               "lm_key_recall": mean_ci(per["lm"]["key_recall"]),
               "plain_recon_nll": mean_ci(per["plain"]["recon_nll"]), "lm_recon_nll": mean_ci(per["lm"]["recon_nll"]),
               "examples": [{"x": test[i]["text"], "plain": examples["plain"][i], "lm": examples["lm"][i]}
                            for i in range(6)],
               "claims": claims, "finding": finding, "perplexity_note": "perplexity = exp(nll/word); "
               f"plain {math.exp(mean_ci(per['plain']['lm_nll'])['mean']):.1f}, "
               f"lm {math.exp(mean_ci(per['lm']['lm_nll'])['mean']):.1f}"}
    print("metrics:", save_metrics(args, metrics))


if __name__ == "__main__":
    main()
