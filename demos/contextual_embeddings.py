"""Why BERT works: the same word gets a different vector in a different context.

"bank" (of a river / for money) and "apple" (a fruit / a company) are spelled
the same, so a static word embedding gives each one vector. Feed sentences
using each sense through the pre-trained BERT, collect the word's output
vectors and compare them by cosine similarity: vectors of the same sense are
closer to each other than to vectors of the other sense. At layer 0 (word
embedding + position) the word's vectors differ only by where it sits in the
sentence, so any gap there is position ("apple hired ..." puts it first); the
table shows how the gap changes layer by layer once attention mixes in context. Also prints the nearest neighbours of a few words in the input
embedding space (words used alike end up close).

Needs the checkpoint that demos/bert_pretrain_finetune.py saves
(runs/bert_pretrain_finetune/pretrained, or --ckpt DIR); if it is missing this
demo pre-trains the --quick model itself first (about a minute).

    python demos/contextual_embeddings.py [--quick] [--ckpt DIR]
"""
from __future__ import annotations

import os

import numpy as np

from common import checkpoint_dir, parse_args, plt, print_table, save_metrics, savefig

from minissl.models.bert import BertModel, encode
from minissl.tasks import SENSES, grammar_tokenizer, sense_sentences

NEIGHBOUR_WORDS = ("dog", "bread", "happy", "ate", "red", "river")


def cosine_matrix(v):
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return v @ v.T


def sense_gap(sim, labels):
    """Mean cosine of same-sense pairs (diagonal left out) and of cross-sense pairs."""
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(sim[same & off].mean()), float(sim[~same].mean())


def load_or_pretrain(args, tok):
    ckpt = args.ckpt or os.path.join("runs", "bert_pretrain_finetune", "pretrained")
    if not os.path.exists(os.path.join(ckpt, "config.json")):
        from bert_pretrain_finetune import pretrain, settings
        from minissl.models.bert import BertConfig
        print(f"no pre-trained checkpoint in {ckpt}; pre-training the --quick model first")
        S = settings(quick=True)
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=S["hidden"], num_hidden_layers=S["layers"],
                         num_attention_heads=S["heads"], intermediate_size=4 * S["hidden"],
                         max_position_embeddings=128)
        model, _ = pretrain(tok, cfg, S, args, "sop")
        ckpt = os.path.join(args.out, "pretrained")
        model.save_pretrained(ckpt)
    print(f"encoder from {ckpt}")
    return BertModel.from_pretrained(ckpt), ckpt


def main():
    args = parse_args("contextual_embeddings", __doc__.splitlines()[0],
                      ckpt=(checkpoint_dir, None, "pre-trained checkpoint folder (default: the first demo's)"))
    tok = grammar_tokenizer()
    model, ckpt = load_or_pretrain(args, tok)
    n = 40 if args.quick else 100
    metrics, layer_rows = {"checkpoint": ckpt, "words": {}}, []
    fig, axes = plt().subplots(1, len(SENSES), figsize=(5.5 * len(SENSES), 4.8))
    for ax, word in zip(axes, SENSES):
        data = sorted(sense_sentences(n, seed=args.seed, word=word), key=lambda d: d["label"])
        ids = [[tok.cls_token_id] + tok.convert_tokens_to_ids(d["text"].split()) + [tok.sep_token_id] for d in data]
        T = max(map(len, ids))
        x = np.array([s + [tok.pad_token_id] * (T - len(s)) for s in ids])
        am = (np.arange(T)[None] < np.array([len(s) for s in ids])[:, None]).astype(np.int64)
        labels = np.array([d["label"] for d in data])
        at = np.array([d["position"] + 1 for d in data])  # +1: the [CLS] in front
        per_layer = []
        for layer in range(model.config.num_hidden_layers + 1):
            h = encode(model, x, am, layer=layer)[np.arange(len(data)), at]
            per_layer.append(sense_gap(cosine_matrix(h), labels))
            layer_rows.append((word, layer, *per_layer[-1], per_layer[-1][0] - per_layer[-1][1]))
        sim = cosine_matrix(encode(model, x, am)[np.arange(len(data)), at])
        same, cross = sense_gap(sim, labels)
        metrics["words"][word] = {"same_sense_cosine": same, "cross_sense_cosine": cross,
                                  "per_layer": [{"same": s, "cross": c} for s, c in per_layer]}
        im = ax.imshow(sim, cmap="viridis", vmin=min(0, sim.min()), vmax=1)
        k = int((labels == 0).sum())
        ax.axhline(k - 0.5, color="w", lw=1)
        ax.axvline(k - 0.5, color="w", lw=1)
        s0, s1 = SENSES[word]
        ax.set(title=f'"{word}": same {same:.2f} vs cross {cross:.2f}',
               xticks=[k / 2, k + (len(data) - k) / 2], xticklabels=[s0, s1],
               yticks=[k / 2, k + (len(data) - k) / 2], yticklabels=[s0, s1])
        fig.colorbar(im, ax=ax, fraction=0.046)
    savefig(fig, args, "sense_similarity.png")
    metrics["same_sense_cosine"] = float(np.mean([w["same_sense_cosine"] for w in metrics["words"].values()]))
    metrics["cross_sense_cosine"] = float(np.mean([w["cross_sense_cosine"] for w in metrics["words"].values()]))

    E = model.embeddings.word_embeddings.weight.numpy()
    En = E / np.linalg.norm(E, axis=1, keepdims=True)
    specials = set(tok.all_special_ids)
    neigh = {}
    for w in NEIGHBOUR_WORDS:
        i = tok.token_to_id(w)
        order = [j for j in np.argsort(-(En @ En[i])) if j != i and j not in specials][:5]
        neigh[w] = [tok.id_to_token(int(j)) for j in order]
    metrics["nearest_neighbours"] = neigh

    print_table(layer_rows, ["word", "layer", "same-sense cos", "cross-sense cos", "gap"],
                title="Cosine similarity of the word's vectors, by layer (0 = embeddings)")
    print_table([(w, ", ".join(v)) for w, v in neigh.items()], ["word", "5 nearest in embedding space"],
                title="Nearest neighbours (cosine, input embeddings)")
    print(f"\nlast layer: same-sense {metrics['same_sense_cosine']:.3f} > cross-sense "
          f"{metrics['cross_sense_cosine']:.3f}")
    print(save_metrics(args, metrics))


if __name__ == "__main__":
    main()
