"""Fine-tuning BERT: one small new head per kind of task (the lecture's four cases).

Pre-training gave an encoder whose outputs already carry syntax and meaning;
fine-tuning adds a randomly initialised head and trains everything a little,
on a few labelled examples:

1. sequence -> class (sentiment): a linear layer on one vector for the sequence: the
   pooled ``[CLS]`` vector, or the mean of the token vectors (``pooling="mean"``);
2. sequence -> one class per token (POS tagging): a linear layer on every output;
3. two sequences -> class (NLI): ``[CLS] A [SEP] B [SEP]`` with segment ids, then case 1;
4. extractive QA: two learned vectors s and e (the rows of ``qa_outputs``); token i's
   start score is s·h_i, its end score e·h_i, each soft-maxed over the positions,
   and the loss is (CE_start + CE_end)/2. The answer is the span i ≤ j maximising
   s·h_i + e·h_j. Documents longer than the window are cut into overlapping windows.

Names follow Hugging Face (``bert.*``, ``classifier``, ``qa_outputs``), so
``BertForSequenceClassification.from_pretrained(dir, num_labels=3)`` takes the
encoder from a pre-training checkpoint and starts the head from scratch.
Demo: ``demos/bert_pretrain_finetune.py``.
"""
from __future__ import annotations



from .. import nn
from .. import ops as F
from ..backend import xp
from ..tensor import no_grad
from .bert import BertConfig, BertModel, PreTrainedMixin, _ids, init_bert_weights
from .hf_bert import mean_pooling
from .outputs import QuestionAnsweringOutput, SequenceClassifierOutput


class _Head(PreTrainedMixin, nn.Module):
    _extra_keys = ("num_labels",)

    def __init__(self, config: BertConfig, num_labels: int = 2, add_pooling_layer: bool = True):
        super().__init__()
        self.config, self.num_labels = config, num_labels
        self.bert = BertModel(config, add_pooling_layer=add_pooling_layer)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        init_bert_weights(self.classifier, config.initializer_range)

    def extra_config(self):
        return {"num_labels": self.num_labels}


class BertForSequenceClassification(_Head):
    """Cases 1 and 3: logits (B, num_labels) from one vector per sequence.

    ``pooling="cls"``: BERT's pooler, tanh(W h_[CLS] + b), which next-sentence (or
    sentence-order) prediction trains during pre-training. ``pooling="mean"``: the mean
    of the last layer's token vectors over the attention mask, Σ_t m_t h_t / Σ_t m_t
    (:func:`hf_bert.mean_pooling`); an encoder pre-trained by MLM alone never trained
    its [CLS] vector, while every token vector carries what MLM learned.
    ``forward(input_ids, attention_mask, token_type_ids, labels=None)`` -> namespace(loss, logits)."""
    _extra_keys = ("num_labels", "pooling")

    def __init__(self, config: BertConfig, num_labels: int = 2, pooling: str = "cls"):
        if pooling not in ("cls", "mean"):
            raise ValueError(f"BertForSequenceClassification: pooling must be 'cls' or 'mean', got {pooling!r}")
        super().__init__(config, num_labels, add_pooling_layer=pooling == "cls")
        self.pooling = pooling

    def extra_config(self):
        return {"num_labels": self.num_labels, "pooling": self.pooling}

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        out = self.bert(input_ids, attention_mask, token_type_ids)
        seq, pooled = out.last_hidden_state, out.pooler_output
        if self.pooling == "mean":
            mask = xp.ones(seq.shape[:2], dtype=xp.int64) if attention_mask is None else attention_mask
            pooled = mean_pooling(seq, mask)
        logits = self.classifier(self.dropout(pooled))
        loss = F.cross_entropy(logits, _ids(labels)) if labels is not None else None
        return SequenceClassifierOutput(logits, loss)


class BertForTokenClassification(_Head):
    """Case 2: logits (B, T, num_labels), one class per token; labels -100 are ignored
    (padding, special tokens, word pieces after the first)."""

    def __init__(self, config: BertConfig, num_labels: int = 2):
        super().__init__(config, num_labels, add_pooling_layer=False)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        seq = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(seq))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.num_labels), _ids(labels).reshape(-1))
        return SequenceClassifierOutput(logits, loss)


class BertForQuestionAnswering(PreTrainedMixin, nn.Module):
    """Case 4: ``qa_outputs`` (H -> 2) holds the start vector and the end vector.
    ``forward(input_ids, attention_mask, token_type_ids, start_positions=None,
    end_positions=None)`` -> namespace(loss, start_logits (B, T), end_logits (B, T))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        init_bert_weights(self.qa_outputs, config.initializer_range)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, start_positions=None,
                end_positions=None):
        seq = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.qa_outputs(seq)                                  # (B, T, 2)
        start, end = logits[..., 0], logits[..., 1]
        if attention_mask is not None:  # padding can never be an answer
            pad = _ids(attention_mask) == 0
            start, end = start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)
        loss = None
        if start_positions is not None:
            loss = (F.cross_entropy(start, _ids(start_positions)) + F.cross_entropy(end, _ids(end_positions))) * 0.5
        return QuestionAnsweringOutput(start, end, loss)


def best_span(start_logits, end_logits, allowed=None, max_answer_len: int = 30):
    """The span (s, e), s ≤ e < s + max_answer_len, maximising start[s] + end[e] over
    positions where ``allowed`` is True (the context). 1-D inputs; returns (s, e, score)."""
    a, b = xp.asarray(start_logits, dtype=xp.float64), xp.asarray(end_logits, dtype=xp.float64)
    T = a.shape[0]
    score = a[:, None] + b[None, :]
    i, j = xp.arange(T)[:, None], xp.arange(T)[None, :]
    ok = (j >= i) & (j - i < max_answer_len)
    if allowed is not None:
        al = xp.asarray(allowed, dtype=xp.bool_)
        ok &= al[:, None] & al[None, :]
    if not bool(ok.any()):
        raise ValueError("best_span: no position is allowed to be part of the answer")
    score = xp.where(ok, score, -xp.inf)
    flat = int(xp.argmax(score))
    s, e = divmod(flat, T)
    return s, e, float(score[s, e])


def qa_windows(question_ids, context_ids, *, cls_id: int, sep_id: int, max_length: int = 128,
               doc_stride: int = 32, answer=None):
    """Cut a long context into overlapping windows ``[CLS] question [SEP] context[k:k+L] [SEP]``.

    Consecutive windows share ``doc_stride`` context tokens, so every answer lies whole
    inside at least one window. ``answer`` (s, e) in context-token indices gives each
    window's start/end positions (both 0, the ``[CLS]``, where the answer is not inside,
    as in BERT's SQuAD recipe). Returns a list of dicts: input_ids, token_type_ids,
    offset (window position of context token ``first``), first, n (context tokens),
    start_position, end_position.
    """
    q, c = list(question_ids), list(context_ids)
    L = max_length - len(q) - 3
    if L < 1:
        raise ValueError(f"the question ({len(q)} tokens) leaves no room for context in max_length={max_length}")
    if doc_stride >= L:
        raise ValueError(f"doc_stride ({doc_stride}) must be smaller than the context room per window ({L})")
    out, first = [], 0
    while True:
        piece = c[first:first + L]
        ids = [cls_id] + q + [sep_id] + piece + [sep_id]
        tt = [0] * (len(q) + 2) + [1] * (len(piece) + 1)
        w = dict(input_ids=ids, token_type_ids=tt, offset=len(q) + 2, first=first, n=len(piece),
                 start_position=0, end_position=0)
        if answer is not None and first <= answer[0] and answer[1] < first + len(piece):
            w["start_position"], w["end_position"] = answer[0] - first + w["offset"], answer[1] - first + w["offset"]
        out.append(w)
        if first + L >= len(c):
            return out
        first += L - doc_stride


def pad_windows(windows, pad_id: int = 0):
    """List of window dicts -> padded int64 backend arrays input_ids, token_type_ids, attention_mask, starts, ends."""
    T = max(len(w["input_ids"]) for w in windows)

    def pad(rows, value):
        return xp.asarray([list(r) + [value] * (T - len(r)) for r in rows], dtype=xp.int64)

    ids = pad((w["input_ids"] for w in windows), pad_id)
    tt = pad((w["token_type_ids"] for w in windows), 0)
    mask = pad(([1] * len(w["input_ids"]) for w in windows), 0)
    starts = xp.asarray([w["start_position"] for w in windows], dtype=xp.int64)
    ends = xp.asarray([w["end_position"] for w in windows], dtype=xp.int64)
    return ids, tt, mask, starts, ends


@no_grad()
def predict_span(model: BertForQuestionAnswering, windows, max_answer_len: int = 30, pad_id: int = 0):
    """Best answer (s, e) in context-token indices over all windows of one document."""
    was = model.training
    model.eval()
    ids, tt, mask, _, _ = pad_windows(windows, pad_id)
    out = model(ids, mask, tt)
    model.train(was)
    sl, el = out.start_logits.array, out.end_logits.array
    best = None
    for i, w in enumerate(windows):
        allowed = xp.zeros(ids.shape[1], dtype=xp.bool_)
        allowed[w["offset"]:w["offset"] + w["n"]] = True
        s, e, score = best_span(sl[i], el[i], allowed, max_answer_len)
        if best is None or score > best[2]:
            best = (s - w["offset"] + w["first"], e - w["offset"] + w["first"], score)
    return best[0], best[1]
