"""A real GPT learns a task from its prompt: SmolLM2-135M, zero-, one- and few-shot, no gradient step.

The lecture's claim: a language model pre-trained only to predict the next
token can do a task it is *shown* in the prompt. This demo loads a real one
(SmolLM2-135M-Instruct, 30 layers, from its GGUF file: ``minissl.models.load_gguf``),
freezes it, and measures four tasks whose answers come from real data, not from
minissl's generators:

- English -> French and English -> Spanish words (FreeDict dictionaries; any of
  the dictionary's translations counts; English words limited to those that are
  one token for the model, i.e. common words),
- country -> capital (the capital-world analogies shipped with gensim),
- singular -> plural noun (gensim's gram8-plural analogies; only 37 nouns, so
  its intervals are wide).

A prompt is k demonstrations and a query, written as a bare pattern::

    English: house           (k = 2 demonstrations, drawn from a pool kept apart
    French: maison           from the test words)
    English: water
    French: eau
    English: dog             <- the query
    French:                  <- the model continues: " chien", then a line break

An answer is right when greedy decoding writes exactly the gold word and then
ends the line. That is computed in one forward pass over prompt + gold answer:
greedy decoding reproduces a token sequence exactly when each of its tokens is
the arg-max given the ones before (teacher forcing), so nothing is sampled.
The k demonstrations are run once and their keys/values shared by every query
(``expand_cache``).

Settings: k = 0, 1, 2, 4, 8 (k >= 1 with several demonstration draws, the
seeds); zero-shot also as an instruction in the model's chat template (free
text, scored leniently: right when the gold word appears in the first line of
the reply). Controls: k = 8 with the demonstrations' answers shuffled among
them (is the model reading the mapping or only the format?) and the cheapest
rule a practitioner would try (copy the English word; append "s"). The model's
weights are hashed before and after: they do not change. Intervals are 95%
percentile-bootstrap intervals over test items; a difference (k = 8 vs 0,
true vs shuffled answers) is paired by item.

Cost: every score is a forward pass of a 135M-parameter network in float32 on the
CPU. The default run (up to 300 items, k = 0, 1, 2, 4, 8, two draws) takes 9 minutes
of CPU (536 s; 32 minutes of wall time on a 2-core machine shared with other jobs) at
2.2 GB peak memory; --quick (40 items, k = 0, 1, 4, one draw) about a minute of wall
time (EXPERIMENTS.md has the default run's table).

    python demos/gpt_real.py [--quick] [--items N] [--model FILE.gguf]

The toy version of this claim is ``demos/gpt_incontext.py``: a small GPT
trained on the prompt format itself, which shows the mechanism, not its
emergence from next-token pre-training.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import time

import numpy as np

from common import (claim_from_interval, parse_args, plt, positive_int, print_claims, print_table, save_metrics,
                    savefig, skip)
import minissl.datasets as D
from minissl.backend import to_numpy
from minissl.metrics import bootstrap_ci
from minissl.models import load_gguf
from minissl.models.llama import SMOLLM2_INSTALL, expand_cache, find_smollm2

SHOTS = (0, 1, 2, 4, 8)
POOL = 16  # demonstrations are drawn from these items only; the rest are test items
TASKS = {  # name: (input label, output label, chat instruction)
    "eng->fra": ("English", "French", "Translate the English word \"{}\" into French. Reply with the French word only."),
    "eng->spa": ("English", "Spanish", "Translate the English word \"{}\" into Spanish. Reply with the Spanish word only."),
    "capital": ("Country", "Capital", "What is the capital of {}? Reply with the city name only."),
    "plural": ("Singular", "Plural", "What is the plural of the noun \"{}\"? Reply with the plural only."),
}


def task_items(tok):
    """name -> [(input, [accepted answers])], in a fixed order (a fixed shuffle, the same for every run)."""
    def one_token(w):
        return len(tok.encode(" " + w)) == 1

    def translations(lang):
        by_word = {}
        for en, tr in D.word_pairs("eng", lang):
            if en.isalpha() and en.islower() and len(en) > 2 and one_token(en) and tr.replace("-", "").isalpha():
                by_word.setdefault(en, []).append(tr.lower())
        return sorted((en, sorted(set(trs))) for en, trs in by_word.items())

    analogies, section = {}, None
    for line in open(D.gensim_test_data("questions-words.txt"), encoding="utf-8"):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        a, b, c, d = line.split()
        analogies.setdefault(section, set()).update([(a, b), (c, d)])
    capitals = sorted((country, [city]) for city, country in analogies["capital-world"])
    items = {"eng->fra": translations("fra"), "eng->spa": translations("spa"), "capital": capitals,
             "plural": sorted((s, [p]) for s, p in analogies["gram8-plural"])}
    rng = np.random.default_rng(1234)  # the split is part of the task definition, not of --seed
    return {k: [v[i] for i in rng.permutation(len(v))] for k, v in items.items()}


def demonstrations(pool, k, rng, shuffled=False):
    picks = [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]
    answers = [a[0] for _, a in picks]
    if shuffled and k > 1:  # a derangement: every demonstration shows a wrong answer
        order = np.roll(np.arange(k), 1 + int(rng.integers(k - 1)))
        answers = [answers[i] for i in order]
    return [(x, y) for (x, _), y in zip(picks, answers)]


def pattern_scores(model, tok, task, demos, items, batch):
    """Greedy exact match for each item, by teacher forcing (see the module docstring)."""
    a, b, _ = TASKS[task]
    prefix = "".join(f"{a}: {x}\n{b}: {y}\n\n" for x, y in demos) + f"{a}:"
    p_ids = tok.encode(prefix)
    cache = model.new_cache()
    model(np.array([p_ids]), cache=cache)  # the demonstrations, once
    rows = []  # (item index, query ids, answer ids)
    for i, (x, answers) in enumerate(items):
        q = tok.encode(f" {x}\n{b}:")
        rows += [(i, q, tok.encode(" " + ans)) for ans in answers]
    _, q, ans = rows[0]  # pieces tokenised apart must equal the whole text tokenised at once
    assert p_ids + q + ans == tok.encode(prefix + tok.decode(q + ans)), "tokenisation differs at a boundary"
    right = np.zeros(len(items), dtype=bool)
    for s in range(0, len(rows), batch):
        chunk = rows[s:s + batch]
        L = max(len(q) + len(ans) for _, q, ans in chunk)
        ids = np.zeros((len(chunk), L), dtype=np.int64)
        mask = np.ones((len(chunk), len(p_ids) + L), dtype=np.int64)
        for r, (_, q, ans) in enumerate(chunk):  # left-padded after the shared prefix
            seq = q + ans
            ids[r, L - len(seq):] = seq
            mask[r, len(p_ids):len(p_ids) + L - len(seq)] = 0
        pos = (np.cumsum(mask, axis=1) - 1)[:, len(p_ids):]  # real tokens count, padding does not
        out = model(ids, attention_mask=mask, position_ids=pos, cache=expand_cache(cache, len(chunk)))
        pred = to_numpy(out.logits.array.argmax(-1))
        for r, (i, q, ans) in enumerate(chunk):
            start = L - len(ans) - 1  # the logits here predict the answer's first token
            ok = pred[r, start:L - 1].tolist() == ans and tok.decode([pred[r, L - 1]]).startswith("\n")
            right[i] |= ok
    return right


def chat_scores(model, tok, task, items, batch, max_new_tokens=12):
    """Zero-shot as an instruction: the reply's first line contains an accepted answer."""
    right = np.zeros(len(items), dtype=bool)
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        prompts = [tok.apply_chat_template([{"role": "user", "content": TASKS[task][2].format(x)}],
                                           add_generation_prompt=True) for x, _ in chunk]
        T = max(map(len, prompts))
        ids = np.array([[tok.eos_token_id] * (T - len(p)) + p for p in prompts])
        mask = np.array([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
        out = model.generate(ids, max_new_tokens, attention_mask=mask, eos_token_id=tok.eos_token_id)
        for r, (_, answers) in enumerate(chunk):
            reply = tok.decode(out[r, T:], skip_special_tokens=True).strip().split("\n")[0].lower()
            words = set(re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", reply))
            right[s + r] = any(a.lower() in words for a in answers)
    return right


def rule_baseline(task, items):
    """Copy the input (translation, capital) or append "s" (plural): the cheapest rule."""
    guess = (lambda x: x + "s") if task == "plural" else (lambda x: x.lower())
    return np.array([guess(x) in answers for x, answers in items])


def mean_ci(per_item):
    """Mean over test items of per-item scores (each averaged over the demonstration draws, or a
    paired difference) and its 95% percentile-bootstrap interval over items."""
    b = bootstrap_ci(np.mean, np.asarray(per_item, dtype=float))
    return b["value"], b["lo"], b["hi"]


def weights_digest(model):
    h = hashlib.sha256()
    for name, p in model.state_dict().items():
        h.update(name.encode())
        h.update(to_numpy(p.array).tobytes())
    return h.hexdigest()


def show_generation(model, tok):
    """One chat answer, with tokens/s for the prompt (prefill) and the new tokens (decode, KV cache)."""
    ids = tok.apply_chat_template([{"role": "user", "content": "Write one sentence about the sea."}],
                                  add_generation_prompt=True)
    t0 = time.perf_counter()
    model.generate(np.array([ids]), 1)
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = model.generate(np.array([ids]), 40, eos_token_id=tok.eos_token_id, progress=True)
    total = time.perf_counter() - t0
    new = out.shape[1] - len(ids)
    reply = tok.decode(out[0, len(ids):], skip_special_tokens=True)
    speed = {"prompt_tokens": len(ids), "prefill_tokens_per_s": len(ids) / prefill,
             "new_tokens": new, "decode_tokens_per_s": (new - 1) / max(total - prefill, 1e-9)}
    print(f"\nchat> Write one sentence about the sea.\nSmolLM2> {reply.strip()}")
    print(f"prefill {speed['prefill_tokens_per_s']:.1f} tokens/s ({len(ids)} tokens), decode "
          f"{speed['decode_tokens_per_s']:.1f} tokens/s with the KV cache (batch 1, float32, this machine)")
    samples = [reply.strip()]
    for text in ("The capital of France is", "def add(a, b):"):
        p = tok.encode(text)
        samples.append(text + tok.decode(model.generate(np.array([p]), 20)[0, len(p):]))
        print(f"\n{samples[-1]}")
    return speed, samples


def gguf_file(text: str) -> str:
    """An existing file that starts with GGUF's magic bytes."""
    try:
        with open(text, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot read {text!r} ({e.strerror}); give a .gguf model file") from None
    if magic != b"GGUF" or not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a GGUF file (it does not start with 'GGUF')")
    return text


def main():
    args = parse_args("gpt_real", __doc__.split("\n")[0],
                      items=(positive_int, None, "test items per task (default 300, --quick 40)"),
                      seeds=(positive_int, None, "demonstration draws per k (default 2, --quick 1)"),
                      batch=(positive_int, 32, "rows per forward pass"),
                      model=(gguf_file, None, "a Llama-architecture .gguf file (default: the installed SmolLM2)"))
    path = args.model or find_smollm2()
    if path is None:
        skip("gpt_real", f"the SmolLM2 GGUF file is not installed; run: {SMOLLM2_INSTALL}")
    n_items, n_seeds = args.items or (40 if args.quick else 300), args.seeds or (1 if args.quick else 2)
    shots = (0, 1, 4) if args.quick else SHOTS
    t0 = time.perf_counter()
    model, tok = load_gguf(path)
    print(f"{path}: {model.num_parameters():,} parameters, {model.config.num_hidden_layers} layers, "
          f"{model.config.num_attention_heads} query / {model.config.num_key_value_heads} key-value heads, "
          f"loaded in {time.perf_counter() - t0:.1f} s")
    digest = weights_digest(model)
    speed, samples = show_generation(model, tok)

    all_items = task_items(tok)
    results, curves, claims = {}, {}, []
    for task, items in all_items.items():
        pool, test = items[:POOL], items[POOL:POOL + n_items]
        res = {"n_test": len(test), "rule_baseline": mean_ci(rule_baseline(task, test))}
        per_k = {}
        for k in shots:
            draws = 1 if k == 0 else n_seeds
            scores = [pattern_scores(model, tok, task, demonstrations(pool, k, np.random.default_rng(
                [args.seed, k, s])), test, args.batch) for s in range(draws)]
            per_k[k] = np.mean(scores, axis=0)
            res[f"{k}-shot"] = {"per_seed": [float(x.mean()) for x in scores], "mean_ci": mean_ci(per_k[k])}
            print(f"{task:9s} {k}-shot  accuracy {per_k[k].mean():.3f}  ({len(test)} items x {draws} draws)")
        kmax = max(shots)
        shuffled = [pattern_scores(model, tok, task, demonstrations(pool, kmax, np.random.default_rng(
            [args.seed, kmax, s]), shuffled=True), test, args.batch) for s in range(n_seeds)]
        res[f"{kmax}-shot shuffled answers"] = {"per_seed": [float(x.mean()) for x in shuffled],
                                               "mean_ci": mean_ci(np.mean(shuffled, axis=0))}
        chat = chat_scores(model, tok, task, test, args.batch)
        res["0-shot chat instruction"] = {"mean_ci": mean_ci(chat)}
        res["few_vs_zero"] = mean_ci(per_k[kmax] - per_k[0])      # paired by item
        res["true_vs_shuffled"] = mean_ci(per_k[kmax] - np.mean(shuffled, axis=0))
        res["few_vs_rule"] = mean_ci(per_k[kmax] - rule_baseline(task, test))
        rows = [claim_from_interval(text, *res[key], len(test), where=task) for text, key in (
            (f"{kmax}-shot beats 0-shot", "few_vs_zero"),
            ("correct answers in the demonstrations matter (true minus shuffled)", "true_vs_shuffled"),
            (f"{kmax}-shot beats the rule baseline", "few_vs_rule"))]
        claims += rows
        res["claims"] = {c["claim"]: c["verdict"] for c in rows}
        results[task] = res
        curves[task] = [res[f"{k}-shot"]["mean_ci"] for k in shots]
    unchanged = weights_digest(model) == digest

    rows = []
    for task, res in results.items():
        fmt = lambda m: f"{m[0]:.3f} [{m[1]:.2f}, {m[2]:.2f}]"  # noqa: E731
        rows.append([task, res["n_test"]] + [fmt(res[f"{k}-shot"]["mean_ci"]) for k in shots]
                    + [fmt(res[f"{max(shots)}-shot shuffled answers"]["mean_ci"]),
                       fmt(res["0-shot chat instruction"]["mean_ci"]), fmt(res["rule_baseline"])])
    print_table(rows, ["task", "items"] + [f"{k}-shot" for k in shots]
                + [f"{max(shots)}-shot shuffled", "0-shot chat", "rule baseline"],
                "greedy exact-match accuracy, mean [95% interval] over test items (frozen weights)")
    print(f"weights unchanged by the evaluation (sha256): {unchanged}")
    print_claims(claims, title="Claims (paired over test items, percentile bootstrap; n = test items)")

    fig, ax = plt().subplots(figsize=(8.5, 4.2))
    for i, (task, pts) in enumerate(curves.items()):
        m = np.array(pts)
        line = ax.errorbar(np.array(shots) + 0.06 * i, m[:, 0], yerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]],
                           marker="o", capsize=3, label=task)
        sh = results[task][f"{max(shots)}-shot shuffled answers"]["mean_ci"]
        ax.plot(max(shots) + 0.5 + 0.06 * i, sh[0], "x", color=line[0].get_color(), ms=8)
        ax.plot(-0.5 + 0.06 * i, results[task]["0-shot chat instruction"]["mean_ci"][0], "*",
                color=line[0].get_color(), ms=9)
    ax.set(xlabel="demonstrations in the prompt (x: shuffled answers, *: chat instruction)",
           ylabel="greedy exact-match accuracy", xticks=shots, ylim=(0, 1),
           title="SmolLM2-135M, frozen: learning from the prompt")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    savefig(fig, args, "accuracy_vs_shots.png")
    save_metrics(args, {"model": str(path), "parameters": model.num_parameters(), "shots": list(shots),
                        "seeds": n_seeds, "tasks": results, "claims": claims, "weights_unchanged": unchanged,
                        "weights_sha256": digest, "generation": speed, "samples": samples})


if __name__ == "__main__":
    main()
