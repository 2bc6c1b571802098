"""T5: one encoder-decoder, pre-trained with span corruption, answers four tasks as text.

1. Pre-training: the seq2seq model of ``minissl.models.seq2seq`` restores the
   spans that T5's span corruption cut out of unlabelled grammar stories (15% of
   the tokens, spans of mean length 3, one sentinel per span). Every sentence of
   every validation and test input and target, of every seed, is removed from
   this text first, so no seed's pre-training reads a test input.
2. Multi-task fine-tuning: ONE model learns four tasks at once, each written as
   text with a prefix and answered in words ("sentiment: ..." -> "positive",
   "nli premise: ... hypothesis: ..." -> "entailment", "negate: ..." -> the
   negated sentence, "qa question: ... context: ..." -> the answer word). Batches
   mix the tasks in proportion to their examples.
3. Controls, on the same labelled examples: the same multi-task model from
   random weights (same batches, same steps); one task-specific model per task,
   fine-tuned from the same pre-trained weights on its task only, for as many of
   its examples as the multi-task model saw (so the four together cost what the
   one costs); majority class; TF-IDF n-gram logistic regression (word or
   character n-grams, whichever is better on validation) for the two
   classification tasks; "first noun of the story" for QA.

Scores are exact match of the greedy answer (for sentiment and NLI that is the
accuracy: an answer that is no label word counts as wrong). Every seed s runs the
whole protocol: it draws its own pre-training corpus (the grammar stories of seed
s + 7919), its own initial weights (``ms.manual_seed(s)``; its scratch arm starts
from the same ones), its own labelled data and its own batch order. The intervals
are 95% t-intervals over those seeds (minissl.metrics.mean_ci), so they include
the pre-training draw (EXPERIMENTS.md shows how far it moves the pre-trained arms).
Settings were chosen with ``--eval-split dev``, which scores the validation split
instead of the test split.

What the default run shows (numbers in EXPERIMENTS.md): the one multi-task model
answers NLI, negation and QA in words; it beats the task-specific models given the
same examples on negation and QA, n-gram logistic regression on NLI and the
first-noun rule on QA; on sentiment it stays below n-gram logistic regression.
Span-corruption pre-training of this length does NOT beat random initialisation:
no task gains significantly. Scratch is ahead on negation and QA in the mean, but
not significantly once each seed draws its own pre-training: the pre-trained arms
spread widely across corpus draws, the scratch arm does not.

    python demos/t5_multitask.py [--quick] [--seeds N] [--eval-split dev]
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from common import (claim, multiple_of, one_blas_thread, one_of, parse_args, plt, positive_float, positive_int,
                    print_claims, print_table, prob, save_metrics, savefig)
import minissl as ms  # noqa: I001 (after common, which turns a bad MINISSL_BACKEND into one line)
from minissl.metrics import mean_ci
from minissl.models.seq2seq import Seq2SeqTransformer
from minissl.models.t5 import (LABEL_WORDS, TASKS, answer, encode, encode_pairs, mixed_batches, score, special_ids,
                               span_corruption_batch, t5_tokenizer, to_text)
from minissl.tasks import baseline_scores, grammar_corpus, load_task, majority_accuracy
from minissl.tasks.baselines import bag_texts, tfidf_logreg
from minissl.train import fit, make_optimizer

ARMS = ("multi_pretrained", "multi_scratch", "single_pretrained")
ARM_NAMES = {"multi_pretrained": "multi-task, pre-trained", "multi_scratch": "multi-task, scratch",
             "single_pretrained": "task-specific, pre-trained", "ngram_logreg": "n-gram log. regression",
             "first_noun": "first noun", "majority": "majority"}
CHEAP = ("ngram_logreg", "first_noun", "majority")
CORPUS_OFFSET = 7919  # seed s pre-trains on grammar_corpus(seed=s + 7919): a stream apart from its labelled data
PROTOCOL = ("{k} seeds, each drawing its own pre-training corpus, initial weights, labelled data and fine-tuning "
            "batch order")
TEXT_FIELDS = {"sentiment": ("text",), "nli": ("premise", "hypothesis"), "negation": ("source", "target"),
               "qa": ("context", "question")}


def settings(quick):
    if quick:
        return dict(seeds=2, pre_docs=2000, pre_steps=150, ft_steps=200, n_train=150, n_dev=100, n_test=150)
    # n_test = 700: the standard error of an accuracy is at most sqrt(0.25 / 700) = 0.019
    return dict(seeds=5, pre_docs=12000, pre_steps=1500, ft_steps=800, n_train=400, n_dev=300, n_test=700)


def sentences(text):
    return re.split(r"(?<=[.?]) ", text)


def heldout_sentences(data, split):
    """Every sentence of every input and target of ``split`` (dev or test), over all seeds and tasks."""
    return {s for tasks in data.values() for name, task in tasks.items() for ex in getattr(task, split)
            for f in TEXT_FIELDS[name] for s in sentences(ex[f])}


def pretraining_corpus(n_docs, seed):
    """The unlabelled grammar stories seed ``seed`` pre-trains on (drawn with ``seed + CORPUS_OFFSET``, so the
    corpus stream never coincides with the labelled data drawn with ``seed``); half keep one mood, as in
    bert_pretrain_finetune."""
    return grammar_corpus(n_docs, seed=seed + CORPUS_OFFSET, sentences=(2, 4), p_mood=0.5)


def pretraining_text(n_docs, seed, avoid, tok, max_len):
    """Seed ``seed``'s pre-training corpus without any sentence in ``avoid``;
    -> (id lists of at most ``max_len`` tokens, sentences removed)."""
    docs, removed = [], 0
    for d in pretraining_corpus(n_docs, seed):
        kept = [s for s in d if s not in avoid]
        removed += len(d) - len(kept)
        ids = encode(tok, " ".join(kept)) if kept else []
        while len(ids) > max_len and len(kept) > 1:  # too long: drop sentences from the end
            kept = kept[:-1]
            ids = encode(tok, " ".join(kept))
        if 2 <= len(ids) <= max_len:
            docs.append(ids)
    return docs, removed


def build(tok, ids, args, seed):
    """A fresh seq2seq model whose random weights are fixed by ``seed``: the pre-trained and scratch arms of
    one seed start from the same weights."""
    ms.manual_seed(seed)
    return Seq2SeqTransformer(len(tok), args.d_model, 4, args.layers, args.layers, 4 * args.d_model, args.dropout,
                              max_position=128, pad_id=ids["pad"])


def train(model, batches, steps, lr, desc):
    """AdamW, warm-up over 5% of the steps then linear decay, gradient clipping; returns the losses."""
    opt, sched = make_optimizer(model, lr, weight_decay=0.01, betas=(0.9, 0.999), warmup=max(1, steps // 20),
                                total_steps=steps, decay="linear")
    return fit(model, batches, steps, loss_fn=lambda m, b: m(**b).loss, optimizer=opt, scheduler=sched, grad_clip=1.0,
               desc=desc)["loss"]


def evaluate(model, tok, ids, examples_by_task):
    """Per task: exact match (and the share of non-label answers) and the answers themselves."""
    out = {}
    for name, examples in examples_by_task.items():
        pairs = [to_text(name, e) for e in examples]
        pred = answer(model, tok, [s for s, _ in pairs], ids)
        out[name] = dict(score(pred, [t for _, t in pairs], LABEL_WORDS.get(name)), answers=pred)
    return out


def baselines(task, split):
    """The cheap baselines' scores on ``split`` of ``task`` (settings chosen on the dev split)."""
    ev = getattr(task, split)
    if task.name in LABEL_WORDS:
        tr, dv, te = ([{"text": t, "label": e["label"]} for t, e in zip(bag_texts(task.name, s), s)]
                      for s in (task.train, task.dev, ev))
        fits = [tfidf_logreg(tr, dv, te, kind) for kind in ("tfidf_word", "tfidf_char")]
        best = max(fits, key=lambda f: f["val_accuracy"])
        return {"ngram_logreg": best["accuracy"],
                "majority": majority_accuracy([e["label"] for e in task.train], [e["label"] for e in ev])}
    if task.name == "qa":
        top = Counter(e["answer_text"] for e in task.train).most_common(1)[0][0]
        return {"first_noun": baseline_scores(replace(task, test=ev))["first_noun_em"],
                "majority": float(np.mean([e["answer_text"] == top for e in ev]))}
    return {}  # negation: no cheap baseline writes sentences


def interval(values):
    c = mean_ci(values)
    return c, (f"{c['mean']:.3f}" + (f" [{c['lo']:.3f}, {c['hi']:.3f}]" if c["lo"] is not None else ""))


def pretrain(tok, ids, args, S, seed, avoid):
    """Seed ``seed``'s own pre-training: its corpus draw (minus ``avoid``), its initial weights
    (``build(seed)``), its batches; span corruption for ``S["pre_steps"]`` steps.
    -> dict(state (the weights), losses, documents, tokens, removed, parameters, span_demo)."""
    docs, removed = pretraining_text(S["pre_docs"], seed, avoid, tok, max_len=64)
    model = build(tok, ids, args, seed)
    rng = np.random.default_rng(seed)
    print(f"seed {seed}: pre-training text {len(docs)} documents ({sum(map(len, docs)):,} tokens; {removed} "
          f"sentences removed because a dev or test example contains them); {model.num_parameters():,} parameters, "
          f"{S['pre_steps']} steps")

    def batch(step):  # a fresh random batch of documents, freshly corrupted, every step
        return span_corruption_batch([docs[i] for i in rng.integers(len(docs), size=args.batch)], ids, rng)

    losses = train(model, batch, S["pre_steps"], args.lr, f"pre-train seed {seed}")
    corrupted = span_corruption_batch([docs[0]], ids, np.random.default_rng(0))
    source = corrupted["input_ids"][0]
    span_demo = (tok.decode(source), answer(model, tok, [source.tolist()], ids)[0],
                 tok.decode(corrupted["labels"][0][:-1]))
    return dict(state={k: v.numpy().copy() for k, v in model.state_dict().items()}, losses=losses,
                documents=len(docs), tokens=sum(map(len, docs)), removed=removed,
                parameters=model.num_parameters(), span_demo=span_demo)


def fine_tune(tok, ids, args, S, seed, tasks, pre, ev, bar):
    """Seed ``seed``'s arms on its labelled ``tasks``, scored on ``ev``: the multi-task model from seed
    ``seed``'s pre-trained weights ``pre`` and from the same random weights (same batches, same steps),
    and one task-specific model per task from ``pre``. -> ({arm: evaluate(...)}, {arm: loss curve})."""
    pairs = {n: encode_pairs(tok, n, t.train) for n, t in tasks.items()}
    batches, _ = mixed_batches(pairs, args.batch, S["ft_steps"], np.random.default_rng(seed), ids)
    results, curves = {}, {}
    for arm in ("multi_pretrained", "multi_scratch"):
        m = build(tok, ids, args, seed)
        if arm == "multi_pretrained":
            m.load_state_dict(pre)
        curves[arm] = train(m, batches, S["ft_steps"], args.ft_lr, arm)
        results[arm] = evaluate(m, tok, ids, ev)
        bar.update()
    results["single_pretrained"] = {}
    for k, n in enumerate(TASKS):
        m = build(tok, ids, args, seed)
        m.load_state_dict(pre)
        own, _ = mixed_batches({n: pairs[n]}, args.batch, S["single_steps"], np.random.default_rng(1000 * seed + k),
                               ids)
        train(m, own, S["single_steps"], args.ft_lr, f"single {n}")
        results["single_pretrained"].update(evaluate(m, tok, ids, {n: ev[n]}))
        bar.update()
    return results, curves


def main():
    args = parse_args("t5_multitask", __doc__.split("\n")[0],
                      seeds=(positive_int, None, "seeds, each with its own pre-training (default 5, --quick 2)"),
                      steps=(positive_int, None, "pre-training steps per seed (default 1500, --quick 150)"),
                      ft_steps=(positive_int, None, "multi-task fine-tuning steps (default 800, --quick 200)"),
                      single_steps=(positive_int, None, "steps of each task-specific model (default: a quarter of "
                                    "--ft-steps, so it sees as many examples of its task as the multi-task model)"),
                      n_train=(positive_int, None, "labelled training examples per task (default 400, --quick 150)"),
                      d_model=(multiple_of(4), 64, "model width (4 attention heads)"),
                      layers=(positive_int, 2, "encoder layers (and as many decoder layers)"),
                      lr=(positive_float, 2e-3, "pre-training learning rate"),
                      ft_lr=(positive_float, 3e-3, "fine-tuning learning rate"),
                      dropout=(prob, 0.0, "dropout"),
                      batch=(positive_int, 32, "batch size (pre-training and fine-tuning)"),
                      eval_split=(one_of("test", "dev"), "test", "score the test split, or the validation split "
                                  "(dev) while choosing settings"))
    one_blas_thread()  # small matrix products: threads cost more than they save
    S = settings(args.quick)
    for k, flag in (("seeds", "seeds"), ("pre_steps", "steps"), ("ft_steps", "ft_steps"), ("n_train", "n_train")):
        if getattr(args, flag) is not None:
            S[k] = getattr(args, flag)
    S["single_steps"] = args.single_steps or max(1, S["ft_steps"] // len(TASKS))
    seeds = [args.seed + k for k in range(S["seeds"])]
    split = args.eval_split
    tok = t5_tokenizer()
    ids = special_ids(tok)

    # ---- the labelled data of every seed first, so that every seed's pre-training avoids all their held-out text
    data = {s: {n: load_task(n, S["n_train"], S["n_dev"], S["n_test"], seed=s) for n in TASKS} for s in seeds}
    avoid = heldout_sentences(data, "dev") | heldout_sentences(data, "test")
    print(f"vocabulary {len(tok)}; {len(avoid):,} held-out sentences kept out of every seed's pre-training text")

    # ---- per seed: 1. its own pre-training, 2./3. multi-task (pre-trained, scratch), task-specific, baselines
    per_seed = {a: {n: [] for n in TASKS} for a in (*ARMS, *CHEAP)}
    outside = {a: {n: [] for n in TASKS} for a in ARMS}
    pretrained, ft_curves, examples = {}, {}, {}
    bar = tqdm(total=len(seeds) * (2 + len(TASKS)), desc="fine-tune", ncols=90)
    for s in seeds:
        pretrained[s] = pretrain(tok, ids, args, S, s, avoid)
        ev = {n: getattr(t, split) for n, t in data[s].items()}
        results, curves = fine_tune(tok, ids, args, S, s, data[s], pretrained[s].pop("state"), ev, bar)
        for arm in ARMS:
            for n in TASKS:
                per_seed[arm][n].append(results[arm][n]["exact_match"])
                if n in LABEL_WORDS:
                    outside[arm][n].append(results[arm][n]["outside_labels"])
        for n, t in data[s].items():
            for b, v in baselines(t, split).items():
                per_seed[b][n].append(v)
        if s == seeds[0]:
            ft_curves = curves
            examples = {n: [(to_text(n, e)[0], results["multi_pretrained"][n]["answers"][i], to_text(n, e)[1])
                            for i, e in enumerate(ev[n][:2])] for n in TASKS}
    bar.close()

    # ---- results: intervals over seeds, paired differences and verdicts
    summary = {n: {a: mean_ci(per_seed[a][n]) for a in per_seed if per_seed[a][n]} for n in TASKS}
    claims = claims_of(per_seed)
    report(S, seeds, split, per_seed, summary, claims, examples, pretrained[seeds[0]]["span_demo"])
    figure(args, split, per_seed, summary, pretrained, ft_curves)
    path = save_metrics(args, {
        "eval_split": split, "seeds": seeds, "intervals_over": PROTOCOL.format(k=len(seeds)), "scores": summary,
        "claims": claims, "headline": {a: {n: summary[n][a]["mean"] for n in TASKS} for a in ARMS},
        "outside_label_words": {a: {n: mean_ci(v) for n, v in by.items() if v} for a, by in outside.items()},
        "examples": {n: [dict(input=s, answer=o, gold=g) for s, o, g in ex] for n, ex in examples.items()},
        "span_corruption_example": dict(zip(("input", "answer", "gold"), pretrained[seeds[0]]["span_demo"])),
        "pretrain": {"steps": S["pre_steps"], "corpus_seeds": [s + CORPUS_OFFSET for s in seeds],
                     **{key: [pretrained[s][key] for s in seeds] for key in ("documents", "tokens")},
                     "sentences_removed": [pretrained[s]["removed"] for s in seeds],
                     "final_loss": [float(np.mean(pretrained[s]["losses"][-50:])) for s in seeds]},
        "settings": dict(S, d_model=args.d_model, layers=args.layers, lr=args.lr, ft_lr=args.ft_lr,
                         dropout=args.dropout, batch=args.batch),
        "parameters": pretrained[seeds[0]]["parameters"]})
    print(f"\nmetrics: {path}")


def claims_of(per_seed):
    """Per task, the multi-task pre-trained model against scratch, the task-specific models and the best cheap
    baseline: the shared claims rows of demos/common.py (per-seed differences, 95% interval, verdict)."""
    claims = []
    for n in TASKS:
        pre = np.asarray(per_seed["multi_pretrained"][n])
        cheap = [b for b in CHEAP if per_seed[b][n]]
        best = max(cheap, key=lambda b: np.mean(per_seed[b][n])) if cheap else None
        for key, other in (("pretrained_beats_scratch", "multi_scratch"),
                           ("multitask_beats_task_specific", "single_pretrained"),
                           ("beats_best_cheap_baseline", best)):
            if other is not None:
                claims.append(claim(f"multi-task pre-trained beats {ARM_NAMES[other]}", pre - per_seed[other][n],
                                    where=n, task=n, against=other, key=key))
    return claims


def report(S, seeds, split, per_seed, summary, claims, examples, span_demo):
    print(f"\nExamples ({split} split, seed {seeds[0]}, the multi-task pre-trained model): input -> answer [gold]")
    for n in TASKS:
        for src, out, gold in examples[n]:
            print(f"  {src}\n      -> {out}   [{gold}]")
    print(f"Seed {seeds[0]}'s pre-trained model on span corruption (before fine-tuning):")
    print("  {}\n      -> {}   [{}]".format(*span_demo))
    n_eval = S["n_test"] if split == "test" else S["n_dev"]
    rows = [(n, *[interval(per_seed[a][n])[1] for a in ARMS],
             "; ".join(f"{ARM_NAMES[b]} {summary[n][b]['mean']:.3f}" for b in CHEAP if b in summary[n]) or "none")
            for n in TASKS]
    print_table(rows, ["task", *[ARM_NAMES[a] for a in ARMS], "cheap baselines"],
                f"{split} exact match (= accuracy for sentiment and NLI), mean [95% interval] over "
                f"{PROTOCOL.format(k=len(seeds))}; {n_eval} {split} and {S['n_train']} training examples per task; "
                f"a task-specific model takes {S['single_steps']} steps on its own task, the multi-task models "
                f"{S['ft_steps']} on all four")
    print_claims(claims, f"Claims ({split} exact match, paired over {len(seeds)} seeds, each with its own "
                 "pre-training)")


def figure(args, split, per_seed, summary, pretrained, ft_curves):
    """Per task: every arm's mean, interval and per-seed values; then the training losses (every seed's
    pre-training, the first seed's fine-tuning)."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, len(TASKS) + 1, figsize=(4.2 * (len(TASKS) + 1), 3.8))
    for ax, n in zip(axes, TASKS):
        arms = [a for a in (*ARMS, *CHEAP) if per_seed[a][n]]
        for j, a in enumerate(arms):
            c = summary[n][a]
            err = None if c["lo"] is None else [[c["mean"] - c["lo"]], [c["hi"] - c["mean"]]]
            ax.bar(j, c["mean"], yerr=err, capsize=4, color=f"C{(*ARMS, *CHEAP).index(a)}")  # one colour per arm
            ax.scatter([j] * len(c["values"]), c["values"], s=8, color="k", zorder=3)
        ax.set_xticks(range(len(arms)), [ARM_NAMES[a] for a in arms], rotation=40, ha="right", fontsize=8)
        ax.set(title=n, ylim=(0, 1.02), ylabel=f"{split} exact match" if n == TASKS[0] else None)
    ax = axes[-1]
    k = 25
    for j, p in enumerate(pretrained.values()):
        ax.plot(np.convolve(p["losses"], np.ones(k) / k, mode="valid"), color="C7", lw=1,
                label="pre-training (span corruption), each seed" if j == 0 else None)
    for arm, c in ft_curves.items():
        ax.plot(np.convolve(c, np.ones(k) / k, mode="valid"), color=f"C{ARMS.index(arm)}",
                label=f"fine-tune: {ARM_NAMES[arm]}, seed {next(iter(pretrained))}")
    ax.set(title="training loss (moving average)", xlabel="step", yscale="log")
    ax.legend(fontsize=7)
    savefig(fig, args, "t5_multitask.png")


if __name__ == "__main__":
    main()
