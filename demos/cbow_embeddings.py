"""CBOW word vectors on Python's own documentation (or your text): neighbours, a 2-D map, numbers.

    python demos/cbow_embeddings.py [--quick] [--text FILE_OR_FOLDER] [--epochs N]

Lecture idea: "BERT is a deep-learning version of CBOW". CBOW learns a vector
per word by predicting each word from the average of its neighbours' vectors;
words used in the same contexts end up close together. This demo

1. trains the readable CBOW (embedding -> mean -> linear -> softmax, autograd)
   for a few hundred steps, to show the loss falling (loss.png);
2. trains the fast word2vec-faithful CBOW (negative sampling, subsampling,
   dynamic window) on the whole corpus, prints nearest neighbours for a few
   words, and checks that related pairs (int/float, list/tuple, ...) are more
   similar than random pairs. The claims row pairs each related pair (a, b)
   with random partners of the same two words (50 each, from the 2,000 most
   frequent): cos(a, b) minus the mean of cos(a, r) and cos(b, r), with a 95%
   paired bootstrap interval over the related pairs (one trained model, one
   seed; a dozen pairs, so the interval is wide);
3. draws a PCA map of frequent words (map.png) and saves the vectors in the
   word2vec text format (vectors.txt, readable by gensim).
"""
from __future__ import annotations

import re

import numpy as np

from common import (claim_paired, parse_args, plt, positive_int, print_claims, print_table, save_metrics, savefig,
                    text_file_or_folder)

import minissl as ms
from minissl import optim
from minissl.models.cbow import CBOW
from minissl.models.word2vec import build_vocab, train_cbow
from minissl.text import Corpus, load_text_corpus, split_sentences
from minissl.train import fit

QUERIES = ["function", "list", "string", "exception", "file", "class", "integer", "true"]
RELATED = [("int", "float"), ("list", "tuple"), ("true", "false"), ("key", "value"), ("read", "write"),
           ("class", "instance"), ("method", "function"), ("string", "bytes"), ("first", "second"),
           ("get", "set"), ("open", "close"), ("argument", "parameter")]


def pydoc_all_text():
    """All of pydoc_data.topics, code examples included: word vectors want every word they can get
    (minissl.text.load_pydoc_corpus keeps only prose, about half as much)."""
    from pydoc_data.topics import topics
    docs = [[s for p in re.split(r"\n\s*\n", topics[k]) for s in split_sentences(p)] for k in sorted(topics)]
    return Corpus(docs, "pydoc")


def readable_run(sentences, steps, args):
    """A few hundred Adam steps of the full-softmax CBOW: the idea, not the speed."""
    words, counts, ids, sent = build_vocab(sentences, min_count=5)
    ids, sent = ms.backend.to_numpy(ids), ms.backend.to_numpy(sent)
    rng, W, B = np.random.default_rng(args.seed), 2, 128
    centre = np.arange(W, len(ids) - W)
    offsets = np.r_[-W:0, 1:W + 1]
    same = np.all(sent[centre[:, None] + offsets] == sent[centre][:, None], axis=1)
    centre = centre[same]                                    # full windows inside one sentence
    model = CBOW(len(words), 64)

    def batch(step):  # B centre words and their 2W neighbours
        c = rng.choice(centre, B)
        return ms.tensor(ids[c[:, None] + offsets]), ms.ones(B, 2 * W), ms.tensor(ids[c])

    hist = fit(model, batch, steps, loss_fn=lambda m, b: m.loss(*b),
               optimizer=optim.Adam(model.parameters(), lr=3e-3), desc="readable CBOW")
    return hist["loss"], len(words)


def main():
    args = parse_args("cbow_embeddings", __doc__.split("\n")[0],
                      text=(text_file_or_folder, None, "a UTF-8 file or folder to train on instead of the Python docs"),
                      epochs=(positive_int, None, "training epochs of the fast CBOW (default 60, --quick 20)"),
                      dim=(positive_int, 100, "vector size"))
    corpus = load_text_corpus(args.text) if args.text else pydoc_all_text()
    word = re.compile(r"\w")
    sentences = [[t for t in s if word.search(t)] for s in corpus.words()]
    n_words = sum(map(len, sentences))
    print(f"{corpus!r}: {n_words:,} words")

    steps = 100 if args.quick else 600
    losses, v_readable = readable_run(sentences, steps, args)
    print(f"readable CBOW (full softmax over {v_readable} words): loss {losses[0]:.2f} -> {np.mean(losses[-20:]):.2f}")

    epochs = args.epochs or (20 if args.quick else 60)
    kv, stats = train_cbow(sentences, vector_size=args.dim, window=5, min_count=5, negative=5, sample=1e-3,
                           epochs=epochs, seed=args.seed)
    kv.save_word2vec_format(f"{args.out}/vectors.txt")

    rows = []
    for q in [q for q in QUERIES if q in kv]:
        rows.append([q, ", ".join(w for w, _ in kv.most_similar(q, topn=6))])
    print_table(rows, ["word", "nearest neighbours (cosine)"], title="Nearest neighbours")

    pairs = [(a, b) for a, b in RELATED if a in kv and b in kv]
    related = float(np.mean([kv.similarity(a, b) for a, b in pairs])) if pairs else float("nan")
    rng = np.random.default_rng(args.seed)
    top = kv.index_to_key[:2000]
    rand = float(np.mean([kv.similarity(*rng.choice(top, 2, replace=False)) for _ in range(500)]))
    # the paired control: the same words with random partners, so a word that is close to everything
    # (frequent, or all vectors crowded in one cone) does not make its pair look related
    partner = [np.mean([kv.similarity(w, r) for w in (a, b) for r in rng.choice(top, 50)]) for a, b in pairs]
    claims = [claim_paired("related pairs are closer than the same words with random partners (cosine)",
                           [kv.similarity(a, b) for a, b in pairs], partner, seed=args.seed,
                           where=f"{len(pairs)} related pairs, seed {args.seed}")] if len(pairs) >= 2 else []

    # PCA map of frequent content words (skip the 30 most frequent, mostly function words)
    show = kv.index_to_key[30:110]
    X = ms.backend.to_numpy(kv.vectors[[kv.get_index(w) for w in show]])
    X = X - X.mean(0)
    xy = X @ np.linalg.svd(X, full_matrices=False)[2][:2].T
    pyplot = plt()
    fig, ax = pyplot.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1, 2]})
    ax[0].plot(losses)
    ax[0].set(xlabel="Adam step", ylabel="softmax cross-entropy", title="readable CBOW")
    ax[1].scatter(xy[:, 0], xy[:, 1], s=6)
    for (x, y), w in zip(xy, show):
        ax[1].annotate(w, (x, y), fontsize=8)
    ax[1].set(title=f"PCA of CBOW vectors, words ranked 30-110 ({corpus.name})")
    savefig(fig, args, "map.png")

    metrics = {"corpus_words": n_words, "vocab_size": len(kv), "epochs": epochs, "batch_size": stats["batch_size"],
               "words_per_sec": stats["words_per_sec"], "train_seconds": stats["seconds"],
               "loss_first_epoch": stats["loss"][0], "loss_last_epoch": stats["loss"][-1],
               "related_pair_similarity": related, "random_pair_similarity": rand, "related_pairs": len(pairs),
               "readable_loss_first": losses[0], "readable_loss_last20": float(np.mean(losses[-20:])),
               "neighbours": {r[0]: r[1] for r in rows}, "claims": claims}
    save_metrics(args, metrics)
    print_table([["words/s (fast CBOW)", f"{stats['words_per_sec']:,.0f}"],
                 ["negative-sampling loss, first -> last epoch", f"{stats['loss'][0]:.3f} -> {stats['loss'][-1]:.3f}"],
                 ["mean cosine, related pairs", related], ["mean cosine, random pairs", rand],
                 ["readable CBOW loss, first -> last", f"{losses[0]:.2f} -> {np.mean(losses[-20:]):.2f}"]],
                ["result", "value"], title="CBOW on " + corpus.name)
    print_claims(claims, title="Claims (one trained model; paired bootstrap over related pairs)")
    print(f"wrote {args.out}/metrics.json, map.png, vectors.txt")


if __name__ == "__main__":
    main()
