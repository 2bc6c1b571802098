"""T5: every task as text-to-text, on the one encoder-decoder of ``seq2seq.py``.

Lecture idea: an encoder-decoder reads text and writes text, so *every* task can
be posed as text in and text out. T5 pre-trains it on unlabelled text with span
corruption (``minissl.text.span_corruption``: about 15% of the tokens, in spans
of mean length 3, are cut out; each span leaves one sentinel in the input and
the target lists the sentinels with their spans), then trains ONE model on
many tasks at once, each announced by a prefix and answered in words:

    "sentiment: the dog was not happy ."                      -> "negative"
    "nli premise: the dog ate the cake . hypothesis: ..."     -> "entailment" | "neutral" | "contradiction"
    "negate: the fox ate the pear ."                          -> "the fox did not eat the pear ."
    "qa question: who ate the cake ? context: ..."            -> "girl"

There is no task head: pre-training and every task share the same loss,

    L = - Σ_t log p(y_t | y_<t, x)         (x the source text, y the target text)

and the same prediction rule (greedy decoding). A classification answer is read
as a label only if it is exactly one of the label words; anything else is wrong.
The tasks are mixed in proportion to their number of examples (T5's
"examples-proportional mixing"): every batch is drawn from the pooled examples.

This file holds only the text-to-text framing and the recipe's data: the
vocabulary (grammar words, framing words, sentinels), the framing of each task,
span-corruption and mixed batches, answering and scoring. The model is
:class:`~minissl.models.seq2seq.Seq2SeqTransformer`; batches are
:func:`~minissl.text.collate.seq2seq_batch`'s: input_ids (B, S), attention_mask
(B, S), decoder_input_ids (B, T) = [BOS] y, labels (B, T) = y [EOS] (-100 on
padding).
Demo: ``demos/t5_multitask.py``.
"""
from __future__ import annotations

from ..text import BERT_SPECIALS, WordPieceTokenizer, seq2seq_batch, sentinel_tokens, span_corruption
from ..train import minibatches
from .seq2seq_decode import greedy_search

# How each task's example is written as (source, target) text; {label} is the label's word.
TEMPLATES = {
    "sentiment": ("sentiment: {text}", "{label}"),
    "nli": ("nli premise: {premise} hypothesis: {hypothesis}", "{label}"),
    "negation": ("negate: {source}", "{target}"),
    "qa": ("qa question: {question} context: {context}", "{answer_text}"),
}
TASKS = tuple(TEMPLATES)
LABEL_WORDS = {"sentiment": ["negative", "positive"], "nli": ["entailment", "neutral", "contradiction"]}


def framing_words() -> list[str]:
    """The words the prefixes and the label answers add to the grammar's vocabulary."""
    words = []
    for src, _ in TEMPLATES.values():
        words += [w.rstrip(":") for w in src.split() if not w.startswith("{")]
    words += [w for names in LABEL_WORDS.values() for w in names] + [":"]
    return list(dict.fromkeys(words))


def t5_tokenizer(n_sentinels: int = 16, language: str = "a") -> WordPieceTokenizer:
    """Every grammar word, the framing words and ``n_sentinels`` sentinels, one token each;
    the sentinels are special tokens (never split, dropped by ``decode(skip_special_tokens=True)``)."""
    from ..tasks import grammar_vocab
    sentinels = sentinel_tokens(n_sentinels)
    return WordPieceTokenizer.from_words(grammar_vocab(language) + framing_words() + sentinels,
                                         special_tokens=tuple(BERT_SPECIALS) + tuple(sentinels))


def special_ids(tok) -> dict:
    """pad, bos ([CLS] starts the decoder, as in ``demos/seq2seq_denoise.py``), eos ([SEP]) and the sentinels."""
    sentinels = [tok.vocab[t] for t in tok.special_tokens if t.startswith("<extra_id_")]
    if len(sentinels) < 2:
        raise ValueError("this tokenizer has no T5 sentinels; build it with t5_tokenizer()")
    return {"pad": tok.pad_token_id, "bos": tok.cls_token_id, "eos": tok.sep_token_id, "sentinels": sentinels}


def to_text(task: str, example: dict) -> tuple[str, str]:
    """One labelled example of ``task`` -> (source text, target text)."""
    if task not in TEMPLATES:
        raise ValueError(f"no text-to-text framing for task {task!r}; choose from {', '.join(TEMPLATES)}")
    src, tgt = TEMPLATES[task]
    fields = dict(example)
    if task in LABEL_WORDS:
        fields["label"] = LABEL_WORDS[task][int(example["label"])]
    return src.format(**fields), tgt.format(**fields)


def encode(tok, text: str) -> list[int]:
    """Text -> ids, without [CLS]/[SEP] (the decoder's [BOS]/[EOS] are added by the batch)."""
    return tok.encode(text, add_special_tokens=False)


def encode_pairs(tok, task: str, examples) -> list[tuple[list[int], list[int]]]:
    return [(encode(tok, s), encode(tok, t)) for s, t in (to_text(task, e) for e in examples)]


def span_corruption_batch(docs, ids: dict, rng, noise_density: float = 0.15, mean_span_length: float = 3.0) -> dict:
    """Unlabelled id lists -> a teacher-forcing batch: the encoder reads the text with its spans
    replaced by sentinels, the decoder writes the sentinels each followed by its span."""
    pairs = [span_corruption(d, ids["sentinels"], rng, noise_density, mean_span_length) for d in docs]
    return seq2seq_batch(pairs, ids["pad"], ids["bos"], ids["eos"])


def mixed_batches(pairs_by_task: dict, batch_size: int, steps: int, rng, ids: dict):
    """``steps`` batches over the pooled (source, target) pairs of all tasks (examples-proportional
    mixing), in passes reshuffled by ``rng``. Returns ``(batches, tasks)``: each batch goes into the
    model whole (``model(**batch)``), and ``tasks[i]`` (a list of B ints) says which task each row of
    batch i comes from (an index into the order of ``pairs_by_task``). One task: single-task batches."""
    pool = [(k, p) for k, pairs in enumerate(pairs_by_task.values()) for p in pairs]
    if not pool:
        raise ValueError("mixed_batches: no examples; give at least one task with pairs")
    epochs = -(-steps * batch_size // len(pool)) + 1
    batches, tasks = [], []
    for rows in minibatches(len(pool), batch_size, epochs, rng, drop_last=len(pool) >= batch_size):
        chosen = [pool[i] for i in rows]
        batches.append(seq2seq_batch([p for _, p in chosen], ids["pad"], ids["bos"], ids["eos"]))
        tasks.append([k for k, _ in chosen])
        if len(batches) == steps:
            break
    return batches, tasks


def answer(model, tok, sources, ids: dict, batch_size: int = 200, max_new_tokens: int = 32) -> list[str]:
    """Greedy answers of ``model`` to source texts (or id lists), as text."""
    outs = []
    for k in range(0, len(sources), batch_size):
        chunk = [encode(tok, s) if isinstance(s, str) else list(s) for s in sources[k:k + batch_size]]
        b = seq2seq_batch([(s, []) for s in chunk], ids["pad"], ids["bos"], ids["eos"])
        outs += greedy_search(model, b["input_ids"], b["attention_mask"], bos_id=ids["bos"], eos_id=ids["eos"],
                              max_new_tokens=max_new_tokens, pad_id=ids["pad"])
    return [tok.decode(o) for o in outs]


def score(predictions, targets, label_words=None) -> dict:
    """Exact match of answer texts (whitespace-normalised). With ``label_words`` (a classification
    task) also ``outside_labels``: the share of answers that are no label word at all (each is
    wrong, so exact match is the label accuracy)."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError(f"score: {len(predictions)} predictions for {len(targets)} targets; give one per target")
    norm = [" ".join(p.split()) for p in predictions]
    out = {"exact_match": sum(p == " ".join(t.split()) for p, t in zip(norm, targets)) / len(targets)}
    if label_words is not None:
        out["outside_labels"] = sum(p not in label_words for p in norm) / len(norm)
    return out
