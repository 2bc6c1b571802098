"""What every transformer model's ``forward`` returns: a small dataclass, as in Hugging Face.

One convention for the whole package: read results by name (``out.logits``, ``out.loss``),
never by position. ``loss`` is None unless labels were given, so the same call serves
training (``model(x, labels).loss.backward()``) and inference (``model(x).logits``).
Field names follow Hugging Face's output classes, so code written for ``transformers``
reads the same fields here.

Tied heads share the embedding Parameter: a language-model head (GPT's and Llama's ``lm_head``,
BERT's ``cls.predictions.decoder``, the encoder-decoder's ``lm_head``) is a registered ``Linear``
whose ``.weight`` IS the token-embedding table (:func:`minissl.nn.utils.tied_linear`), as in
PyTorch and Hugging Face. ``named_parameters()`` lists it once, ``state_dict()`` under both names.

The auto-encoders (``autoencoder``, ``vae``, ``vqvae``, ``discrete``) are the exception by
design: their ``forward`` is the reconstruction x̂ (what ``model(x)`` means for an
auto-encoder in PyTorch tutorials), and their training objective is ``model.loss(x)``.
"""
from __future__ import annotations

import dataclasses

from ..tensor import Tensor


@dataclasses.dataclass
class BaseModelOutput:
    """An encoder's features: ``last_hidden_state`` (B, T, H), ``pooler_output`` (B, H) or None,
    ``hidden_states`` (embeddings + one per layer, each (B, T, H)) and ``attentions``
    (one (B, heads, T, T) per layer when asked for)."""
    last_hidden_state: Tensor
    pooler_output: Tensor | None = None
    hidden_states: tuple = ()
    attentions: tuple = ()


@dataclasses.dataclass
class CausalLMOutput:
    """A language model's ``logits`` (B, T, V) and its mean next-token ``loss``."""
    logits: Tensor
    loss: Tensor | None = None


@dataclasses.dataclass
class Seq2SeqLMOutput:
    """An encoder-decoder's decoder ``logits`` (B, T_dec, V) and its teacher-forced ``loss``."""
    logits: Tensor
    loss: Tensor | None = None


@dataclasses.dataclass
class SequenceClassifierOutput:
    """``logits`` (B, C) for one class per sequence, or (B, T, C) for one class per token."""
    logits: Tensor
    loss: Tensor | None = None


@dataclasses.dataclass
class QuestionAnsweringOutput:
    """Span scores ``start_logits`` and ``end_logits`` (B, T) for extractive QA."""
    start_logits: Tensor
    end_logits: Tensor
    loss: Tensor | None = None


@dataclasses.dataclass
class PreTrainingOutput:
    """BERT pre-training: ``prediction_logits`` (masked positions, V) and ``seq_relationship_logits``
    (B, 2) for NSP/SOP; ``loss`` = ``mlm_loss`` + ``sentence_loss`` (those given); ``bert`` is the
    encoder's :class:`BaseModelOutput`."""
    seq_relationship_logits: Tensor
    bert: BaseModelOutput
    prediction_logits: Tensor | None = None
    loss: Tensor | None = None
    mlm_loss: Tensor | None = None
    sentence_loss: Tensor | None = None
