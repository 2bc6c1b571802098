"""minissl's fast CBOW against gensim's word2vec (C inner loop), same corpus, same settings, one run.

    python benchmarks/cbow_vs_gensim.py [--seeds 5] [--quick]

1. head500.noblanks.cor, CBOW, min_count 3, 20 epochs, otherwise gensim's
   defaults (d=100, window 5, negative 5, sample 1e-3, alpha 0.025 -> 1e-4,
   input vectors U(±1/d); minissl's default is word2vec.c's ±0.5/d):
   WordSim-353 Spearman and questions-words analogy accuracy for both tools,
   over several seeds (mean and spread). Both sets of vectors are scored by
   gensim's evaluator, and minissl's evaluator is checked against it.
   Analogy accuracy here is ~5% of 1402 questions and moves by ±0.3-0.4
   points from seed to seed (for either tool), so compare means over >= 5 seeds.
2. lee_background.cor with gensim's own CBOW sanity-test settings
   (test_word2vec.py::test_cbow_neg): "bombings" must rank within the 50
   nearest neighbours of "attacks".
3. Throughput: corpus words × epochs / training seconds, gensim with
   workers=1, the two runs alternating in one process (the machine is shared,
   so only ratios taken side by side mean anything); medians reported.
Needs `pip install gensim`. The last line printed sums it all up.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minissl import backend  # noqa: E402
from minissl.models.word2vec import train_cbow  # noqa: E402
from minissl.models.word_vectors import KeyedVectors  # noqa: E402

try:
    from gensim.models import Word2Vec
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess
except ImportError:
    raise SystemExit("this benchmark compares with gensim: `pip install gensim`") from None

HEAD500 = dict(vector_size=100, window=5, min_count=3, negative=5, sample=1e-3, alpha=0.025,
               min_alpha=1e-4, epochs=20)
LEE = dict(vector_size=100, window=5, min_count=5, negative=15, sample=0, alpha=0.05, min_alpha=1e-4, epochs=10)


def gensim_train(sentences, seed, cfg):
    m = Word2Vec(sg=0, hs=0, cbow_mean=1, workers=1, seed=seed, **cfg)
    m.build_vocab(sentences)
    t = time.perf_counter()
    m.train(sentences, total_examples=m.corpus_count, epochs=m.epochs)
    return m.wv, time.perf_counter() - t


def minissl_train(sentences, seed, cfg, batch_size):
    # the same hyper-parameters as gensim, its initial range included: U(±1/d) (word2vec.c's is ±0.5/d)
    kv, stats = train_cbow(sentences, seed=seed, batch_size=batch_size, progress=False, init_range=1.0, **cfg)
    return kv, stats["seconds"]


def as_gensim(kv):
    from gensim.models import KeyedVectors as GKV
    g = GKV(kv.vector_size)
    g.add_vectors(kv.index_to_key, backend.to_numpy(kv.vectors))
    return g


def scores(gkv):
    """Spearman on WordSim-353 and analogy accuracy, by gensim's own evaluator."""
    sp = gkv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]
    an = gkv.evaluate_word_analogies(datapath("questions-words.txt"))[0]
    return float(sp), float(an)


def rank_of(gkv, query, word):
    sims = gkv.most_similar(query, topn=len(gkv.index_to_key))
    return [w for w, _ in sims].index(word)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=None, help="centre words per SGD step (default: auto)")
    p.add_argument("--quick", action="store_true", help="one seed, 5 epochs on head500")
    p.add_argument("--out", default=os.path.join("runs", "benchmarks"))
    a = p.parse_args()
    cfg = dict(HEAD500, epochs=5) if a.quick else HEAD500
    seeds = [1] if a.quick else list(range(1, a.seeds + 1))
    head = [line.split() for line in open(datapath("head500.noblanks.cor"), encoding="utf-8")]
    n_words = sum(map(len, head))

    rows, check = {"gensim": [], "minissl": []}, []
    for seed in seeds:
        for tool in ("gensim", "minissl"):
            if tool == "gensim":
                gkv, sec = gensim_train(head, seed, cfg)
                ours = KeyedVectors(gkv.index_to_key, gkv.vectors)
            else:
                ours, sec = minissl_train(head, seed, cfg, a.batch_size)
                gkv = as_gensim(ours)
            sp, an = scores(gkv)
            rows[tool].append((sp, an, n_words * cfg["epochs"] / sec))
            print(f"head500 seed {seed} {tool:8s} spearman {sp:.4f}  analogy {an:.4f}  "
                  f"words/s {rows[tool][-1][2]:,.0f}", flush=True)
            # minissl's evaluator must agree with gensim's on the same vectors
            ws = ours.evaluate_word_pairs(datapath("wordsim353.tsv"))["spearman"]
            aa = ours.evaluate_word_analogies(datapath("questions-words.txt"))[0]
            check.append(max(abs(ws - sp), abs(aa - an)))

    lee = [simple_preprocess(line) for line in open(datapath("lee_background.cor"), encoding="utf-8")]
    lee_rank = {}
    for tool in ("gensim", "minissl"):
        kv = gensim_train(lee, 42, LEE)[0] if tool == "gensim" else as_gensim(minissl_train(lee, 42, LEE, a.batch_size)[0])
        lee_rank[tool] = rank_of(kv, "attacks", "bombings")

    summary = {}
    print(f"\nhead500 CBOW, {len(seeds)} seed(s), {cfg['epochs']} epochs, {n_words:,} words; lee_background sanity test")
    print(f"{'tool':8s}  {'Spearman (WS353)':>20s}  {'analogy acc':>18s}  {'words/s (median)':>16s}  lee rank")
    for tool, r in rows.items():
        r = np.array(r)
        summary[tool] = {"spearman": r[:, 0].mean(), "spearman_sd": r[:, 0].std(), "analogy": r[:, 1].mean(),
                         "analogy_sd": r[:, 1].std(), "words_per_sec": float(np.median(r[:, 2])),
                         "lee_rank_bombings": lee_rank[tool]}
        s = summary[tool]
        print(f"{tool:8s}  {s['spearman']:>12.4f} ± {s['spearman_sd']:.4f}  {s['analogy']:>10.4f} ± {s['analogy_sd']:.4f}"
              f"  {s['words_per_sec']:>16,.0f}  {lee_rank[tool]}")
    ratio = summary["minissl"]["words_per_sec"] / summary["gensim"]["words_per_sec"]
    summary["speed_ratio"] = ratio
    summary["evaluator_max_abs_diff"] = max(check)
    print(f"minissl evaluator vs gensim's on the same vectors: max |difference| {max(check):.2e}")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "cbow_vs_gensim.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)
    g, m = summary["gensim"], summary["minissl"]
    print(f"RESULT spearman minissl {m['spearman']:.3f} gensim {g['spearman']:.3f} | analogy minissl "
          f"{m['analogy']:.3f} gensim {g['analogy']:.3f} | words/s minissl {m['words_per_sec']:,.0f} "
          f"gensim {g['words_per_sec']:,.0f} ({ratio:.2f}x) | lee rank minissl {m['lee_rank_bombings']} "
          f"gensim {g['lee_rank_bombings']}")


if __name__ == "__main__":
    main()
