"""BERT: a Transformer encoder pre-trained by filling in blanks (masked language model).

The lecture's centre. Self-supervision makes the labels from the text itself:
hide 15% of the tokens and train the encoder to predict them,

    L_MLM = - Σ_{masked i} log softmax(LN(GELU(h_i W_t)) Eᵀ + b)[x_i]

(E is the word-embedding matrix, shared between input and output), plus a
sentence-level task on the ``[CLS]`` vector: NSP (is B the next sentence?) or
SOP (are A and B in order?). A model that can fill blanks must have learnt
syntax and meaning, so the same encoder, with a small new head, then learns
downstream tasks from few labels (``bert_heads.py``).

Shapes: input_ids (B, T) -> last_hidden_state (B, T, H), pooler_output (B, H).
The encoder is a stack of minissl's one :class:`~minissl.nn.TransformerBlock` (post-norm).
The computation is Hugging Face's (exact-erf GELU, LayerNorm eps 1e-12, padded keys
masked out) and so are the embeddings' and heads' parameter names; an encoder layer's
names are the block's (``encoder.layer.0.attn.q_proj.weight``), which ``hf_bert.py``
translates by a name table, so real BERT checkpoints load and save.
Demo: ``demos/bert_pretrain_finetune.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os

from .. import backend
from .. import io as msio
from .. import nn
from .. import ops as F
from .config_check import check_field, check_fields, read_json_object
from ..backend import xp
from ..tensor import Tensor, no_grad
from ..nn.attention import padding_mask
from ..nn.transformer import ACTIVATIONS, SinusoidalPositionalEmbedding, TransformerEncoder
from .outputs import BaseModelOutput, PreTrainingOutput


@dataclasses.dataclass
class BertConfig:
    """Hugging Face's ``BertConfig`` field names and defaults (BERT-base); unknown keys
    in a ``config.json`` (``architectures``, ``model_type``, ...) are ignored."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"   # or "sinusoidal" (fixed, minissl's option)
    norm_first: bool = False                    # pre-LN (minissl's option; BERT is post-LN)

    # What a config may hold (config_check.py): sizes are bounded so that a typo or a
    # hostile file cannot ask for a terabyte model; a dropout of 1 would zero everything.
    RULES = {"vocab_size": ("int", 1, 10_000_000), "hidden_size": ("int", 1, 65_536),
             "num_hidden_layers": ("int", 1, 1000), "num_attention_heads": ("int", 1, 65_536),
             "intermediate_size": ("int", 1, 262_144), "max_position_embeddings": ("int", 1, 1_000_000),
             "type_vocab_size": ("int", 1, 1000), "hidden_act": ("str",), "hidden_dropout_prob": ("prob",),
             "attention_probs_dropout_prob": ("prob",), "initializer_range": ("float>=", 0),
             "layer_norm_eps": ("float>", 0), "position_embedding_type": ("str",), "norm_first": ("bool",)}
    MAX_PARAMETERS = 2 ** 31  # ~8.6 GB of float32: far beyond what minissl can train or run

    def __post_init__(self):
        check_fields(self, self.RULES)
        if self.pad_token_id is not None:
            check_field("pad_token_id", self.pad_token_id, ("int", 0, self.vocab_size - 1))
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads})")
        if self.position_embedding_type not in ("absolute", "sinusoidal"):
            raise ValueError(f"position_embedding_type must be 'absolute' or 'sinusoidal', "
                             f"got {self.position_embedding_type!r}")
        H, I = self.hidden_size, self.intermediate_size  # noqa: E741
        n = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * H \
            + self.num_hidden_layers * (4 * H * H + 2 * H * I)
        if n > self.MAX_PARAMETERS:
            raise ValueError(f"these sizes (vocab_size, hidden_size, num_hidden_layers, intermediate_size, ...) "
                             f"make a model of about {n:,} parameters, over minissl's bound of "
                             f"{self.MAX_PARAMETERS:,}")

    @classmethod
    def from_dict(cls, d, source=None):
        """The fields of ``d`` that BertConfig has (others ignored), checked; ``source``
        (the file ``d`` came from) is named in any error."""
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except ValueError as e:
            if source is None:
                raise
            raise ValueError(f"{str(source)!r}: {e}") from None

    def to_dict(self):
        return dataclasses.asdict(self)


def init_bert_weights(module, std, skip=()):
    """HF's initialisation: Linear and Embedding weights N(0, std), biases 0,
    LayerNorm (1, 0); the padding token's embedding row is zero. A Linear whose weight
    is one of ``skip`` (a tied decoder: its weight is the embedding table, drawn already)
    is left as it is."""
    def rng_normal(shape):
        return backend.rng().standard_normal(shape, dtype=xp.float32) * std

    for m in module.modules():
        if isinstance(m, nn.Linear) and any(m.weight is p for p in skip):
            continue
        if isinstance(m, nn.Linear):
            m.weight.array = rng_normal(m.weight.shape)
            if m.bias is not None:
                m.bias.array = xp.zeros_like(m.bias.array)
        elif isinstance(m, nn.Embedding):
            m.weight.array = rng_normal(m.weight.shape)
            if m.padding_idx is not None:
                m.weight.array[m.padding_idx] = 0
        elif isinstance(m, nn.LayerNorm) and m.weight is not None:
            m.weight.array, m.bias.array = xp.ones_like(m.weight.array), xp.zeros_like(m.bias.array)


class BertEmbeddings(nn.Module):
    """word + position + token type (segment A/B), then LayerNorm and dropout."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        if c.position_embedding_type == "sinusoidal":
            self.position_embeddings = SinusoidalPositionalEmbedding(c.max_position_embeddings, c.hidden_size)
        else:
            self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        T = input_ids.shape[1]
        if T > self.position_embeddings.num_embeddings:
            raise ValueError(f"input has {T} tokens but max_position_embeddings is "
                             f"{self.position_embeddings.num_embeddings}; truncate it (or split into windows)")
        if position_ids is None:
            position_ids = xp.arange(T)[None, :]
        if token_type_ids is None:
            token_type_ids = xp.zeros(input_ids.shape, dtype=xp.int64)
        pos = self.position_embeddings.weight
        pos = pos[_ids(position_ids)] if isinstance(self.position_embeddings, SinusoidalPositionalEmbedding) else \
            F.embedding(position_ids, pos)
        x = F.embedding(input_ids, self.word_embeddings.weight, self.word_embeddings.padding_idx) \
            + self.token_type_embeddings(token_type_ids) + pos
        return self.dropout(self.LayerNorm(x))


def _ids(a):
    return a.array if isinstance(a, Tensor) else xp.asarray(a)


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): the sentence vector NSP/SOP and classifiers read."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, hidden):
        return F.tanh(self.dense(hidden[:, 0]))


def BertEncoder(c: BertConfig) -> TransformerEncoder:
    """BERT's encoder is the generic stack, built from a config (names ``layer.N....``)."""
    return TransformerEncoder(c.hidden_size, c.num_attention_heads, c.num_hidden_layers, c.intermediate_size,
                              c.hidden_dropout_prob, c.hidden_act, c.layer_norm_eps, c.norm_first,
                              c.attention_probs_dropout_prob)


class PreTrainedMixin:
    """``save_pretrained(dir)`` / ``from_pretrained(dir)`` for minissl's own checkpoints:
    ``config.json`` (the BertConfig and the head's arguments) + ``model.npz`` (weights).
    ``save_pretrained(dir, format="hf")`` writes a Hugging Face directory instead, and
    ``from_pretrained`` opens either kind (``hf_bert.py``)."""

    def extra_config(self):
        return {}

    def save_pretrained(self, directory, format="minissl"):
        """``format="minissl"``: ``config.json`` + ``model.npz``, any BertConfig.
        ``format="hf"``: a Hugging Face directory (``config.json`` + ``model.safetensors``)
        that ``transformers`` loads (``hf_bert.save_pretrained``; refuses what it cannot express)."""
        if format == "hf":
            from .hf_bert import save_pretrained
            return save_pretrained(self, directory)
        if format != "minissl":
            raise ValueError(f"save_pretrained: format must be 'minissl' or 'hf', got {format!r}")
        os.makedirs(directory, exist_ok=True)
        msio.save(dict(self.state_dict()), os.path.join(directory, "model.npz"))  # atomic
        cfg = dict(self.config.to_dict(), minissl_class=type(self).__name__, **self.extra_config())
        # config last, atomically (as the weights): it marks the save complete
        msio.write_atomic(os.path.join(directory, "config.json"), [json.dumps(cfg, indent=2).encode()])

    @classmethod
    def from_pretrained(cls, directory, **kwargs):
        """Build from ``directory/config.json`` and load the weights. Weights of a
        different BERT class are matched through the encoder: a pre-training checkpoint
        fills ``bert.*`` of a fine-tuning model, whose new head keeps its random init."""
        path = os.path.join(directory, "config.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no config.json in {directory!r}; save one with model.save_pretrained(dir)")
        cfg = read_json_object(path)
        if "minissl_class" not in cfg:  # a Hugging Face directory (config.json + model.safetensors)
            from .hf_bert import from_hf_pretrained
            return from_hf_pretrained(cls, directory, **kwargs)
        extra = {k: cfg[k] for k in cls._extra_keys if k in cfg}
        model = cls(BertConfig.from_dict(cfg, source=path), **{**extra, **kwargs})
        model.load_pretrained(directory, strict=cfg.get("minissl_class") == cls.__name__)
        return model

    _extra_keys = ()

    def load_pretrained(self, directory, strict=True):
        """Load ``directory/model.npz`` into this model; all or nothing (a failure changes
        nothing). A tied name the file lacks (``cls.predictions.decoder.weight``) is filled
        from its twin (:func:`~minissl.nn.utils.fill_tied`). Returns ``(missing, unexpected)`` names."""
        state = msio.load(os.path.join(directory, "model.npz"))
        own = self.state_dict()
        if not strict:
            has_bert_prefix = any(k.startswith("bert.") for k in state)
            wants_bert_prefix = any(k.startswith("bert.") for k in own)
            if wants_bert_prefix and not has_bert_prefix:
                state = {"bert." + k: v for k, v in state.items()}
            elif has_bert_prefix and not wants_bert_prefix:
                state = {k[5:]: v for k, v in state.items() if k.startswith("bert.")}
            state = {k: v for k, v in state.items() if k in own}
            if not state:
                raise RuntimeError(f"no weight in {directory!r} matches {type(self).__name__}; nothing was loaded")
        return self.load_state_dict(nn.utils.fill_tied(self, state), strict=strict)


class BertModel(PreTrainedMixin, nn.Module):
    """Embeddings -> encoder -> pooler. ``forward(input_ids, attention_mask=None,
    token_type_ids=None, position_ids=None, output_attentions=False)`` -> 
    :class:`~minissl.models.outputs.BaseModelOutput`."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        init_bert_weights(self, config.initializer_range)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                output_attentions=False):
        ids = _ids(input_ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"input_ids must be integer (batch, seq_len), got shape {tuple(ids.shape)} "
                             f"dtype {ids.dtype}")
        if attention_mask is not None and tuple(_ids(attention_mask).shape) != tuple(ids.shape):
            raise ValueError(f"attention_mask shape {tuple(_ids(attention_mask).shape)} differs from input_ids "
                             f"shape {tuple(ids.shape)}")
        x = self.embeddings(ids, token_type_ids, position_ids)
        y, hidden, att = self.encoder(x, padding_mask(attention_mask), need_weights=output_attentions)
        pooled = self.pooler(y) if self.pooler is not None else None
        return BaseModelOutput(y, pooled, hidden, att)


class BertLMPredictionHead(nn.Module):
    """MLM head: transform (dense + GELU + LayerNorm), then ``decoder``, whose weight IS the
    word-embedding Parameter (:func:`~minissl.nn.utils.tied_linear`), plus an own ``bias``:
    scores h Eᵀ + b against every word's input embedding."""

    def __init__(self, c: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.transform = SimpleModule(dense=nn.Linear(c.hidden_size, c.hidden_size),
                                      LayerNorm=nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps))
        self.act = c.hidden_act
        self.decoder = nn.utils.tied_linear(word_embeddings)
        self.bias = nn.Parameter(xp.zeros(c.vocab_size, dtype=xp.float32))

    def forward(self, h):
        h = self.transform.LayerNorm(ACTIVATIONS[self.act](self.transform.dense(h)))
        return F.linear(h, self.decoder.weight, self.bias)  # the decoder with cls.predictions.bias, as HF


class SimpleModule(nn.Module):
    def __init__(self, **children):
        super().__init__()
        for k, v in children.items():
            setattr(self, k, v)


class BertForPreTraining(PreTrainedMixin, nn.Module):
    """BERT with its two pre-training heads (HF names ``cls.predictions``, ``cls.seq_relationship``).

    ``forward(input_ids, attention_mask, token_type_ids, labels=None, sentence_label=None)``
    -> namespace(loss, mlm_loss, sentence_loss, prediction_logits, seq_relationship_logits).
    ``labels`` (B, T): original id at masked positions, -100 elsewhere. ``sentence_label``
    (B,): NSP (0 = B follows A, 1 = random) or SOP (0 = in order, 1 = swapped); the
    loss is L_MLM + L_sentence. MLM logits are computed only at the masked positions
    (≈15% of tokens), the same loss at a fraction of the cost of the full (B, T, V) scores.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.cls = SimpleModule(predictions=BertLMPredictionHead(config, self.bert.embeddings.word_embeddings),
                                seq_relationship=nn.Linear(config.hidden_size, 2))
        init_bert_weights(self.cls, config.initializer_range, skip=[self.bert.embeddings.word_embeddings.weight])

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, sentence_label=None,
                output_attentions=False):
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions=output_attentions)
        seq = out.last_hidden_state
        res = PreTrainingOutput(seq_relationship_logits=self.cls.seq_relationship(out.pooler_output), bert=out)
        losses = []
        if labels is not None:
            lab = _ids(labels).reshape(-1)
            where = xp.nonzero(lab != -100)[0]
            h = seq.reshape(-1, seq.shape[-1])[Tensor(where, _internal=True)]
            res.prediction_logits = self.cls.predictions(h)
            res.mlm_loss = F.cross_entropy(res.prediction_logits, lab[where]) if where.size else None
            if res.mlm_loss is not None:
                losses.append(res.mlm_loss)
        else:
            res.prediction_logits = self.cls.predictions(seq)
        if sentence_label is not None:
            res.sentence_loss = F.cross_entropy(res.seq_relationship_logits, _ids(sentence_label))
            losses.append(res.sentence_loss)
        if losses:
            res.loss = losses[0] if len(losses) == 1 else losses[0] + losses[1]
        return res


@no_grad()
def encode(model: BertModel, input_ids, attention_mask=None, token_type_ids=None, layer: int = -1):
    """Inference helper: hidden states of ``layer`` (-1 = last) as a NumPy array (B, T, H)."""
    was = model.training
    model.eval()
    out = model(input_ids, attention_mask, token_type_ids)
    model.train(was)
    return out.hidden_states[layer].numpy()
