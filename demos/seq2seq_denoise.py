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

    python demos/seq2seq_denoise.py [--quick] [--corpus grammar|pydoc|FILE.txt]
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from common import (claim_from_interval, comma_list, multiple_of, parse_args, plt, positive_int, print_claims,
                    print_table, prob, save_metrics, savefig, text_file_or_folder)
import minissl as ms  # noqa: I001 (after common, which turns a bad MINISSL_BACKEND into one line)
from minissl.metrics import bootstrap_ci
from minissl.models.seq2seq import Seq2SeqTransformer
from minissl.models.seq2seq_decode import greedy_search
from minissl.text.denoising import NOISES, DenoisingObjective, seq2seq_batch
from minissl.train import fit, make_optimizer


def corpus_name(text):
    """--corpus: "grammar", "pydoc", or a UTF-8 text file or folder (vetted by common.text_file_or_folder)."""
    if text in ("grammar", "pydoc"):
        return text
    if not os.path.exists(text):  # most likely a misspelt name, so say what the names are
        raise argparse.ArgumentTypeError(f"{text!r} is neither grammar, pydoc nor an existing file or folder")
    return text_file_or_folder(text)


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
        from minissl.text import WordPieceTokenizer, load_pydoc_corpus, load_text_corpus
        corpus = load_pydoc_corpus("all") if name == "pydoc" else load_text_corpus(name)
        tok = WordPieceTokenizer.train(corpus.sentences(), vocab_size=2000)
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


def main():
    args = parse_args("seq2seq_denoise", __doc__.split("\n")[0],
                      corpus=(corpus_name, "grammar",
                              "grammar (default), pydoc, or a UTF-8 text file or folder of .txt files"),
                      objectives=(comma_list(*NOISES), ",".join(NOISES), "comma-separated pre-training objectives"),
                      steps=(positive_int, None, "pre-training steps (default 1500, --quick 600)"),
                      ft_steps=(positive_int, None, "fine-tuning steps per model (default 400, --quick 200)"),
                      n_labelled=(positive_int, 100, "labelled examples for fine-tuning"),
                      d_model=(multiple_of(4), 128, "model width (4 attention heads)"),
                      dropout=(prob, 0.0, "dropout (the pre-training stream never repeats a batch)"))
    steps = args.steps or (600 if args.quick else 1500)
    ft_steps = args.ft_steps or (200 if args.quick else 400)
    n_eval = 100 if args.quick else 300
    names = [n.strip() for n in args.objectives.split(",") if n.strip()]
    rng = np.random.default_rng(args.seed)

    tok, encode, docs, heldout = load_corpus(args.corpus, args.seed, 3000 if args.quick else 8000, n_eval, 60)
    v = tok.vocab
    ids = {"pad": v["[PAD]"], "bos": v["[CLS]"], "eos": v["[SEP]"], "mask": v["[MASK]"]}
    objs = {n: DenoisingObjective(n, ids["mask"], ids["pad"], ids["bos"], ids["eos"], seed=args.seed + k)
            for k, n in enumerate(names)}
    print(f"corpus {args.corpus}: {len(docs)} training documents, {len(heldout)} held out, vocabulary {len(tok)}")

    def build():
        ms.manual_seed(args.seed)  # the same initial weights for the pre-trained and the scratch model
        return Seq2SeqTransformer(len(tok), args.d_model, 4, 2, 2, 2 * args.d_model, args.dropout, max_position=72,
                                  pad_id=ids["pad"])

    # ---- 1. pre-training: one objective per step, in turn
    model = build()
    print(f"model: {model.num_parameters():,} parameters; pre-training {steps} steps on {names}")

    def pretrain_batch(step):
        return objs[names[step % len(names)]]([docs[j] for j in rng.integers(len(docs), size=32)])

    pre_curve, _ = train(model, pretrain_batch, steps, 3e-3, "pre-train")

    # ---- 2. restoration of held-out documents, per objective
    rows, acc, em, examples = [], {}, {}, {}
    for n, obj in objs.items():
        obj.rng = np.random.default_rng(10_000 + args.seed)  # the same corruptions every run
        acc[n], em[n], examples[n] = restore(model, obj, heldout, ids)
        rows.append((n, acc[n], em[n]))
    print_table(rows, ["noise", "token accuracy", "exact match"],
                f"Restoring {len(heldout)} held-out documents (greedy decoding)")
    show = "bart" if "bart" in objs else names[0]
    print(f"\nCorrupted input -> restoration ({show}); * = exact")
    for src, tgt, pred in examples[show][:5]:
        print(f"  in : {words(tok, src)}\n  out: {words(tok, pred)}{'  *' if pred == tgt else ''}")
    first = {n: next((e for e in ex if e[0] != e[1]), ex[0]) for n, ex in examples.items()}  # visibly corrupted
    others = [(n, words(tok, first[n][0]), words(tok, first[n][2])) for n in names if n != show]
    if others:
        print_table(others, ["noise", "corrupted input", "restored (MASS: the span)"], "One example per noise")

    # ---- 3. fine-tuning on sentence -> negation: pre-trained vs scratch
    from minissl.tasks.core import load_task
    task = load_task("negation", n_train=args.n_labelled, n_dev=0, n_test=200, seed=args.seed)
    train_pairs = [(encode(e["source"]), encode(e["target"])) for e in task.train]
    test_pairs = [(encode(e["source"]), encode(e["target"])) for e in task.test]

    # Both arms see the same batches in the same order: one fixed list of draws, not a shared stream.
    picks = np.random.default_rng(20_000 + args.seed).integers(len(train_pairs), size=(ft_steps, 16))

    def ft_batch(step):
        return seq2seq_batch([train_pairs[j] for j in picks[step]], ids["pad"], ids["bos"], ids["eos"])

    def test_exact(m):
        b = seq2seq_batch(test_pairs, ids["pad"], ids["bos"], ids["eos"])
        out = greedy_search(m, b["input_ids"], b["attention_mask"], bos_id=ids["bos"], eos_id=ids["eos"],
                            max_new_tokens=max(len(t) for _, t in test_pairs) + 4)
        return float(np.mean([o == t for o, (_, t) in zip(out, test_pairs)])), out

    curves, progress, ft, hits = {}, {}, {}, {}
    for name, m in (("pretrained", model), ("scratch", build())):
        curves[name], progress[name] = train(m, ft_batch, ft_steps, 2e-3, f"fine-tune {name}", log_every=5,
                                             evaluate=lambda m: test_exact(m)[0], eval_every=max(1, ft_steps // 8))
        ft[name], out = test_exact(m)
        hits[name] = np.array([o == t for o, (_, t) in zip(out, test_pairs)], dtype=float)
        if name == "pretrained":
            sample = [(task.test[i]["source"], words(tok, out[i])) for i in range(3)]
    print_table([("pre-trained", ft["pretrained"]), ("from scratch", ft["scratch"])],
                ["model", "test exact match"],
                f"Fine-tuning on sentence -> negation ({len(train_pairs)} labelled pairs, {ft_steps} steps)")
    for s, o in sample:
        print(f"  {s}  ->  {o}")
    d = bootstrap_ci(lambda a, b: float(np.mean(a - b)), hits["pretrained"], hits["scratch"], seed=args.seed)
    claims = [claim_from_interval("pre-trained fine-tunes to a higher test exact match than scratch", d["value"],
                                  d["lo"], d["hi"], len(test_pairs),
                                  where="one seed: the interval covers the test sentences, not training noise")]
    print_claims(claims, title="Claims (paired bootstrap over test sentences)")

    pyplot = plt()
    fig, (a1, a2, a3) = pyplot.subplots(1, 3, figsize=(16, 4))
    a1.plot(*zip(*pre_curve))
    a1.set(title=f"Denoising pre-training ({len(names)} objectives in turn)", xlabel="step",
           ylabel="loss (smoothed)")
    for name, c in curves.items():
        a2.plot(*zip(*c), label=f"{name}: test exact match {ft[name]:.2f}")
    a2.set(title="Fine-tuning: sentence -> negation", xlabel="step", ylabel="training loss (smoothed)",
           yscale="log")
    a2.legend()
    for name, c in progress.items():
        a3.plot(*zip(*c), marker="o", label=name)
    a3.set(title="Fine-tuning: test exact match", xlabel="step", ylabel="exact match", ylim=(0, 1))
    a3.legend()
    savefig(fig, args, "loss_curves.png")

    path = save_metrics(args, {
        "restore_exact_match": em, "restore_token_accuracy": acc, "finetune": ft, "claims": claims,
        "finetune_progress": {k: [list(p) for p in v] for k, v in progress.items()},
        "pretrain_steps": steps, "finetune_steps": ft_steps, "n_labelled": len(train_pairs),
        "n_heldout": len(heldout), "corpus": args.corpus, "parameters": model.num_parameters()})
    print(f"\nmetrics: {path}")


if __name__ == "__main__":
    main()
