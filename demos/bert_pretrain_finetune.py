"""Pre-train a small BERT by filling in blanks, then fine-tune it on five tasks: does it help?

The lecture's experiment: the same network, fine-tuned on 200 labelled examples
per task, once from pre-trained weights and once from random weights
("scratch"), next to what a practitioner would try without any network.

Pre-training is BERT's standard objective and nothing else: 15% of the tokens
chosen at random, 80% of those replaced by [MASK], 10% by a random token, 10%
kept (``mask_tokens``), plus sentence order (SOP; ``--nsp`` for next-sentence
prediction). The text is the grammar's unlabelled stories, facts and two-sense
sentences (``grammar_corpus``; half the stories keep one mood throughout, as
reviews do). No task input is in it, and every sentence that occurs in a test or
validation input of any task is removed from it (``without_held_out``).

The tasks (``minissl.tasks``; each generator's docstring says how it is built
and why) are fixed: sentiment (negation decides), POS tagging, NLI (hypernyms,
antonyms), extractive QA over a short story, DNA (which of two motifs with the
same letters is planted). Beside every task:

- majority class;
- the strongest cheap baseline: scikit-learn 1-3-gram logistic regression
  (words; characters of the DNA sequence), C chosen on validation; for POS the
  most frequent tag of each word; for QA a few-line rule (``qa_rule``);
- the random-init control: the same network fine-tuned from scratch.

Protocol: 5 seeds. A seed draws the task data, the pre-training text, the
pre-training run and both fine-tuning runs; the two fine-tuning arms get the
very same batches in the same order. The fine-tuning learning rate of each arm
is chosen on the validation split of the first seed; test sets hold 700
examples (standard error <= 0.019) and are scored once. Each claim is read
from the 95% interval of the paired per-seed difference (``mean_ci``,
``verdict``). ``--quick`` shows the mechanics only: 2 seeds, 600 pre-training
steps, 10 epochs at a fixed rate, 300 test examples; its intervals are wide.

    python demos/bert_pretrain_finetune.py [--quick] [--nsp] [--seeds N] [--reuse-pretrained]

Writes runs/bert_pretrain_finetune/{metrics.json, results.png} and each seed's
pre-trained checkpoint (pretrained/ for the first, pretrained-seedN/ for the
others; ``--reuse-pretrained`` reads them back when their settings match).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from tqdm import tqdm

from common import (claim, comma_list, one_blas_thread, parse_args, plt, positive_float, positive_int, print_claims,
                    print_table, prob, save_metrics, savefig)

import minissl as ms
from minissl.metrics import mean_ci
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.models.bert_heads import (BertForQuestionAnswering, BertForSequenceClassification,
                                       BertForTokenClassification, best_span, pad_windows, qa_windows)
from minissl.tasks import baseline_scores, encode_task, grammar_corpus, grammar_tokenizer, load_task
from minissl.tasks.baselines import majority_accuracy, ngram_logreg, qa_rule
from minissl.tasks.corpus import task_inputs, without_held_out
from minissl.text import make_nsp_pairs, make_sop_pairs
from minissl.train import finetune, label_accuracy, pretrain_mlm

TASKS = ("sentiment", "pos", "nli", "qa", "dna")
METRIC = {"sentiment": "accuracy", "pos": "token accuracy", "nli": "accuracy", "qa": "exact match",
          "dna": "accuracy"}
STRONG = {"sentiment": "word 1-3-gram logreg", "nli": "word 1-3-gram logreg (premise | hypothesis)",
          "dna": "char 1-3-gram logreg", "pos": "most frequent tag per word", "qa": "rule (qa_rule)"}
ARMS = ("pretrained", "scratch", "strong", "majority")


def settings(quick):
    """Model and protocol sizes: the default run and the one-minute one."""
    model = dict(hidden=64, layers=2, heads=2, batch=32, lr=2e-3, p_mood=0.5, qa_len=64, n_train=200)
    if quick:
        return dict(model, docs=600, steps=600, epochs=10, lr_grid=(1e-3,), n_dev=100, n_test=300, seeds=2)
    return dict(model, docs=2000, steps=3000, epochs=25, lr_grid=(3e-4, 1e-3, 3e-3), n_dev=200, n_test=700,
                seeds=5)


# ------------------------------------------------------------------ pre-training
def pretraining_examples(tok, S, seed, sentence_task, held_out=()):
    """Unlabelled stories -> [(ids, token_type_ids, sentence_label)], one per sentence pair.

    Sentences that occur in a ``held_out`` text (the test and validation inputs) are dropped first."""
    docs, _ = without_held_out(grammar_corpus(S["docs"], seed=seed, p_mood=S["p_mood"]), held_out)
    pairs = (make_sop_pairs if sentence_task == "sop" else make_nsp_pairs)(docs, seed=seed)
    return [(enc["input_ids"], enc["token_type_ids"], lab) for a, b, lab in pairs
            for enc in [tok.encode_plus(a, b)]]


def pretrain(tok, cfg, S, args, sentence_task, held_out=()):
    """MLM + SOP (or NSP) from random weights, masked the standard way (15%; 80/10/10) on random
    pairs; returns the model and its loss per step."""
    examples = pretraining_examples(tok, S, args.seed, sentence_task, held_out)
    ms.manual_seed(args.seed)
    model = BertForPreTraining(cfg)
    hist = pretrain_mlm(model, examples, tok, S["steps"], batch_size=S["batch"], lr=S["lr"], seed=args.seed,
                        desc=f"pre-train MLM+{sentence_task.upper()} (seed {args.seed})")
    return model, hist["loss"]


# ------------------------------------------------------------------ fine-tuning
def task_data(tok, task, split, qa_len):
    """A split -> model inputs (encode_task). QA: the answer's word index, and overlapping windows
    over the context; for training every window is an example, for testing each document keeps its
    windows (the best span over all of them is the answer)."""
    examples = getattr(task, split)
    if task.name != "qa":
        return encode_task(tok, task, examples)
    ids = lambda text: tok.convert_tokens_to_ids(text.split())  # noqa: E731 - one token per grammar word
    rows = []
    for ex in examples:
        w = len(ex["context"][:ex["answer_start"]].split())
        rows.append(dict(windows=qa_windows(ids(ex["question"]), ids(ex["context"]), cls_id=tok.cls_token_id,
                                            sep_id=tok.sep_token_id, max_length=qa_len, doc_stride=qa_len // 3,
                                            answer=(w, w)), y=w))
    if split != "train":
        return rows
    x, tt, am, s, e = map(ms.backend.to_numpy, pad_windows([w for r in rows for w in r["windows"]], tok.pad_token_id))
    return dict(input_ids=x, attention_mask=am, token_type_ids=tt, start_positions=s, end_positions=e)


def make_model(name, cfg, ckpt, n_labels):
    cls = {"pos": BertForTokenClassification, "qa": BertForQuestionAnswering}.get(name, BertForSequenceClassification)
    kw = {} if name == "qa" else {"num_labels": n_labels}
    return cls.from_pretrained(ckpt, **kw) if ckpt else cls(cfg, **kw)


def fine_tune(name, cfg, ckpt, n_labels, train, epochs, lr, seed):
    """One fine-tuning run from ``ckpt`` (None: random weights).

    Two random streams, seeded apart: ``ms.manual_seed`` draws the new weights
    (the head; everything for scratch) and then the dropout masks; the batch
    order comes from ``np.random.default_rng(seed)`` inside ``finetune``. So the
    pre-trained and the scratch arm see the same batches in the same order."""
    ms.manual_seed(seed)
    model = make_model(name, cfg, ckpt, n_labels)
    ms.manual_seed(seed + 1)  # dropout starts from the same state in both arms, whatever the init drew
    finetune(model, train, epochs=epochs, batch_size=16, lr=lr, seed=seed, progress=False)
    return model


@ms.no_grad()
def evaluate(name, model, data, pad):
    model.eval()
    if name == "qa":  # all windows of all documents, best span per document
        wins = [(i, w) for i, r in enumerate(data) for w in r["windows"]]
        best = {}
        for k in range(0, len(wins), 64):
            chunk = wins[k:k + 64]
            x, tt, am, _, _ = pad_windows([w for _, w in chunk], pad)
            out = model(x, am, tt)
            sl, el = out.start_logits.numpy(), out.end_logits.numpy()
            for j, (i, w) in enumerate(chunk):
                allowed = np.zeros(x.shape[1], bool)
                allowed[w["offset"]:w["offset"] + w["n"]] = True
                s, e, score = best_span(sl[j], el[j], allowed, max_answer_len=4)
                if i not in best or score > best[i][2]:
                    best[i] = (s - w["offset"] + w["first"], e - w["offset"] + w["first"], score)
        return float(np.mean([best[i][:2] == (r["y"], r["y"]) for i, r in enumerate(data)]))
    return label_accuracy(model, data, batch_size=64)  # POS: of the words' first tokens


# ------------------------------------------------------------------ baselines
def baselines(task, seed):
    """Test scores of the majority class and of the strongest cheap baseline (STRONG)."""
    name = task.name
    if name == "pos":
        return {"majority": baseline_scores(task)["majority"],
                "strong": baseline_scores(task)["per_word_majority"]}
    if name == "qa":
        rule = [qa_rule(e["question"], e["context"]) == e["answer_text"] for e in task.test]
        return {"majority": baseline_scores(task)["first_noun_em"],  # QA has no classes: "first noun" stands in
                "strong": float(np.mean(rule))}
    pick = {"nli": lambda e: (e["premise"], e["hypothesis"]), "dna": lambda e: e["sequence"]}
    x = pick.get(name, lambda e: e["text"])
    split = lambda ex: ([x(e) for e in ex], [e["label"] for e in ex])  # noqa: E731
    analyzer = "char" if name == "dna" else "word"
    r = ngram_logreg(split(task.train), split(task.dev), split(task.test), analyzer, seed=seed)
    return {"majority": majority_accuracy(split(task.train)[1], split(task.test)[1]), "strong": r["accuracy"]}


def fmt(ci):
    """A mean (``mean_ci``) or a claims row's difference, with its 95% interval."""
    mean = ci["mean"] if "mean" in ci else ci["value"]
    return f"{mean:.3f}" + ("" if ci["lo"] is None else f" [{ci['lo']:.3f}, {ci['hi']:.3f}]")


def main():
    args = parse_args("bert_pretrain_finetune", __doc__.splitlines()[0],
                      nsp=(bool, False, "pre-train with next-sentence prediction instead of sentence order"),
                      reuse_pretrained=(bool, False, "reuse the saved pre-trained checkpoints if they match"),
                      tasks=(comma_list(*TASKS), ",".join(TASKS), "comma-separated tasks to fine-tune on"),
                      seeds=(positive_int, None, "seeds, each a full repeat (default 5; 2 with --quick)"),
                      epochs=(positive_int, None, "fine-tuning epochs (default: by size)"),
                      steps=(positive_int, None, "pre-training steps (default: by size)"),
                      lr=(positive_float, None, "pre-training learning rate (default 2e-3)"),
                      p_mood=(prob, None, "fraction of stories with one consistent mood (default 0.5)"))
    one_blas_thread()
    S = settings(args.quick)
    S.update({k: v for k in ("seeds", "epochs", "steps", "lr", "p_mood") if (v := getattr(args, k)) is not None})
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = [args.seed + i for i in range(S["seeds"])]
    sentence_task = "nsp" if args.nsp else "sop"
    tok = grammar_tokenizer()
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=S["hidden"], num_hidden_layers=S["layers"],
                     num_attention_heads=S["heads"], intermediate_size=4 * S["hidden"], max_position_embeddings=128)

    scores = {t: {a: [] for a in ARMS} for t in tasks}
    chosen_lr, val_scores, pre_losses = {}, {}, {}
    for s in seeds:
        # 1. this seed's labelled data; its test and validation inputs are kept out of pre-training
        data = {t: load_task(t, n_train=S["n_train"], n_dev=S["n_dev"], n_test=S["n_test"], seed=s) for t in tasks}
        held_out = [x for t, task in data.items() for e in task.dev + task.test for x in task_inputs(t, e)]
        # 2. pre-train (or reuse a matching checkpoint)
        ckpt = os.path.join(args.out, "pretrained" if s == seeds[0] else f"pretrained-seed{s}")
        run = {"config": cfg.to_dict(), "steps": S["steps"], "docs": S["docs"], "lr": S["lr"], "p_mood": S["p_mood"],
               "sentence_task": sentence_task, "seed": s}
        if args.reuse_pretrained and os.path.exists(os.path.join(ckpt, "run.json")) and \
                json.load(open(os.path.join(ckpt, "run.json"))) == run:
            pre_losses[s] = json.load(open(os.path.join(ckpt, "pretrain_losses.json")))
        else:
            model, pre_losses[s] = pretrain(tok, cfg, S, argparse.Namespace(**{**vars(args), "seed": s}), sentence_task,
                                              held_out)
            model.save_pretrained(ckpt)
            tok.save(os.path.join(ckpt, "vocab.txt"))
            json.dump(pre_losses[s], open(os.path.join(ckpt, "pretrain_losses.json"), "w"))
            json.dump(run, open(os.path.join(ckpt, "run.json"), "w"))
        # 3. fine-tune both arms; the learning rate of each arm is chosen once, on the first seed's validation split
        for t in tqdm(tasks, desc=f"fine-tune (seed {s})", ncols=90):
            task = data[t]
            train, dev, test = (task_data(tok, task, split, S["qa_len"]) for split in ("train", "dev", "test"))
            n_labels = len(task.label_names) if task.label_names else 2
            for arm, path in (("pretrained", ckpt), ("scratch", None)):
                grid = [chosen_lr[(t, arm)]] if (t, arm) in chosen_lr else S["lr_grid"]
                models = {lr: fine_tune(t, cfg, path, n_labels, train, S["epochs"], lr, s) for lr in grid}
                if len(grid) > 1:
                    val_scores[(t, arm)] = {lr: evaluate(t, m, dev, tok.pad_token_id) for lr, m in models.items()}
                    chosen_lr[(t, arm)] = max(grid, key=val_scores[(t, arm)].get)
                model = models[chosen_lr.setdefault((t, arm), grid[0])]
                scores[t][arm].append(evaluate(t, model, test, tok.pad_token_id))  # the test split, once
            for arm, v in baselines(task, s).items():
                scores[t][arm].append(v)

    # 4. intervals over seeds and the verdict of each claim, from the paired per-seed differences
    per_seed_avg = {a: np.mean([scores[t][a] for t in tasks], axis=0) for a in ARMS}
    metrics = {"protocol": {"seeds": seeds, "n_train": S["n_train"], "n_dev": S["n_dev"], "n_test": S["n_test"],
                            "epochs": S["epochs"], "lr_grid": list(S["lr_grid"]),
                            "lr_chosen_on_validation": {f"{t}/{a}": lr for (t, a), lr in chosen_lr.items()},
                            "validation_score_by_lr": {f"{t}/{a}": v for (t, a), v in val_scores.items()},
                            "strong_baseline": {t: STRONG[t] for t in tasks}},
               "tasks": {}, "claims": []}
    for t, v in list(scores.items()) + [("average", per_seed_avg)]:
        entry = {"metric": METRIC.get(t, "mean of the above"), **{a: mean_ci(v[a]) for a in ARMS},
                 "pretrained_minus_scratch": claim("pre-trained beats scratch (random init)",
                                                   np.subtract(v["pretrained"], v["scratch"]), where=t),
                 "pretrained_minus_strong": claim(f"pre-trained beats {STRONG.get(t, 'the strong baselines')}",
                                                  np.subtract(v["pretrained"], v["strong"]), where=t)}
        metrics["tasks"][t] = entry
        metrics["claims"] += [entry["pretrained_minus_scratch"], entry["pretrained_minus_strong"]]
    a = metrics["tasks"].pop("average")
    metrics["average"] = {"pretrained": a["pretrained"]["mean"], "scratch": a["scratch"]["mean"],
                          "baseline": a["strong"]["mean"], "intervals": a}
    metrics["pretrain"] = {"steps": S["steps"], "sentence_task": sentence_task, "config": cfg.to_dict(),
                           "final_loss": {s: float(np.mean(l[-50:])) for s, l in pre_losses.items()}}

    # 5. the figure: pre-training loss per seed, and every arm's mean with its 95% interval
    fig, (ax0, ax1) = plt().subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 2.4]})
    for s, ls in pre_losses.items():
        ax0.plot(ls, lw=0.5, label=f"seed {s}")
    ax0.set(title=f"pre-training loss (MLM+{sentence_task.upper()})", xlabel="step", ylabel="loss")
    ax0.legend(fontsize=7)
    names = tasks + ["average"]
    table = {**metrics["tasks"], "average": a}
    for k, (arm, label) in enumerate((("pretrained", "pre-trained"), ("scratch", "scratch (random init)"),
                                      ("strong", "strong cheap baseline"), ("majority", "majority / first noun"))):
        m, lo, hi = (np.array([table[n][arm][q] for n in names], dtype=float) for q in ("mean", "lo", "hi"))
        lo, hi = np.where(np.isnan(lo), m, lo), np.where(np.isnan(hi), m, hi)  # one seed: no interval
        x = np.arange(len(names)) + (k - 1.5) * 0.2
        ax1.bar(x, m, 0.2, label=label, yerr=[m - lo, hi - m], capsize=2)
    ax1.set_xticks(np.arange(len(names)), names)
    ax1.set(ylim=(0, 1.05), ylabel="test score", title=f"mean and 95% interval over {len(seeds)} seeds")
    ax1.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    savefig(fig, args, "results.png")

    # 6. the table: what the intervals support
    rows = [(n, table[n]["metric"], fmt(table[n]["pretrained"]), fmt(table[n]["scratch"]),
             fmt(table[n]["strong"]), f"{table[n]['majority']['mean']:.3f}",
             fmt(table[n]["pretrained_minus_scratch"]), table[n]["pretrained_minus_scratch"]["verdict"],
             fmt(table[n]["pretrained_minus_strong"]), table[n]["pretrained_minus_strong"]["verdict"]) for n in names]
    print_table(rows, ["task", "metric", "pre-trained", "scratch", "strong baseline", "majority*", "pre - scratch",
                       "verdict", "pre - strong", "verdict"],
                title=f"{S['n_train']} labelled examples per task, {len(seeds)} seeds, mean [95% interval]")
    print("* QA has no classes: its 'majority' is the first noun of the story.")
    print("strong baselines: " + "; ".join(f"{t}: {STRONG[t]}" for t in tasks))
    lost = [n for n in names if table[n]["pretrained_minus_strong"]["verdict"] == "does not hold"]
    if lost:
        print(f"At this scale the strong cheap baseline beats pre-training on: {', '.join(lost)}.")
    if args.quick:
        print(f"--quick: {len(seeds)} seed(s), so the intervals are wide (or absent); fine-tuning rate fixed at "
              f"{S['lr_grid'][0]:g}. The default run has 5 seeds and chooses the rate on validation.")
    print_claims(metrics["claims"], title=f"Claims (paired over {len(seeds)} seeds)")
    print(save_metrics(args, metrics))


if __name__ == "__main__":
    main()
