"""``load_task(name, ...)``: the labelled task suite, and loading your own data.

Tasks (fields of each example; baseline accuracies are
``baseline_scores(load_task(name, 1000, 0, 500, seed=0))``):

sentiment  {"text", "label"}  1 = positive, 0 = negative. The last clause's
           adjective decides, flipped by "not" (half the clauses); "X was good
           but Y was not nice" is negative. Majority 0.50; bag-of-words
           logistic regression 0.52: it cannot combine "not" with the
           adjective it negates.
pos        {"tokens", "tags"}  one UD-style tag per token. Majority tag (NOUN)
           0.23; most-frequent-tag-per-word 0.99 ("that" is DET or PRON).
nli        {"premise", "hypothesis", "label"}  0 entailment, 1 neutral,
           2 contradiction; needs hypernyms ("a dog is an animal") and antonyms
           ("not happy" = "sad"). Majority 0.33; bag-of-words (premise and
           hypothesis bags side by side) 0.57.
qa         {"context", "question", "answer_text", "answer_start"}  extractive;
           context[answer_start:][:len(answer_text)] == answer_text. A story of
           2-4 sentences, one event with an object; "who chased the dog ?" /
           "what did the girl eat ?" / "where did ...". Baseline "first noun
           of the story" exact match 0.12.
dna        {"sequence", "text", "label"}  class = which motif (GATC or its
           reverse CTAG) is planted in 12 bases; "text" writes each base as a
           word. Majority 0.47; bag-of-bases 0.46 (both motifs have the same letters).
negation   {"source", "target"}  seq2seq: the sentence with its verb (un)negated.
question   {"source", "target"}  seq2seq: statement -> yes/no question.
bilingual  {"source", "target"}  parallel sentences A -> B; ``task.extra``
           holds the gold word dictionary (A -> B) and the shared anchors.

Every generated task accepts ``language="b"`` (and ``word_order="SOV"``) to
produce the same task in the invented second language.

How the tasks were built, and why. They exist because no labelled data for
token tagging or extractive QA is available offline, and a generator knows
every gold answer. They were written alongside ``demos/bert_pretrain_finetune.py``
and several were reshaped while it was developed (sentiment's negated clauses,
DNA's two motifs with the same letters, QA's stories with one event that has an
object), each to defeat a trivial baseline (bag of words, bag of bases, first
noun). That makes them friendly to a model that reads word order, but not to
pre-training in particular: the cheap order-aware baselines do well on them.
At the demo's sizes (``load_task(name, 200, 200, 700, seed=0)``, C chosen on
the 200 validation examples) a word 1-3-gram logistic regression
(``baselines.ngram_logreg``) gets sentiment 0.747 and NLI 0.556, a character
1-3-gram one gets DNA 0.999, and a few-line rule (``baselines.qa_rule``)
answers QA exactly (1.000). The tasks are now fixed; the demo's verdicts, not
their design, are the evidence about pre-training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import generators as G
from . import lexicon as L
from .grammar import Language, Sentence, event_clause

LABEL_NAMES = {"sentiment": ["negative", "positive"], "nli": G.NLI_LABELS,
               "dna": list(G.DNA_MOTIFS), "pos": L.TAGS}
FIELDS = {"sentiment": ("text", "label"), "pos": ("tokens", "tags"),
          "nli": ("premise", "hypothesis", "label"),
          "qa": ("context", "question", "answer_text", "answer_start"),
          "dna": ("sequence", "label"), "negation": ("source", "target"),
          "question": ("source", "target"), "bilingual": ("source", "target")}
KINDS = {"sentiment": "classification", "nli": "classification", "dna": "classification",
         "pos": "tagging", "qa": "span", "negation": "seq2seq", "question": "seq2seq",
         "bilingual": "seq2seq"}


@dataclass
class Task:
    name: str
    kind: str
    train: list
    dev: list
    test: list
    label_names: list | None = None
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"Task({self.name!r}, {self.kind}, train={len(self.train)}, dev={len(self.dev)}, "
                f"test={len(self.test)})")

    def show(self, n: int = 5, split: str = "train") -> str:
        """Five examples as readable text (print it)."""
        lines = [repr(self)]
        for ex in getattr(self, split)[:n]:
            ex = dict(ex)
            if self.label_names and isinstance(ex.get("label"), int):
                ex["label"] = f"{ex['label']} ({self.label_names[ex['label']]})"
            lines.append("  " + "  |  ".join(f"{k}: {v}" for k, v in ex.items()))
        return "\n".join(lines)


def _gen_bilingual(rng, lang):
    c = event_clause(rng, neg=rng.random() < 0.3)
    return {"source": Language("a").text(Sentence([c])), "target": lang.text(Sentence([c]))}


GENERATORS = {"sentiment": G.gen_sentiment, "pos": G.gen_pos, "nli": G.gen_nli, "qa": G.gen_qa,
              "dna": G.gen_dna, "negation": G.gen_negation, "question": G.gen_question,
              "bilingual": _gen_bilingual}


def load_task(name: str, n_train: int = 1000, n_dev: int = 200, n_test: int = 200,
              seed: int = 0, language: str = "a", word_order: str | None = None) -> Task:
    """Generate a task deterministically from ``seed``; the three splits share no example."""
    if name not in GENERATORS:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(GENERATORS)}")
    for k, v in (("n_train", n_train), ("n_dev", n_dev), ("n_test", n_test)):
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{k} must be a non-negative integer, got {v!r}")
    if name == "bilingual":
        language, word_order = "b", word_order or "SOV"
    lang = Language(language, word_order)
    rng = np.random.default_rng(seed)
    total, seen, out = n_train + n_dev + n_test, set(), []
    attempts = 0
    while len(out) < total:
        ex = GENERATORS[name](rng, lang)
        key = json.dumps(ex, sort_keys=True)
        attempts += 1
        if key not in seen:  # distinct examples, so test never repeats train
            seen.add(key)
            out.append(ex)
        elif attempts > 20 * total + 1000:
            raise ValueError(f"the grammar cannot make {total} distinct {name} examples; ask for fewer")
    extra = {}
    if name == "bilingual":
        extra = {"dictionary": dict(lang.dictionary),
                 "anchors": [w for w, b in lang.dictionary.items() if w == b],
                 "word_order": lang.order}
    return Task(name, KINDS[name], out[:n_train], out[n_train:n_train + n_dev],
                out[n_train + n_dev:], LABEL_NAMES.get(name), extra)


def load_task_file(path, task: str) -> list[dict]:
    """Your own data for a task, as TSV (header row of field names) or JSONL.

    TSV lists (``tokens``, ``tags``) are space-separated; ``label`` may be a
    number or a label name; ``answer_start`` is an integer.
    """
    if task not in FIELDS:
        raise ValueError(f"unknown task {task!r}; choose from {sorted(FIELDS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}; pass a .tsv or .jsonl file")
    need = [f for f in FIELDS[task] if not (task == "dna" and f == "text")]
    text = path.read_text(encoding="utf-8")
    rows = []
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n} is not valid JSON ({e.msg})") from None
    elif path.suffix in (".tsv", ".txt"):
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"{path} is empty; the first line must name the fields {need}")
        header = lines[0].split("\t")
        for n, line in enumerate(lines[1:], 2):
            vals = line.split("\t")
            if len(vals) != len(header):
                raise ValueError(f"{path}:{n} has {len(vals)} columns, the header has {len(header)}")
            rows.append(dict(zip(header, vals)))
    else:
        raise ValueError(f"{path} must end in .tsv or .jsonl")
    names = LABEL_NAMES.get(task)
    for n, r in enumerate(rows, 1):
        missing = [f for f in need if f not in r]
        if missing:
            raise ValueError(f"{path}: example {n} lacks field(s) {missing}; {task} needs {need}")
        for f in ("tokens", "tags"):
            if f in r and isinstance(r[f], str):
                r[f] = r[f].split()
        if "label" in r and task != "pos":
            lab = r["label"]
            if isinstance(lab, str) and names and lab in names:
                r["label"] = names.index(lab)
            else:
                try:
                    r["label"] = int(lab)
                except (TypeError, ValueError):
                    raise ValueError(f"{path}: example {n} has label {lab!r}; use an integer "
                                     f"or one of {names}") from None
        if "answer_start" in r:
            r["answer_start"] = int(r["answer_start"])
        if task == "pos" and len(r["tokens"]) != len(r["tags"]):
            raise ValueError(f"{path}: example {n} has {len(r['tokens'])} tokens but {len(r['tags'])} tags")
    if not rows:
        raise ValueError(f"{path} has no examples")
    return rows
