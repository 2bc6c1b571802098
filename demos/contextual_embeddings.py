"""Why BERT works: the same word gets a different vector in a different context.

"bank" (of a river / for money) and "apple" (a fruit / a company) are spelled
the same, so a static word embedding gives each one vector. Feed sentences
using each sense through a BERT, take the word's output vector, and compare
pairs by cosine similarity: the *gap* is the mean cosine of same-sense pairs
minus that of cross-sense pairs.

A gap alone proves little. Sentences from one template are near copies, and a
BERT with random weights already gives a positive gap: attention mixes the
neighbouring words in, and "apple hired ..." puts the word first (position).
So the protocol is:

* 24 templates per sense; 12 are the only sense sentences in the pre-training
  corpus ("seen"), 12 never appear there ("held out"). Pairs are compared only
  across *different* templates, and the two splits are reported separately.
* Each seed pre-trains a small BERT with plain masked-LM (BERT's 80/10/10 on 15%
  of the tokens, no sentence task, nothing sense-specific) on the grammar corpus;
  the control is the same network with the same seed's random weights, never
  trained.
* The claim is the gap of the pre-trained model *minus* the control's gap, on
  held-out templates: mean and 95% interval over seeds (5; 2 with --quick) and a
  verdict (``minissl.metrics.verdict``). The scale-free version (AUC: how often a
  same-sense pair is closer than a cross-sense pair) is reported beside it,
  because cosines of a random network are all high and squeeze its gap.

The per-layer table (0 = word embedding + position) shows where the gap
appears; the figure shows the similarity matrices of seed 0 and the gap per
seed for both models. Also prints the nearest neighbours of a few words in the
input embedding space (words used alike end up close).

    python demos/contextual_embeddings.py [--quick] [--seeds N]
"""
from __future__ import annotations

import numpy as np

import minissl as ms
from common import claim, parse_args, plt, positive_int, print_claims, print_table, save_metrics, savefig

from minissl.metrics import mean_ci, roc_auc
from minissl.models.bert import BertConfig, BertForPreTraining, encode
from minissl.tasks import SENSES, grammar_corpus, grammar_tokenizer, sense_grid
from minissl.text import pad_batch
from minissl.train import pretrain_mlm

NEIGHBOUR_WORDS = ("dog", "bread", "happy", "ate", "red", "river")
SPLITS = ("held_out", "seen")


def settings(quick):
    if quick:
        return dict(hidden=64, layers=2, heads=2, docs=600, steps=500, batch=32, lr=2e-3, per_template=2, seeds=2)
    # the --quick model trained 4x longer on 3x the text, five times (the quick one: about 30 s of CPU per seed;
    # this one: 523 s of CPU in all, 19 min wall on a shared 2-core machine; EXPERIMENTS.md has its table)
    return dict(hidden=64, layers=2, heads=2, docs=2000, steps=2000, batch=32, lr=2e-3, per_template=3, seeds=5)


def pretrain(tok, S, seed):
    """(pre-trained model, random-init control): the same BERT and seed, MLM on the grammar corpus or nothing."""
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=S["hidden"], num_hidden_layers=S["layers"],
                     num_attention_heads=S["heads"], intermediate_size=4 * S["hidden"], max_position_embeddings=128)
    ms.manual_seed(seed)
    control = BertForPreTraining(cfg)
    ms.manual_seed(seed)
    model = BertForPreTraining(cfg)
    docs = [tok.encode(" ".join(d), max_length=64) for d in grammar_corpus(S["docs"], seed=seed)]
    hist = pretrain_mlm(model, docs, tok, S["steps"], batch_size=S["batch"], lr=S["lr"], seed=seed,
                        desc=f"MLM seed {seed}")
    return model.bert, control.bert, float(np.mean(hist["loss"][-50:]))


def word_vectors(model, tok, data):
    """The word's vector at every layer: (layers+1, N, H)."""
    ids = [[tok.cls_token_id] + tok.convert_tokens_to_ids(d["text"].split()) + [tok.sep_token_id] for d in data]
    x, am = pad_batch(ids, tok.pad_token_id)
    at = np.array([d["position"] + 1 for d in data])  # +1: the [CLS] in front
    rows = np.arange(len(data))
    return np.stack([encode(model, x, am, layer=k)[rows, at] for k in range(model.config.num_hidden_layers + 1)])


def cosine_matrix(v):
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return v @ v.T


def pair_stats(h, data):
    """Per split: same-sense and cross-sense mean cosine, their gap, and the pair AUC, over pairs of
    sentences from *different* templates whose templates are both in the split."""
    sim = cosine_matrix(h)
    lab = np.array([d["label"] for d in data])
    key = np.array([2 * d["template"] + d["label"] for d in data])  # one id per (sense, template)
    held = np.array([d["held_out"] for d in data])
    i, j = np.triu_indices(len(data), 1)
    same = lab[i] == lab[j]
    out = {}
    for split in SPLITS:
        keep = (key[i] != key[j]) & (held[i] == held[j]) & (held[i] == (split == "held_out"))
        s, c = float(sim[i, j][keep & same].mean()), float(sim[i, j][keep & ~same].mean())
        out[split] = {"same": s, "cross": c, "gap": s - c, "auc": roc_auc(same[keep], sim[i, j][keep])}
    return out


def neighbours(model, tok):
    E = model.embeddings.word_embeddings.weight.numpy()
    En = E / np.linalg.norm(E, axis=1, keepdims=True)
    specials = set(tok.all_special_ids)
    out = {}
    for w in NEIGHBOUR_WORDS:
        i = tok.token_to_id(w)
        order = [j for j in np.argsort(-(En @ En[i])) if j != i and j not in specials][:5]
        out[w] = [tok.id_to_token(int(j)) for j in order]
    return out


def main():
    args = parse_args("contextual_embeddings", __doc__.splitlines()[0],
                      seeds=(positive_int, None, "seeds (pre-trained model + control each; default 5, 2 with --quick)"))
    S = settings(args.quick)
    seeds = [args.seed + k for k in range(args.seeds or S["seeds"])]
    tok = grammar_tokenizer()
    runs = {}  # seed -> word -> arm -> layer -> split -> stats
    first = {}
    for seed in seeds:
        pre, ctrl, loss = pretrain(tok, S, seed)
        print(f"seed {seed}: final MLM loss {loss:.3f}")
        runs[seed] = {}
        for word in SENSES:
            data = sense_grid(S["per_template"], seed=seed, word=word)
            runs[seed][word] = {}
            for arm, model in (("pretrained", pre), ("random_init", ctrl)):
                hs = word_vectors(model, tok, data)
                runs[seed][word][arm] = [pair_stats(h, data) for h in hs]
                if seed == seeds[0]:
                    first[(word, arm)] = (cosine_matrix(hs[-1]), data)
        if seed == seeds[0]:
            neigh = neighbours(pre, tok)

    def per_seed(word, arm, split, stat, layer=-1):
        """One value per seed; word "both" averages the two words."""
        words = list(SENSES) if word == "both" else [word]
        return [float(np.mean([runs[s][w][arm][layer][split][stat] for w in words])) for s in seeds]

    def over_control(word, split, stat):
        return [p - c for p, c in zip(per_seed(word, "pretrained", split, stat), per_seed(word, "random_init",
                                                                                          split, stat))]

    claims = []
    for word in ("both", *SENSES):
        name = "bank and apple" if word == "both" else f'"{word}"'
        claims.append(claim(f"{name}: pre-trained gap above the random-init control's, held-out templates",
                            over_control(word, "held_out", "gap"), word=word, split="held_out", stat="gap"))
    claims.append(claim("bank and apple: pre-trained gap above the control's, templates seen in pre-training",
                        over_control("both", "seen", "gap"), word="both", split="seen", stat="gap"))
    claims.append(claim("bank and apple: pre-trained pair AUC above the control's, held-out templates",
                        over_control("both", "held_out", "auc"), word="both", split="held_out", stat="auc"))
    claims.append(claim("bank and apple: the random-init control's own gap is above 0, held-out templates "
                        "(what a gap alone would wrongly credit to pre-training)",
                        per_seed("both", "random_init", "held_out", "gap"), word="both", split="held_out", stat="gap"))

    metrics = {"seeds": seeds, "settings": S, "claims": claims, "words": {}}
    rows = []
    for word in SENSES:
        metrics["words"][word] = {}
        for arm in ("pretrained", "random_init"):
            metrics["words"][word][arm] = {split: {stat: mean_ci(per_seed(word, arm, split, stat))
                                                   for stat in ("same", "cross", "gap", "auc")} for split in SPLITS}
            for split in SPLITS:
                m = metrics["words"][word][arm][split]
                rows.append((word, arm, split, m["same"]["mean"], m["cross"]["mean"], m["gap"]["mean"],
                             interval(m["gap"]), m["auc"]["mean"]))
    L = S["layers"] + 1
    layer_rows = [(word, k, *(float(np.mean(per_seed(word, arm, "held_out", "gap", k)))
                              for arm in ("pretrained", "random_init"))) for word in SENSES for k in range(L)]
    metrics["per_layer_gap_held_out"] = [dict(word=w, layer=k, pretrained=p, random_init=r)
                                         for w, k, p, r in layer_rows]
    metrics["nearest_neighbours"] = neigh
    # the tour's headline: the gap on held-out templates, both words, pre-trained and control
    metrics["gap_pretrained"] = mean_ci(per_seed("both", "pretrained", "held_out", "gap"))
    metrics["gap_random_init"] = mean_ci(per_seed("both", "random_init", "held_out", "gap"))

    figure(args, first, seeds, per_seed)
    print_table(layer_rows, ["word", "layer", "gap pre-trained", "gap random init"],
                title=f"Same-minus-cross cosine gap by layer, held-out templates (0 = embeddings; mean of {len(seeds)} "
                      "seeds)")
    print_table([(w, ", ".join(v)) for w, v in neigh.items()], ["word", "5 nearest in embedding space"],
                title=f"Nearest neighbours (cosine, input embeddings, seed {seeds[0]})")
    print_table(rows, ["word", "model", "templates", "same cos", "cross cos", "gap", "95% interval", "pair AUC"],
                title=f"Last layer, pairs from different templates; mean over {len(seeds)} seeds")
    note = "; --quick: fewer seeds and a short pre-training" if args.quick else ""
    print_claims(claims, title=f"Claims ({len(seeds)} seeds{note})")
    print(save_metrics(args, metrics))


def interval(ci):
    return "n/a (1 seed)" if ci["lo"] is None else f"[{ci['lo']:+.3f}, {ci['hi']:+.3f}]"


def figure(args, first, seeds, per_seed):
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2 * len(SENSES) + 1, figsize=(4.4 * (2 * len(SENSES) + 1), 4.2))
    for ax, ((word, arm), (sim, data)) in zip(axes, first.items()):
        lab = np.array([d["label"] for d in data])
        k = int((lab == 0).sum())
        ax.imshow(sim, cmap="viridis", vmin=min(0, sim.min()), vmax=1)
        ax.axhline(k - 0.5, color="w", lw=1)
        ax.axvline(k - 0.5, color="w", lw=1)
        s0, s1 = SENSES[word]
        ax.set(title=f'"{word}", {arm.replace("_", " ")} (seed {seeds[0]})', xticks=[k / 2, k + k / 2],
               xticklabels=[s0, s1], yticks=[k / 2, k + k / 2], yticklabels=[s0, s1])
    ax = axes[-1]
    for x, (arm, colour) in enumerate((("pretrained", "C0"), ("random_init", "C1"))):
        for split, marker in (("held_out", "o"), ("seen", "x")):
            vals = per_seed("both", arm, split, "gap")
            ax.scatter(np.full(len(vals), x + (0.15 if split == "seen" else -0.15)), vals, color=colour, marker=marker,
                       label=f"{arm.replace('_', ' ')}, {split.replace('_', '-')} templates")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xticks=[0, 1], xticklabels=["pre-trained", "random init"], xlim=(-0.6, 1.6),
           ylabel="same- minus cross-sense cosine", title="gap per seed (bank and apple)")
    ax.legend(fontsize=7)
    fig.subplots_adjust(wspace=0.4)
    savefig(fig, args, "sense_similarity.png")


if __name__ == "__main__":
    main()
