"""Pre-train a small BERT by filling in blanks, then fine-tune it on five tasks.

The lecture's experiment: the same network, fine-tuned on ~200 labelled examples
per task, once from the pre-trained weights and once from random weights
("scratch"). Pre-training (MLM + SOP on unlabelled text of the task grammar)
makes the fine-tuning loss fall faster and the test scores higher, and beats a
bag-of-words baseline on every task — including DNA, whose "words" (one per
base) the pre-training text never used in that role. Half the stories keep one
mood throughout (``--p-mood``), as real text does: that is the only place the
unlabelled text says which adjectives are good, which sentiment needs.

    python demos/bert_pretrain_finetune.py [--quick] [--nsp] [--reuse-pretrained]

Writes runs/bert_pretrain_finetune/{metrics.json, finetune_curves.png} and the
pre-trained checkpoint (pretrained/, read by demos/contextual_embeddings.py).
"""
from __future__ import annotations

import json
import os

import numpy as np
from tqdm import tqdm

from common import (comma_list, one_of, parse_args, plt, positive_float, positive_int, print_table, prob,
                    save_metrics, savefig)

import minissl as ms
from minissl.models.bert import BertConfig, BertForPreTraining
from minissl.models.bert_heads import (BertForQuestionAnswering, BertForSequenceClassification,
                                       BertForTokenClassification, best_span, pad_windows, qa_windows)
from minissl.tasks import baseline_scores, encode_task, grammar_corpus, grammar_tokenizer, load_task
from minissl.tasks.lexicon import SENTIMENT_ADJ
from minissl.text import make_nsp_pairs, make_sop_pairs, mask_tokens, pad_batch
from minissl.train import finetune, fit, make_optimizer, take

TASKS = ("sentiment", "pos", "nli", "qa", "dna")
METRIC = {"sentiment": "accuracy", "pos": "token accuracy", "nli": "accuracy", "qa": "exact match",
          "dna": "accuracy"}
BASELINE = {"sentiment": "bow_logreg", "nli": "bow_logreg", "dna": "bow_logreg", "pos": "per_word_majority",
            "qa": "first_noun_em"}


def settings(quick):
    """Model and schedule sizes: the default run and the one-minute one."""
    if quick:
        return dict(hidden=64, layers=2, heads=2, docs=600, steps=2500, batch=32, lr=2e-3,
                    epochs=25, ft_lr=1e-3, n_train=200, n_test=150, qa_len=64, p_mood=0.5, mask_judged=1)
    # Fewer fine-tuning epochs, or a lower pre-training rate, left sentiment at chance (EXPERIMENTS.md).
    return dict(hidden=128, layers=4, heads=4, docs=2000, steps=3000, batch=32, lr=2e-3,
                epochs=25, ft_lr=1e-3, n_train=200, n_test=200, qa_len=64, p_mood=0.5, mask_judged=1)


# ------------------------------------------------------------------ pre-training data
def pretraining_examples(tok, S, seed, sentence_task):
    """Unlabelled text -> [(ids, token_type_ids, sentence_label, always_masked_positions)].

    Stories give sentence pairs for SOP (or NSP); the *inputs* of the text tasks
    (their labels thrown away) give single sentences, trained with MLM only
    (sentence label -100 is ignored by the loss). DNA is left out on purpose.
    """
    docs = grammar_corpus(S["docs"], seed=seed, p_mood=S["p_mood"])
    pairs = (make_sop_pairs if sentence_task == "sop" else make_nsp_pairs)(docs, seed=seed)
    # Judged adjectives are always masked when both sentences judge: in a mood story
    # (see tasks.corpus.mood_story) filling one in means knowing polarity and negation.
    judged = set(tok.convert_tokens_to_ids(" ".join(SENTIMENT_ADJ).split()))
    out = []
    for a, b, lab in pairs:
        enc = tok.encode_plus(a, b)
        ids, segment = enc["input_ids"], enc["token_type_ids"]
        both = any(w in judged for w, t in zip(ids, segment) if t == 0) and \
            any(w in judged for w, t in zip(ids, segment) if t == 1)
        pos = [i for i, w in enumerate(ids) if w in judged]
        out.append((ids, segment, lab, pos if both and S["mask_judged"] else []))
    texts = []
    for name in ("sentiment", "pos", "nli", "qa"):
        t = load_task(name, n_train=S["docs"], n_dev=0, n_test=0, seed=seed + 1000)  # disjoint from fine-tuning
        for ex in t.train:
            texts += {"sentiment": lambda e: [(e["text"],)], "pos": lambda e: [(" ".join(e["tokens"]),)],
                      "nli": lambda e: [(e["premise"], e["hypothesis"])],
                      "qa": lambda e: [(e["question"], e["context"])]}[name](ex)
    function_words = set(tok.convert_tokens_to_ids("the a an did was who what not ? .".split()))
    for t in texts:
        enc = tok.encode_plus(*t)
        ids, recur = enc["input_ids"], []
        if len(t) == 2:  # pairs stay pairs, as fine-tuning will see them; a content word of the first
            cut = enc["token_type_ids"].index(1)  # that recurs in the second is always masked: filling
            second = set(ids[cut:-1])             # it in means finding it there
            recur = [i for i in range(1, cut - 1) if ids[i] in second and ids[i] not in function_words]
        out.append((ids, enc["token_type_ids"], -100, recur))
    return out


def pretrain(tok, cfg, S, args, sentence_task):
    examples = pretraining_examples(tok, S, args.seed, sentence_task)
    model = BertForPreTraining(cfg)
    opt, sched = make_optimizer(model, S["lr"], weight_decay=0.01, betas=(0.9, 0.999), warmup=S["steps"] // 10,
                                total_steps=S["steps"], decay="linear")
    rng = np.random.default_rng(args.seed)

    def batch(step):
        rows = [examples[i] for i in rng.integers(len(examples), size=S["batch"])]
        x, am = pad_batch([b[0] for b in rows], tok.pad_token_id)
        tt, _ = pad_batch([b[1] for b in rows], 0)
        orig = x.copy()
        x, labels = mask_tokens(x, rng, mask_id=tok.mask_token_id, vocab_size=tok.vocab_size,
                                special_ids=tok.all_special_ids, attention_mask=am)
        for i, b in enumerate(rows):  # the always-masked positions (see pretraining_examples)
            if b[3]:
                p = b[3][rng.integers(len(b[3]))]
                x[i, p], labels[i, p] = tok.mask_token_id, orig[i, p]
        return dict(input_ids=x, attention_mask=am, token_type_ids=tt, labels=labels,
                    sentence_label=np.array([b[2] for b in rows]))

    hist = fit(model, batch, S["steps"], optimizer=opt, scheduler=sched, grad_clip=1.0,
               desc=f"pre-train MLM+{sentence_task.upper()}")
    return model, hist["loss"]


# ------------------------------------------------------------------ fine-tuning data
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


@ms.no_grad()
def evaluate(name, model, test, pad):
    model.eval()
    if name == "qa":  # all windows of all documents, best span per document
        wins = [(i, w) for i, r in enumerate(test) for w in r["windows"]]
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
        return float(np.mean([best[i][:2] == (r["y"], r["y"]) for i, r in enumerate(test)]))
    hits, total = 0, 0
    for k in range(0, len(test["labels"]), 64):
        batch = take(test, range(k, min(k + 64, len(test["labels"]))))
        y = batch.pop("labels")
        pred = model(**batch).logits.numpy().argmax(-1)
        keep = y != -100  # POS: the words' first tokens only
        hits, total = hits + int((pred[keep] == y[keep]).sum()), total + int(keep.sum())
    return hits / total


def main():
    args = parse_args("bert_pretrain_finetune", __doc__.splitlines()[0],
                      nsp=(bool, False, "pre-train with next-sentence prediction instead of sentence order"),
                      reuse_pretrained=(bool, False, "reuse OUT/pretrained if it exists (skip pre-training)"),
                      tasks=(comma_list(*TASKS), ",".join(TASKS), "comma-separated tasks to fine-tune on"),
                      epochs=(positive_int, None, "fine-tuning epochs (default: by size)"),
                      ft_lr=(positive_float, None, "fine-tuning learning rate (default: by size)"),
                      steps=(positive_int, None, "pre-training steps (default: by size)"),
                      lr=(positive_float, None, "pre-training learning rate (default: by size)"),
                      p_mood=(prob, None, "fraction of stories with one consistent mood (default 0.5)"),
                      mask_judged=(one_of(0, 1, cast=int), None,
                                   "1: always mask a judged adjective in sentence pairs, 0: not"))
    S = settings(args.quick)
    S.update({k: getattr(args, k) for k in ("epochs", "ft_lr", "steps", "lr", "p_mood", "mask_judged") if getattr(args, k) is not None})
    tasks = [t for t in args.tasks.split(",") if t]
    sentence_task = "nsp" if args.nsp else "sop"
    tok = grammar_tokenizer()
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=S["hidden"], num_hidden_layers=S["layers"],
                     num_attention_heads=S["heads"], intermediate_size=4 * S["hidden"], max_position_embeddings=128)
    ckpt = os.path.join(args.out, "pretrained")
    same = os.path.exists(os.path.join(ckpt, "config.json")) and \
        {k: v for k, v in json.load(open(os.path.join(ckpt, "config.json"))).items() if k in cfg.to_dict()} == cfg.to_dict()
    if args.reuse_pretrained and same:
        print(f"reusing the pre-trained checkpoint in {ckpt}")
        pre_losses = json.load(open(os.path.join(ckpt, "pretrain_losses.json")))
    else:
        model, pre_losses = pretrain(tok, cfg, S, args, sentence_task)
        model.save_pretrained(ckpt)
        tok.save(os.path.join(ckpt, "vocab.txt"))
        json.dump(pre_losses, open(os.path.join(ckpt, "pretrain_losses.json"), "w"))

    metrics, curves = {"tasks": {}}, {}
    for name in tqdm(tasks, desc="fine-tune", ncols=90):
        task = load_task(name, n_train=S["n_train"], n_dev=0, n_test=S["n_test"], seed=args.seed)
        train, test = task_data(tok, task, "train", S["qa_len"]), task_data(tok, task, "test", S["qa_len"])
        n_labels = len(task.label_names) if task.label_names else 2
        row = {"baseline": baseline_scores(task)[BASELINE[name]], "metric": METRIC[name]}
        for init, path in (("pretrained", ckpt), ("scratch", None)):
            ms.manual_seed(args.seed)  # the same head init and batch order for pre-trained and scratch
            model = make_model(name, cfg, path, n_labels)
            hist = finetune(model, train, epochs=S["epochs"], batch_size=16, lr=S["ft_lr"], seed=args.seed,
                            progress=False)
            row[init] = evaluate(name, model, test, tok.pad_token_id)
            curves[(name, init)] = hist["loss"]
        metrics["tasks"][name] = row
    metrics["average"] = {k: float(np.mean([metrics["tasks"][t][k] for t in tasks]))
                          for k in ("pretrained", "scratch", "baseline")}
    metrics["pretrain"] = {"steps": S["steps"], "sentence_task": sentence_task,
                           "final_loss": float(np.mean(pre_losses[-50:])), "config": cfg.to_dict()}

    fig, axes = plt().subplots(1, len(tasks) + 1, figsize=(4 * (len(tasks) + 1), 3.2))
    axes[0].plot(pre_losses, lw=0.6)
    axes[0].set(title=f"pre-training (MLM+{sentence_task.upper()})", xlabel="step", ylabel="loss")
    for ax, name in zip(axes[1:], tasks):
        for init, color in (("pretrained", "C0"), ("scratch", "C3")):
            ls = np.array(curves[(name, init)])
            k = max(1, len(ls) // 25)
            smooth = np.convolve(ls, np.ones(k) / k, mode="valid")
            ax.plot(ls, color=color, alpha=0.2, lw=0.6)
            ax.plot(np.arange(len(smooth)) + k - 1, smooth, color=color, label=init)
        ax.set(title=f"fine-tune: {name}", xlabel="step")
        ax.legend()
    savefig(fig, args, "finetune_curves.png")

    rows = [(t, metrics["tasks"][t]["metric"], metrics["tasks"][t]["pretrained"], metrics["tasks"][t]["scratch"],
             metrics["tasks"][t]["baseline"]) for t in tasks]
    a = metrics["average"]
    rows.append(("average", "", a["pretrained"], a["scratch"], a["baseline"]))
    print_table(rows, ["task", "metric", "pre-trained", "scratch", "baseline"],
                title=f"GLUE-style table ({S['n_train']} labelled examples per task)")
    path = save_metrics(args, metrics)
    print(f"\n{path}; pre-trained - scratch = {a['pretrained'] - a['scratch']:+.3f} on average")


if __name__ == "__main__":
    main()
