"""Pre-train a seq2seq Transformer by restoring corrupted text (BART, MASS), then fine-tune it.

1. Pre-training: the encoder reads a damaged document, the decoder writes the
   clean one. Each step uses one objective in turn: BART's token masking,
   token deletion, text infilling, sentence permutation, document rotation,
   BART's recipe (infilling + permutation) and MASS (write only the masked span).
2. Restoration on held-out documents, per objective: token accuracy and exact
   match of the whole restored text (greedy decoding with the KV cache), and a
   few corrupted inputs next to the model's restoration. Exact match has a
   ceiling below 1 wherever the noise destroys information: a masked place or
   adjective is one of many equally likely words, MASS hides half the text.
   Permutation and rotation lose (almost) nothing, so they come closest.
3. Fine-tuning on a labelled seq2seq task the grammar generates with ground
   truth (sentence -> its negation, "the fox ate the pear ." -> "the fox did
   not eat the pear .") from a small labelled set: the pre-trained model
   against the same network from scratch, test exact match and loss curves.

Seeds (``--seeds``, default 5; ``--quick``: 1). Each seed ``--seed + k`` runs the
whole pipeline above with that seed: its own corpus draw, pre-training, both
fine-tuning arms and test set, so ``--seeds 5`` gives seed for seed what five
``--seed K --seeds 1`` runs give. The claim "pre-trained beats scratch" is the
mean over seeds of the per-seed difference in test exact match,

    d_k = EM_pretrained(seed k) - EM_scratch(seed k),   mean(d) ± t_{0.975, n-1} · s / √n,

an interval that covers training noise (initialisation, batches, corpus draw).
One seed (``--quick``) gives no such interval: the claim is then judged by a paired
bootstrap over the 200 test sentences, which covers the test sample only. The
restoration scores are reported per seed and as mean [95% interval]; the printed
examples and the figure show the first seed. The default run costs about 750 s of
CPU on one thread (EXPERIMENTS.md has its numbers); separate processes per seed,
merged with ``--merge``, split that over cores.

    python demos/seq2seq_denoise.py [--quick] [--seeds N] [--corpus grammar|pydoc|FILE.txt]
    # or the seeds as separate processes, then one judgement over all of them:
    python demos/seq2seq_denoise.py --seed 0 --seeds 1 --out runs/s2s_0   (and --seed 1, 2, ... likewise)
    python demos/seq2seq_denoise.py --merge runs/s2s_0,runs/s2s_1,...
"""
from __future__ import annotations

import argparse
import functools
import os

import numpy as np

from common import (claim, claim_paired, comma_list, load_runs, multiple_of, parse_args, plt, positive_int,
                    print_claims, print_table, prob, run_folders, save_metrics, savefig, text_file_or_folder)
import minissl as ms  # noqa: I001 (after common, which turns a bad MINISSL_BACKEND into one line)
from minissl.metrics import mean_ci
from minissl.models.seq2seq import Seq2SeqTransformer
from minissl.models.seq2seq_decode import greedy_search
from minissl.text.denoising import NOISES, DenoisingObjective, seq2seq_batch
from minissl.train import fit, make_optimizer

CLAIM = "pre-trained fine-tunes to a higher test exact match than scratch"
ARMS = ("pretrained", "scratch")


def corpus_name(text):
    """--corpus: "grammar", "pydoc", or a UTF-8 text file or folder (vetted by common.text_file_or_folder)."""
    if text in ("grammar", "pydoc"):
        return text
    if not os.path.exists(text):  # most likely a misspelt name, so say what the names are
        raise argparse.ArgumentTypeError(f"{text!r} is neither grammar, pydoc nor an existing file or folder")
    return text_file_or_folder(text)


@functools.lru_cache(maxsize=1)
def text_corpus(name):
    """(corpus, WordPiece tokenizer) of a text corpus; neither depends on the seed, so seeds share them."""
    from minissl.text import WordPieceTokenizer, load_pydoc_corpus, load_text_corpus
    corpus = load_pydoc_corpus("all") if name == "pydoc" else load_text_corpus(name)
    return corpus, WordPieceTokenizer.train(corpus.sentences(), vocab_size=2000)


def load_corpus(name, seed, n_docs, n_heldout, max_len):
    """(tokenizer, encode, train docs, held-out docs); a doc is a list of sentences, each a list of ids."""
    if name == "grammar":
        from minissl.tasks import grammar_corpus, grammar_tokenizer
        tok = grammar_tokenizer()
        texts = grammar_corpus(n_docs + 2 * n_heldout, seed=seed, sentences=(2, 3))
        # Every grammar word is one vocabulary token: splitting on spaces is exact
        # (and much faster than running WordPiece on 20,000 sentences).
        encode = lambda s: tok.convert_tokens_to_ids(s.split())  # noqa: E731
    else:
        corpus, tok = text_corpus(name)
        # Two consecutive sentences of one document: permutation has a true order to restore.
        texts = [d[i:i + 2] for d in corpus.documents for i in range(0, len(d), 2)]
        np.random.default_rng(seed).shuffle(texts)
        encode = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    docs = [[encode(s) for s in d] for d in texts]
    docs = [d if sum(map(len, d)) <= max_len else d[:1] for d in docs]  # too long: keep one sentence
    docs = [d for d in docs if 0 < sum(map(len, d)) <= max_len]
    n_heldout = min(n_heldout, len(docs) // 10)  # a small corpus keeps most of its text for training
    train = docs[:-2 * n_heldout]
    seen = {str(d) for d in train}
    heldout = [d for d in docs[-2 * n_heldout:] if str(d) not in seen][:n_heldout]  # never trained on
    return tok, encode, train, heldout


def words(tok, ids):
    return tok.decode(ids) if ids else "(nothing)"


def restore(model, obj, docs, ids, batch=100):
    """Corrupt ``docs`` with ``obj``; greedy restoration -> (token accuracy, exact match, examples)."""
    correct = total = exact = 0
    shown = []
    for i in range(0, len(docs), batch):
        pairs = [obj.corrupt(d) for d in docs[i:i + batch]]
        b = seq2seq_batch(pairs, ids["pad"], ids["bos"], ids["eos"])
        if obj.name == "mass":  # the span only, written at the span's positions, no [EOS]
            starts = [int(np.flatnonzero(np.asarray(src) == ids["mask"])[0]) for src, _ in pairs]
            out = greedy_search(model, b["input_ids"], b["attention_mask"], bos_id=ids["mask"], eos_id=None,
                                max_new_tokens=max(len(t) for _, t in pairs), position_start=starts)
            out = [o[:len(t)] for o, (_, t) in zip(out, pairs)]
        else:
            out = greedy_search(model, b["input_ids"], b["attention_mask"], bos_id=ids["bos"], eos_id=ids["eos"],
                                max_new_tokens=max(len(t) for _, t in pairs) + 8)
        for (src, tgt), pred in zip(pairs, out):
            correct += sum(p == t for p, t in zip(pred, tgt))
            total += max(len(pred), len(tgt))  # a missing or extra token counts as wrong
            exact += pred == tgt
            shown.append((src, tgt, pred))
    return correct / total, exact / len(docs), shown


def train(model, batches, steps, lr, desc, log_every=10, evaluate=None, eval_every=100):
    """AdamW, linear warm-up and decay, gradient clipping (minissl.train.fit).

    Returns (step, smoothed loss) points and, with ``evaluate(model)``, (step, score) points."""
    opt, sched = make_optimizer(model, lr, weight_decay=0.01, betas=(0.9, 0.999), warmup=max(1, steps // 20),
                                total_steps=steps, decay="linear")
    hist = fit(model, batches, steps, loss_fn=lambda m, batch: m(**batch).loss, optimizer=opt, scheduler=sched,
               grad_clip=1.0, eval_fn=evaluate, eval_every=eval_every, desc=desc)
    curve, avg = [], None
    for step, loss in enumerate(hist["loss"]):  # exponential moving average: the trend under the batch noise
        avg = loss if avg is None else 0.9 * avg + 0.1 * loss
        if step % log_every == 0 or step == steps - 1:
            curve.append((step, avg))
    return curve, list(zip(hist["eval_step"], hist["eval"]))


def run_seed(S, seed):
    """The whole pipeline on one seed: corpus draw, pre-training, restoration, both fine-tuning arms, test.

    Returns (numbers, shown): ``numbers`` is what metrics.json keeps per seed (restoration per
    objective, test exact match per arm and its per-sentence hits); ``shown`` holds the curves,
    examples and tokenizer behind the first seed's tables and figure."""
    names = S["objectives"]
    rng = np.random.default_rng(seed)
    tok, encode, docs, heldout = load_corpus(S["corpus"], seed, S["n_docs"], S["n_heldout"], 60)
    v = tok.vocab
    ids = {"pad": v["[PAD]"], "bos": v["[CLS]"], "eos": v["[SEP]"], "mask": v["[MASK]"]}
    objs = {n: DenoisingObjective(n, ids["mask"], ids["pad"], ids["bos"], ids["eos"], seed=seed + k)
            for k, n in enumerate(names)}
    print(f"\nseed {seed}: corpus {S['corpus']}: {len(docs)} training documents, {len(heldout)} held out, "
          f"vocabulary {len(tok)}")

    def build():
        ms.manual_seed(seed)  # the same initial weights for the pre-trained and the scratch model
        return Seq2SeqTransformer(len(tok), S["d_model"], 4, 2, 2, 2 * S["d_model"], S["dropout"], max_position=72,
                                  pad_id=ids["pad"])

    # ---- 1. pre-training: one objective per step, in turn
    model = build()
    print(f"model: {model.num_parameters():,} parameters; pre-training {S['steps']} steps on {names}")

    def pretrain_batch(step):
        return objs[names[step % len(names)]]([docs[j] for j in rng.integers(len(docs), size=32)])

    pre_curve, _ = train(model, pretrain_batch, S["steps"], 3e-3, "pre-train")

    # ---- 2. restoration of held-out documents, per objective
    acc, em, examples = {}, {}, {}
    for n, obj in objs.items():
        obj.rng = np.random.default_rng(10_000 + seed)  # the same corruptions every run
        acc[n], em[n], examples[n] = restore(model, obj, heldout, ids)

    # ---- 3. fine-tuning on sentence -> negation: pre-trained vs scratch
    from minissl.tasks.core import load_task
    task = load_task("negation", n_train=S["n_labelled"], n_dev=0, n_test=200, seed=seed)
    train_pairs = [(encode(e["source"]), encode(e["target"])) for e in task.train]
    test_pairs = [(encode(e["source"]), encode(e["target"])) for e in task.test]

    # Both arms see the same batches in the same order: one fixed list of draws, not a shared stream.
    picks = np.random.default_rng(20_000 + seed).integers(len(train_pairs), size=(S["ft_steps"], 16))

    def ft_batch(step):
        return seq2seq_batch([train_pairs[j] for j in picks[step]], ids["pad"], ids["bos"], ids["eos"])

    def test_exact(m):
        b = seq2seq_batch(test_pairs, ids["pad"], ids["bos"], ids["eos"])
        out = greedy_search(m, b["input_ids"], b["attention_mask"], bos_id=ids["bos"], eos_id=ids["eos"],
                            max_new_tokens=max(len(t) for _, t in test_pairs) + 4)
        return float(np.mean([o == t for o, (_, t) in zip(out, test_pairs)])), out

    curves, progress, ft, hits = {}, {}, {}, {}
    for name, m in (("pretrained", model), ("scratch", build())):
        curves[name], progress[name] = train(m, ft_batch, S["ft_steps"], 2e-3, f"fine-tune {name}", log_every=5,
                                             evaluate=lambda m: test_exact(m)[0],
                                             eval_every=max(1, S["ft_steps"] // 8))
        ft[name], out = test_exact(m)
        hits[name] = [int(o == t) for o, (_, t) in zip(out, test_pairs)]
        if name == "pretrained":
            sample = [(task.test[i]["source"], words(tok, out[i])) for i in range(3)]
    numbers = {"seed": seed, "restore_exact_match": em, "restore_token_accuracy": acc, "finetune": ft,
               "test_hits": hits, "finetune_progress": {k: [list(p) for p in c] for k, c in progress.items()},
               "n_train_docs": len(docs), "n_heldout": len(heldout), "n_labelled": len(train_pairs),
               "n_test": len(test_pairs), "parameters": model.num_parameters()}
    shown = {"tok": tok, "examples": examples, "sample": sample, "pre_curve": pre_curve, "curves": curves}
    return numbers, shown


def print_examples(shown, names):
    """The first seed's restorations (a few of one noise, then one example per other noise) and fine-tuned outputs."""
    tok, examples = shown["tok"], shown["examples"]
    show = "bart" if "bart" in examples else names[0]
    print(f"\nCorrupted input -> restoration ({show}); * = exact")
    for src, tgt, pred in examples[show][:5]:
        print(f"  in : {words(tok, src)}\n  out: {words(tok, pred)}{'  *' if pred == tgt else ''}")
    first = {n: next((e for e in ex if e[0] != e[1]), ex[0]) for n, ex in examples.items()}  # visibly corrupted
    others = [(n, words(tok, first[n][0]), words(tok, first[n][2])) for n in names if n != show]
    if others:
        print_table(others, ["noise", "corrupted input", "restored (MASS: the span)"], "One example per noise")
    print("\nFine-tuned (pre-trained) negations of test sentences:")
    for s, o in shown["sample"]:
        print(f"  {s}  ->  {o}")


def mean_and_interval(values):
    """One value as it is; several as "mean [lo, hi]" (95% t interval over seeds)."""
    ci = mean_ci(values)
    return f"{ci['mean']:.3f}" if ci["lo"] is None else f"{ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]"


def judge(per_seed):
    """The claims row: over 2+ seeds the mean per-seed difference with its t interval; over one seed
    the paired bootstrap over that seed's test sentences (test noise only: said in ``where``)."""
    if len(per_seed) == 1:
        r = per_seed[0]
        return [claim_paired(CLAIM, r["test_hits"]["pretrained"], r["test_hits"]["scratch"], seed=r["seed"],
                             where="one seed: the interval covers the test sentences, not training noise")]
    return [claim(CLAIM, [r["finetune"]["pretrained"] - r["finetune"]["scratch"] for r in per_seed],
                  where=f"{len(per_seed)} seeds: 95% t interval over training seeds")]


def report(args, S, per_seed, extra):
    """Per-seed and mean tables, the claims table and metrics.json, for one process's seeds or merged runs."""
    seeds = [r["seed"] for r in per_seed]
    names = S["objectives"]
    several = len(seeds) > 1
    summary = {key: {n: mean_ci([r[key][n] for r in per_seed]) for n in names}
               for key in ("restore_exact_match", "restore_token_accuracy")}
    summary["finetune"] = {a: mean_ci([r["finetune"][a] for r in per_seed]) for a in ARMS}
    summary["difference"] = mean_ci([r["finetune"]["pretrained"] - r["finetune"]["scratch"] for r in per_seed])
    over = f"mean [95% t interval] over seeds {', '.join(map(str, seeds))}" if several else f"seed {seeds[0]}"
    print_table([(n, mean_and_interval([r["restore_token_accuracy"][n] for r in per_seed]),
                  mean_and_interval([r["restore_exact_match"][n] for r in per_seed]),
                  *([" ".join(f"{r['restore_exact_match'][n]:.3f}" for r in per_seed)] if several else []))
                 for n in names],
                ["noise", "token accuracy", "exact match", *(["exact match per seed"] if several else [])],
                f"Restoring {per_seed[0]['n_heldout']} held-out documents (greedy decoding), {over}")
    rows = [(r["seed"], r["finetune"]["pretrained"], r["finetune"]["scratch"],
             f"{r['finetune']['pretrained'] - r['finetune']['scratch']:+.3f}") for r in per_seed]
    if several:
        rows.append(("mean [95%]", *(mean_and_interval([r["finetune"][a] for r in per_seed]) for a in ARMS),
                     mean_and_interval([r["finetune"]["pretrained"] - r["finetune"]["scratch"] for r in per_seed])))
    print_table(rows, ["seed", "pre-trained", "from scratch", "difference"],
                f"Fine-tuning on sentence -> negation, test exact match ({per_seed[0]['n_labelled']} labelled "
                f"pairs, {S['ft_steps']} steps, {per_seed[0]['n_test']} test sentences)")
    claims = judge(per_seed)
    if several:
        title = f"Claims (95% t interval over {len(seeds)} training seeds: {', '.join(map(str, seeds))})"
    else:
        title = (f"Claims (one seed{', as --quick runs' if S['quick'] else ''}: paired bootstrap over "
                 f"{per_seed[0]['n_test']} test sentences; the default run judges 5 seeds)")
    print_claims(claims, title=title)
    metrics = {"claims": claims, "seeds": seeds, "settings": S, "per_seed": per_seed, "summary": summary,
               # the means, for the tour's report
               "restore_exact_match": {n: summary["restore_exact_match"][n]["mean"] for n in names},
               "restore_token_accuracy": {n: summary["restore_token_accuracy"][n]["mean"] for n in names},
               "finetune": {a: summary["finetune"][a]["mean"] for a in ARMS},
               "parameters": per_seed[0]["parameters"], **extra}
    print(f"\nmetrics: {save_metrics(args, metrics)}")
    return metrics


def figure(args, S, first, numbers, per_seed):
    """Pre-training and fine-tuning curves of the first seed, and every seed's test exact match per arm."""
    pyplot = plt()
    fig, (a1, a2, a3, a4) = pyplot.subplots(1, 4, figsize=(21, 4))
    seed = numbers["seed"]
    a1.plot(*zip(*first["pre_curve"]))
    a1.set(title=f"Denoising pre-training ({len(S['objectives'])} objectives in turn), seed {seed}", xlabel="step",
           ylabel="loss (smoothed)")
    for name, c in first["curves"].items():
        a2.plot(*zip(*c), label=f"{name}: test exact match {numbers['finetune'][name]:.2f}")
    a2.set(title=f"Fine-tuning: sentence -> negation, seed {seed}", xlabel="step",
           ylabel="training loss (smoothed)", yscale="log")
    a2.legend()
    for name, c in numbers["finetune_progress"].items():
        a3.plot(*zip(*c), marker="o", label=name)
    a3.set(title=f"Fine-tuning: test exact match, seed {seed}", xlabel="step", ylabel="exact match", ylim=(0, 1))
    a3.legend()
    for r in per_seed:  # one line per seed: scratch on the left, pre-trained on the right
        a4.plot([0, 1], [r["finetune"]["scratch"], r["finetune"]["pretrained"]], "o-", color="C0", alpha=0.7)
    a4.set(title=f"Test exact match, each of {len(per_seed)} seed(s)", xticks=[0, 1],
           xticklabels=["from scratch", "pre-trained"], xlim=(-0.3, 1.3), ylim=(0, 1), ylabel="exact match")
    savefig(fig, args, "loss_curves.png")


def merge(args):
    """--merge: runs of one configuration made as separate processes (say one seed each), judged as one run.

    The examples and figures stay in each run's folder (they show that run's first seed)."""
    runs = load_runs(args.merge, "seq2seq_denoise")
    per_seed = [r for m in runs for r in m["per_seed"]]
    print(f"{len(per_seed)} seeds from {len(runs)} runs: {', '.join(args.merge)}")
    return report(args, runs[0]["settings"], per_seed,
                  {"merged_from": args.merge, "run_seconds": [m["seconds"] for m in runs]})


def main():
    args = parse_args("seq2seq_denoise", __doc__.split("\n")[0],
                      corpus=(corpus_name, "grammar",
                              "grammar (default), pydoc, or a UTF-8 text file or folder of .txt files"),
                      objectives=(comma_list(*NOISES), ",".join(NOISES), "comma-separated pre-training objectives"),
                      steps=(positive_int, None, "pre-training steps (default 1500, --quick 600)"),
                      ft_steps=(positive_int, None, "fine-tuning steps per model (default 400, --quick 200)"),
                      n_labelled=(positive_int, 100, "labelled examples for fine-tuning"),
                      d_model=(multiple_of(4), 128, "model width (4 attention heads)"),
                      dropout=(prob, 0.0, "dropout (the pre-training stream never repeats a batch)"),
                      seeds=(positive_int, None, "seeds --seed, --seed + 1, ..., each the whole pipeline "
                                                 "(default 5, --quick 1)"),
                      merge=(run_folders, None, "train nothing: judge the claim over the seeds of earlier runs, "
                                                "their --out folders comma-separated (seeds run as separate "
                                                "processes)"))
    if args.merge:
        return merge(args)
    # Everything that makes two runs one configuration: --merge refuses runs whose settings differ.
    S = {"corpus": args.corpus, "objectives": [n.strip() for n in args.objectives.split(",") if n.strip()],
         "steps": args.steps or (600 if args.quick else 1500),
         "ft_steps": args.ft_steps or (200 if args.quick else 400),
         "n_labelled": args.n_labelled, "d_model": args.d_model, "dropout": args.dropout,
         "n_docs": 3000 if args.quick else 8000, "n_heldout": 100 if args.quick else 300, "quick": args.quick}
    per_seed = []
    for k in range(args.seeds or (1 if args.quick else 5)):
        numbers, shown = run_seed(S, args.seed + k)
        per_seed.append(numbers)
        print(f"seed {numbers['seed']}: test exact match pre-trained {numbers['finetune']['pretrained']:.3f}, "
              f"scratch {numbers['finetune']['scratch']:.3f}; restoration exact match "
              + ", ".join(f"{n} {v:.3f}" for n, v in numbers["restore_exact_match"].items()), flush=True)
        if k == 0:
            first = shown
    print_examples(first, S["objectives"])
    figure(args, S, first, per_seed[0], per_seed)
    return report(args, S, per_seed, {})


if __name__ == "__main__":
    main()
