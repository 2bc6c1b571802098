"""BERT embryology: what a BERT learns when, read by frozen linear probes along pre-training.

A small BERT is pre-trained with masked-language modelling alone (no sentence objective, so
every sentence-level score below is what filling blanks taught). Its weights are saved at
steps spaced evenly in log(step), step 0 (the random initialisation) being the control; each
checkpoint is then frozen and probed:

  generated text (minissl's grammar, which knows every word's part of speech)
    pos        token level: each word's last-layer vector -> its tag (linear probe)
    pos_ambiguous  the same, scored only on words seen with two tags ("that": DET or PRON), where
               the word's identity is not enough and the context must decide
    sentiment  sentence level: the mean-pooled last layer -> positive / negative
    nli        sentence pair ([CLS] premise [SEP] hypothesis [SEP]) -> 3 classes
    mlm        the pre-training task itself: top-1 accuracy on fixed blanks in sentences that
               occur nowhere in the pre-training text
  real text (Shakespeare + fortunes; every test and validation input held out of pre-training)
    fortune_topic, play_genre   sentence level, as above;  mlm  on the held-out test quotes
                                and speeches of the test plays

Every probe picks its L2 strength on a validation split and scores its test split once
(``minissl.probe.linear_probe``); beside each curve the strongest cheap baseline (bag-of-words
or TF-IDF logistic regression, most-frequent tag per word) is printed. "When" is the step s90
at which a probe has made 90% of its final gain over step 0 (interpolated in log(step) between
checkpoints); orderings are compared per seed on log10(s90), with a 95% interval over seeds.
A probe still rising at the end (a large "gain in last interval") has an s90 bounded by the
run's length: an ordering against it says "earlier than", not how much earlier.

    python demos/bert_embryology.py [--quick] [--seeds N] [--steps N] [--no-real]

Writes OUT/{metrics.json, embryology.png}; the checkpoints go to OUT/checkpoints/.
"""
from __future__ import annotations

import itertools
import math
import shutil
import warnings
from collections import Counter

import numpy as np
from tqdm import tqdm

from common import (claim_from_interval, one_blas_thread, parse_args, plt, positive_int, print_claims, print_table,
                    save_metrics, savefig)

import minissl as ms
from minissl import datasets
from minissl.metrics import mean_ci, verdict
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.models.embryology import (checkpoint_steps, hidden_states, mlm_accuracy, pretrain_with_checkpoints,
                                       probe_checkpoints, sentence_features, step_to_fraction)
from minissl.probe import linear_probe, token_probe
from minissl.tasks import baseline_scores, encode_task, grammar_corpus, grammar_tokenizer, load_task
from minissl.tasks import real as R
from minissl.tasks.baselines import tfidf_logreg
from minissl.text import BasicTokenizer, WordPieceTokenizer, mlm_batch, mlm_batches, split_sentences
from minissl.train import make_optimizer

FRACTION = 0.9  # s90: the step at which a probe has made 90% of its final gain


def settings(quick):
    """Sizes of the default run and of the one-minute one."""
    if quick:  # the generated panel only: the real one costs several times more per step
        return dict(seeds=3, hidden=64, layers=2, heads=2, steps=400, batch=32, lr=2e-3, n_ckpt=6, docs=300,
                    n_tok=(150, 60, 150), n_sent=(200, 100, 200), mlm_eval=200, real=False)
    return dict(seeds=5, hidden=64, layers=2, heads=2, steps=1500, batch=32, lr=2e-3, n_ckpt=8, docs=1000,
                n_tok=(300, 100, 300), n_sent=(400, 200, 400), mlm_eval=400, real=True,
                real_docs=2000, real_vocab=2000, real_steps=1000, per_class=(60, 30, 60), max_len=32)


# ------------------------------------------------------------------ the two worlds
def generated_world(S, seed):
    """Tokenizer, pre-training examples, probe data and MLM blanks on the grammar's text."""
    tok = grammar_tokenizer()
    n_tr, n_va, n_te = S["n_sent"]
    tasks = {"pos": load_task("pos", n_train=S["n_tok"][0], n_dev=S["n_tok"][1], n_test=S["n_tok"][2], seed=seed),
             "sentiment": load_task("sentiment", n_train=n_tr, n_dev=n_va, n_test=n_te, seed=seed),
             "nli": load_task("nli", n_train=n_tr, n_dev=n_va, n_test=n_te, seed=seed)}
    held = {_text(t, e) for t in tasks.values() for e in t.dev + t.test}
    # unlabelled text: stories (half of them keep one mood) and the inputs of other examples of
    # the same tasks, labels thrown away; any text equal to a probe's val/test input is dropped
    texts = [(s,) for d in grammar_corpus(S["docs"], seed=seed + 1000, p_mood=0.5) for s in d]
    for name, t in tasks.items():
        more = load_task(name, n_train=S["docs"], n_dev=0, n_test=0, seed=seed + 1000)
        texts += [_pair(name, e) for e in more.train]
    texts = [t for t in texts if " ".join(t) not in held]
    # the MLM blanks: sentences of new stories that occur nowhere in the pre-training text (the
    # grammar is small, so about a third of a new story's sentences do occur there and are skipped)
    seen = {" ".join(t) for t in texts}
    fresh = [s for d in grammar_corpus(S["mlm_eval"], seed=seed + 2000) for s in d if s not in seen]
    blanks = [(s,) for s in fresh[:S["mlm_eval"]]]
    data = {name: {k: encode_task(tok, t, getattr(t, k)) for k in ("train", "dev", "test")}
            for name, t in tasks.items()}
    base = {name: baseline_scores(t)["per_word_majority" if name == "pos" else "bow_logreg"]
            for name, t in tasks.items()}
    ambiguous, base["pos_ambiguous"] = ambiguous_words(tok, tasks["pos"], data["pos"])
    data = {"pos": data["pos"], "pos_ambiguous": ambiguous, "sentiment": data["sentiment"], "nli": data["nli"]}
    return dict(tok=tok, examples=_encode(tok, texts, None), blanks=_encode(tok, blanks, None), data=data,
                token_level={"pos", "pos_ambiguous"}, baselines=base, pretrain_texts=len(texts))


def real_world(S, seed):
    """The same on Shakespeare + fortunes: a word-level WordPiece vocabulary from the pre-training
    text, two sentence-level probes, and MLM blanks in the held-out test quotes and speeches."""
    fortunes, speeches = datasets.fortunes(), R.play_speeches(datasets.shakespeare())
    tasks = {"fortune_topic": R.fortune_topic(fortunes, seed=seed), "play_genre": R.play_genre(speeches, seed=seed)}
    docs = R.pretraining_documents(speeches, fortunes, list(tasks.values()), split_sentences)
    R.check_disjoint(docs, list(tasks.values()))
    docs = [docs[i] for i in np.random.default_rng(seed).permutation(len(docs))[:S["real_docs"]]]
    basic = BasicTokenizer(True)
    counts = Counter(w for d in docs for seg in d for w in basic.tokenize(seg))
    tok = WordPieceTokenizer.from_words([w for w, _ in counts.most_common(S["real_vocab"])])
    n_tr, n_va, n_te = S["per_class"]
    for t in tasks.values():  # label budgets drawn once: the probes' data are fixed before pre-training
        t.train, t.dev, t.test = (R.per_class(getattr(t, k), n, seed) for k, n in
                                  (("train", n_tr), ("dev", n_va), ("test", n_te)))
    data = {name: {k: encode_task(tok, t, getattr(t, k), max_length=S["max_len"]) for k in ("train", "dev", "test")}
            for name, t in tasks.items()}
    base = {name: tfidf_logreg(t.train, t.dev, t.test, "tfidf_word", seed=seed)["accuracy"]
            for name, t in tasks.items()}
    blanks = [(e["text"],) for t in tasks.values() for e in t.test]
    examples = _encode(tok, [(seg,) for d in docs for seg in d], S["max_len"])
    return dict(tok=tok, examples=examples, blanks=_encode(tok, blanks, S["max_len"]), data=data,
                token_level=set(), baselines=base, pretrain_texts=len(examples))


def ambiguous_words(tok, task, data):
    """The POS data with labels kept only on words the training split shows with two or more tags
    ("that": DET or PRON), where the word alone cannot say and the context must; and the baseline
    a word alone gives there (each word's most frequent training tag)."""
    tags = {}
    for e in task.train:
        for w, g in zip(e["tokens"], e["tags"]):
            tags.setdefault(w, Counter())[g] += 1
    words = sorted(w for w, c in tags.items() if len(c) > 1)
    ids = np.array(tok.convert_tokens_to_ids(words))  # the grammar's tokenizer: one token per word
    out = {k: dict(d, labels=np.where(np.isin(d["input_ids"], ids), d["labels"], -100)) for k, d in data.items()}
    test = [(w, g) for e in task.test for w, g in zip(e["tokens"], e["tags"]) if w in tags and len(tags[w]) > 1]
    return out, float(np.mean([tags[w].most_common(1)[0][0] == g for w, g in test]))


def _text(task, e):
    return " ".join(_pair(task.name, e))


def _pair(name, e):
    return {"pos": lambda: (" ".join(e["tokens"]),), "nli": lambda: (e["premise"], e["hypothesis"])}.get(
        name, lambda: (e["text"],))()


def _encode(tok, texts, max_len):
    out = []
    for t in texts:
        enc = tok.encode_plus(*t, max_length=max_len)
        out.append((enc["input_ids"], enc["token_type_ids"], None))
    return out


# ------------------------------------------------------------------ pre-train, save, probe
def make_probes(world, mlm_blanks):
    """{name: fn(pretraining model) -> test accuracy}: a linear probe per labelled task, and MLM."""
    def probe(name):
        def run(model):
            splits = [world["data"][name][k] for k in ("train", "dev", "test")]
            hs = [hidden_states(model.bert, d) for d in splits]
            if name in world["token_level"]:
                return token_probe(*[(h, d["labels"]) for h, d in zip(hs, splits)]).test_accuracy
            return linear_probe(*[(sentence_features(h, d["attention_mask"]), d["labels"])
                                  for h, d in zip(hs, splits)]).test_accuracy
        return run
    probes = {name: probe(name) for name in world["data"]}
    probes["mlm"] = lambda model: mlm_accuracy(model, mlm_blanks)
    return probes


def run_world(label, world, S, steps, seeds, args, bar):
    tok = world["tok"]
    masking = dict(mask_id=tok.mask_token_id, pad_id=tok.pad_token_id, vocab_size=tok.vocab_size,
                   special_ids=tok.all_special_ids)
    rng = np.random.default_rng(args.seed + 7)  # the held-out blanks are fixed: every checkpoint fills the same ones
    blanks = [mlm_batch(world["blanks"][k:k + 64], rng, **masking) for k in range(0, len(world["blanks"]), 64)]
    probes = make_probes(world, blanks)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=S["hidden"], num_hidden_layers=S["layers"],
                     num_attention_heads=S["heads"], intermediate_size=4 * S["hidden"], max_position_embeddings=128)
    save_at = checkpoint_steps(steps, S["n_ckpt"])
    runs = []
    for seed in seeds:
        ms.manual_seed(seed)  # the initialisation, the batches and the masks differ by seed; the data do not
        model = BertForPreTraining(cfg)
        opt, sched = make_optimizer(model, S["lr"], weight_decay=0.01, betas=(0.9, 0.999), warmup=steps // 10,
                                    total_steps=steps, decay="linear")
        bar.set_description(f"{label}: pre-train seed {seed}")
        paths, hist = pretrain_with_checkpoints(
            model, mlm_batches(world["examples"], S["batch"], np.random.default_rng(seed), **masking), steps,
            save_at, f"{args.out}/checkpoints/{label}/seed{seed}", optimizer=opt, scheduler=sched, grad_clip=1.0,
            desc=f"{label} MLM, seed {seed}")
        bar.set_description(f"{label}: probe seed {seed}")
        curves = probe_checkpoints(model, paths, probes, progress=lambda s: bar.update(1))
        curves["pretrain_loss_last50"] = float(np.mean(hist["loss"][-50:]))
        runs.append(curves)
    return summarise(label, world, runs, seeds, save_at)


# ------------------------------------------------------------------ "what is learned when"
def summarise(label, world, runs, seeds, save_at):
    names = [k for k in runs[0] if k not in ("step", "pretrain_loss_last50")]
    out = {"steps": save_at, "seeds": list(seeds), "pretraining_texts": world["pretrain_texts"],
           "baselines": world["baselines"], "pretrain_loss_last50": [r["pretrain_loss_last50"] for r in runs],
           "probes": {}, "orderings": []}
    for n in names:
        curve = np.array([r[n] for r in runs])  # (seeds, checkpoints)
        gain = mean_ci(curve[:, -1] - curve[:, 0])
        s90 = [step_to_fraction(save_at, c, FRACTION) for c in curve]
        learned = verdict(gain["lo"], gain["hi"]) == "holds"
        log_s = mean_ci([math.log10(s) for s in s90]) if learned and all(s for s in s90) else None
        out["probes"][n] = {"per_seed": curve.tolist(), "by_step": [mean_ci(curve[:, j]) for j in range(len(save_at))],
                            "gain_over_step0": dict(gain, verdict=verdict(gain["lo"], gain["hi"])),
                            "s90_per_seed": s90, "log10_s90": log_s,
                            # gain of the last checkpoint interval, as a share of the whole gain (mean
                            # of the seeds): large means still rising, so s90 is bounded by the run's length
                            "last_interval_share": float(np.mean((curve[:, -1] - curve[:, -2]) / gain["mean"]))
                            if learned else None}
    timed = [n for n in names if out["probes"][n]["log10_s90"]]
    verdict_of = lambda n: out["probes"][n]["gain_over_step0"]["verdict"]  # noqa: E731
    for a, b in itertools.combinations(sorted(timed, key=lambda n: out["probes"][n]["log10_s90"]["mean"]), 2):
        d = mean_ci([math.log10(x) - math.log10(y) for x, y in zip(out["probes"][b]["s90_per_seed"],
                                                                   out["probes"][a]["s90_per_seed"])])
        out["orderings"].append({"claim": f"{a} is learned before {b} (log10 s90 of {b} minus {a} > 0)",
                                 "difference": d, "verdict": verdict(d["lo"], d["hi"])})
    out["untimed"] = {n: "a seed without any gain over step 0" if verdict_of(n) == "holds"
                      else "no gain over step 0 that its interval separates from 0" for n in names if n not in timed}
    return out


def figure(results, args):
    p = plt()
    fig, axes = p.subplots(1, len(results), figsize=(5.6 * len(results), 4), squeeze=False)
    for ax, (label, res) in zip(axes[0], results.items()):
        steps = res["steps"]
        for k, (n, pr) in enumerate(res["probes"].items()):
            m = [c["mean"] for c in pr["by_step"]]
            ax.plot(steps, m, marker="o", ms=3, color=f"C{k}", label=n)
            if pr["by_step"][0]["lo"] is not None:
                ax.fill_between(steps, [c["lo"] for c in pr["by_step"]], [c["hi"] for c in pr["by_step"]],
                                color=f"C{k}", alpha=0.2)
            if n in res["baselines"]:
                ax.axhline(res["baselines"][n], color=f"C{k}", ls=":", lw=1)
            if pr["log10_s90"]:
                ax.axvline(10 ** pr["log10_s90"]["mean"], color=f"C{k}", ls="--", lw=0.8, alpha=0.7)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, steps[-1] * 1.1)
        ax.set(xlabel="pre-training step (0 = random init; log scale)", ylabel="test accuracy (frozen probe)",
               title=f"{label} text: probe accuracy along MLM pre-training", ylim=(0, 1.02))
        ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, -0.04, f"bands: 95% interval over {len(res['seeds'])} seeds; dotted: cheap baseline; "
             "dashed: s90 (90% of the final gain)", fontsize=8)
    savefig(fig, args, "embryology.png")


def main():
    args = parse_args("bert_embryology", __doc__.splitlines()[0],
                      seeds=(positive_int, None, "pre-training seeds (default 5; 3 with --quick)"),
                      steps=(positive_int, None, "pre-training steps (default 1500 generated, 1000 real; 400 with "
                             "--quick)"),
                      no_real=(bool, False, "skip the real-text panel (Shakespeare + fortunes)"))
    one_blas_thread()  # small matrices: BLAS threads would cost more than they save
    S = settings(args.quick)
    seeds = [args.seed + k for k in range(args.seeds or S["seeds"])]
    warnings.filterwarnings("ignore", message=".*max_iter was reached")  # SAGA's tolerance is enough here
    worlds = {"generated": lambda: generated_world(S, args.seed)}
    skipped = None
    if args.no_real or not S["real"]:
        skipped = "--no-real" if args.no_real else "--quick runs the generated panel only; the default run adds it"
    elif not (datasets.present("fortunes") and datasets.present("shakespeare")):
        skipped = "the fortunes or shakespeare data set is missing; run: python -m minissl.datasets fetch fortunes"
    else:
        worlds["real"] = lambda: real_world(S, args.seed)
    steps = {label: args.steps or S["real_steps" if label == "real" else "steps"] for label in worlds}
    bar = tqdm(total=len(seeds) * sum(len(checkpoint_steps(n, S["n_ckpt"])) for n in steps.values()),
               desc="embryology", unit="ckpt", ncols=90)
    results = {label: run_world(label, build(), S, steps[label], seeds, args, bar) for label, build in worlds.items()}
    bar.close()
    shutil.rmtree(f"{args.out}/checkpoints", ignore_errors=True)  # many small files; the demo re-creates them
    figure(results, args)

    for label, res in results.items():
        rows = [(n, *(f"{c['mean']:.3f}" for c in pr["by_step"]),
                 f"{res['baselines'][n]:.3f}" if n in res["baselines"] else "-",
                 _steps_text(pr["log10_s90"]), pr["gain_over_step0"]["verdict"],
                 "-" if pr["last_interval_share"] is None else f"{pr['last_interval_share']:.0%}")
                for n, pr in res["probes"].items()]
        print_table(rows, ["probe", *(f"s={s}" for s in res["steps"]), "baseline", "s90 [95%]", "learned?",
                             "gain in last interval"],
                    title=f"{label} text: test accuracy of frozen linear probes, mean of {len(seeds)} seeds")
        for o in res["orderings"]:
            d = o["difference"]
            print(f"  {o['claim']}: {d['mean']:+.2f} decades "
                  f"[{_num(d['lo'])}, {_num(d['hi'])}] -> {o['verdict']}")
        for n, why in res["untimed"].items():
            print(f"  {n}: not timed ({why})")
    claims = [claim_from_interval(f"{n} probe improves over the random init (step 0)", g["mean"], g["lo"], g["hi"],
                                  len(seeds), where=f"{label} text")
              for label, res in results.items() for n, pr in res["probes"].items()
              for g in [pr["gain_over_step0"]]]
    claims += [claim_from_interval(o["claim"], o["difference"]["mean"], o["difference"]["lo"], o["difference"]["hi"],
                                   len(seeds), where=f"{label} text")
               for label, res in results.items() for o in res["orderings"]]
    print_claims(claims)
    metrics = {"results": results, "claims": claims, "fraction": FRACTION, "settings": dict(S, steps=steps), "real_skipped": skipped,
               "headline": {label: {n: pr["by_step"][-1]["mean"] for n, pr in res["probes"].items()}
                            for label, res in results.items()},
               "when": {label: {n: _steps_text(pr["log10_s90"]) if pr["log10_s90"] else "no gain over step 0"
                                for n, pr in res["probes"].items()} for label, res in results.items()},
               "ordering_verdicts": {label: {o["claim"]: o["verdict"] for o in res["orderings"]}
                                     for label, res in results.items()}}
    print(save_metrics(args, metrics))


def _num(x):
    return "-" if x is None else f"{x:+.2f}"


def _steps_text(log_s):
    if not log_s:
        return "-"
    if log_s["lo"] is None:
        return f"{10 ** log_s['mean']:.0f}"
    return f"{10 ** log_s['mean']:.0f} [{10 ** log_s['lo']:.0f}, {10 ** log_s['hi']:.0f}]"


if __name__ == "__main__":
    main()
