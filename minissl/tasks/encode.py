"""Labelled examples -> BERT inputs: one encoder for every classification and tagging task.

:func:`encode_task` turns a task's examples into the arrays a BERT head takes,
through the tokenizer's own ``encode_batch``: ``[CLS] text [SEP]`` for one
sentence, ``[CLS] premise [SEP] hypothesis [SEP]`` with token_type_ids 0 then 1
for a pair. Labels follow the head:

- sentence tasks (sentiment, dna, nli): one class id per example, (N,);
- tagging (pos): one tag id per *word* on the word's first token, (N, T); the
  word's other pieces, [CLS], [SEP] and padding get -100, which the loss ignores.

The result is a dict of NumPy int64 arrays padded to the longest example;
``minissl.train.take`` picks rows of it for a batch and cuts them to their own
longest example, so a batch is exactly what padding those rows alone would give.
Extractive QA needs overlapping windows instead (``bert_heads.qa_windows``).
"""
from __future__ import annotations

import numpy as np

IGNORE = -100  # label of positions the loss skips (cross_entropy's ignore_index)

# task name -> (field of the first text, field of the second or None)
TEXT_FIELDS = {"sentiment": ("text", None), "dna": ("text", None), "nli": ("premise", "hypothesis"),
               "fortune_topic": ("text", None), "play_genre": ("text", None),  # minissl.tasks.real
               "same_play": ("text", "text_pair"), "next_speech": ("text", "text_pair"),
               "pos": ("tokens", None)}


def encode_task(tokenizer, task, examples, max_length: int | None = None, token_type_ids: bool = True) -> dict:
    """``examples`` of ``task`` (a :class:`Task`, for its name and label names) -> dict of
    int64 arrays: input_ids, token_type_ids, attention_mask (N, T) and labels ((N,) or (N, T)).

    ``token_type_ids=False`` leaves them out, so the model gives every token type 0: for an
    encoder pre-trained on single segments, whose type-1 embedding was never trained."""
    if task.name not in TEXT_FIELDS:
        raise ValueError(f"encode_task handles {', '.join(TEXT_FIELDS)}; for {task.name!r} "
                         + ("cut the context into windows with bert_heads.qa_windows" if task.name == "qa"
                            else "build the inputs yourself (it is not a classification or tagging task)"))
    if not examples:
        raise ValueError(f"encode_task: no {task.name} examples to encode")
    first, second = TEXT_FIELDS[task.name]
    texts = [" ".join(e[first]) if task.name == "pos" else e[first] for e in examples]
    pairs = None if second is None else [e[second] for e in examples]
    enc = tokenizer.encode_batch(texts, pairs, max_length=max_length)
    keys = ("input_ids", "token_type_ids", "attention_mask") if token_type_ids else ("input_ids", "attention_mask")
    out = {k: enc[k] for k in keys}
    if task.name == "pos":
        tag = {t: i for i, t in enumerate(task.label_names)}
        out["labels"] = word_labels([[tag[t] for t in e["tags"]] for e in examples], texts, enc["offsets"],
                                    enc["sequence_ids"], out["input_ids"].shape[1])
    else:
        out["labels"] = np.array([e["label"] for e in examples], dtype=np.int64)
    return out


def word_labels(labels, texts, offsets, sequence_ids, width: int) -> np.ndarray:
    """Word labels -> token labels (N, width): each word's label on its first token, -100 elsewhere.

    A token starts a word when its character offset is where a word of the text starts
    (words are separated by whitespace, as ``" ".join(tokens)`` wrote them)."""
    out = np.full((len(texts), width), IGNORE, dtype=np.int64)
    for i, (text, labs) in enumerate(zip(texts, labels)):
        starts = word_starts(text)
        if len(starts) != len(labs):
            raise ValueError(f"example {i} has {len(starts)} words but {len(labs)} labels; give one label per word")
        for j, ((s, _), sid) in enumerate(zip(offsets[i][:width], sequence_ids[i][:width])):
            if sid == 0 and s in starts:
                out[i, j] = labs[starts[s]]
    return out


def word_starts(text: str) -> dict:
    """Character position of each whitespace-separated word's start -> the word's index."""
    starts, k = {}, 0
    for w in text.split():
        k = text.index(w, k)
        starts[k] = len(starts)
        k += len(w)
    return starts
