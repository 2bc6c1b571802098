"""Pre-training a seq2seq model: corrupt the input, let the decoder restore it (MASS, BART).

Lecture idea: BERT pre-trains only an encoder, GPT only a decoder. An
encoder-decoder Transformer can be pre-trained as a *denoising auto-encoder*:
the encoder reads a damaged text x̃ = noise(x), the decoder writes the clean
x one token at a time (teacher forcing), and the loss is

    L = - Σ_t log p(x_t | x_<t, encoder(x̃))

Which damage is the whole design space (T5 organised it later): BART's token
masking, token deletion, text infilling (Poisson(3) spans -> one [MASK] each),
sentence permutation and document rotation; BART's published recipe is text
infilling on ~30% of the tokens plus sentence permutation. MASS masks one
contiguous span and the decoder writes only that span, at the span's own
positions (``decoder_position_ids``).

Shapes: input_ids (B, S) -> memory (B, S, D); decoder_input_ids (B, T) ->
logits (B, T, V). One embedding table ``shared`` (V, D) is read by the encoder input,
the decoder input and the output layer ``lm_head``, whose weight IS that Parameter
(BART's names; :func:`~minissl.nn.utils.tied_linear`).

Parts: the encoder is BERT's (``minissl.nn.transformer.TransformerEncoder``); a decoder
layer is the same :class:`~minissl.nn.TransformerBlock` with causal self-attention (a KV
cache for generation) and a cross-attention sub-layer over the encoder output.
Generation (greedy, beam search) lives in ``seq2seq_decode.py``; the noising
objectives in ``minissl/text/denoising.py``. Demo: ``demos/seq2seq_denoise.py``. T5 (every task
as text-to-text, span-corruption pre-training) on this same model: ``t5.py``.
"""
from __future__ import annotations

from .. import nn
from .. import ops as F
from ..backend import xp
from ..nn.attention import padding_mask
from ..nn.transformer import TransformerEncoder
from ..tensor import Tensor
from .outputs import Seq2SeqLMOutput


def as_ids(a) -> Tensor:
    """Token ids (NumPy/CuPy array, list or Tensor) -> an int64 Tensor on the backend."""
    if isinstance(a, Tensor):
        return a if a.dtype == xp.int64 else a.long()
    return Tensor(xp.asarray(a, dtype=xp.int64), _internal=True)


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer with shared token embeddings and a tied output layer.

    ``forward(input_ids, decoder_input_ids, attention_mask=None, decoder_position_ids=None,
    labels=None)`` -> :class:`Seq2SeqLMOutput` (logits (B, T, V), and the token cross-entropy
    with ``labels``) for a batch from :mod:`minissl.text.denoising`.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, nhead: int = 4, num_encoder_layers: int = 2,
                 num_decoder_layers: int = 2, dim_feedforward: int = 512, dropout: float = 0.1,
                 max_position: int = 256, pad_id: int = 0, norm_first: bool = False, eps: float = 1e-5):
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.vocab_size, self.d_model, self.pad_id, self.max_position = vocab_size, d_model, pad_id, max_position
        self.norm_first = norm_first
        self.shared = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.encoder_positions = nn.Embedding(max_position, d_model)
        self.encoder_layernorm_embedding = nn.LayerNorm(d_model, eps)
        self.encoder = TransformerEncoder(d_model, nhead, num_encoder_layers, dim_feedforward, dropout,
                                          layer_norm_eps=eps, norm_first=norm_first)
        self.decoder_positions = nn.Embedding(max_position, d_model)
        self.decoder_layernorm_embedding = nn.LayerNorm(d_model, eps)
        self.decoder_layers = nn.ModuleList(
            nn.TransformerBlock(d_model, nhead, dim_feedforward, dropout, "gelu", norm_first, eps=eps,
                                cross_attention=True)
            for _ in range(num_decoder_layers))
        # Pre-LN leaves the residual stream un-normalised: one final LayerNorm (as the encoder has).
        self.decoder_final_norm = nn.LayerNorm(d_model, eps) if norm_first else None
        self.dropout = dropout
        # Small embeddings (BERT/BART use std 0.02): with N(0, 1) the tied output
        # layer would start with logits of size ~√D and a saturated softmax.
        for emb in (self.shared, self.encoder_positions, self.decoder_positions):
            emb.weight.array[...] = (emb.weight.array * 0.02).astype(emb.weight.dtype)
        self.shared.weight.array[pad_id] = 0
        self.lm_head = nn.utils.tied_linear(self.shared)  # logit_v = h · e_v

    def _embed(self, ids, position_ids, positions, norm):
        b, t = ids.shape
        if position_ids is None:
            position_ids = xp.broadcast_to(xp.arange(t, dtype=xp.int64), (b, t))
        pos = as_ids(position_ids)
        if pos.array.size and int(pos.array.max()) >= self.max_position:
            raise ValueError(f"a sequence reaches position {int(pos.array.max())} but the model was built "
                             f"with max_position={self.max_position}; build it larger or cut the input")
        x = norm(self.shared(ids) + positions(pos))
        return F.dropout(x, self.dropout, self.training)

    def encode(self, input_ids, attention_mask=None):
        """input_ids (B, S) -> memory (B, S, D)."""
        ids = as_ids(input_ids)
        x = self._embed(ids, None, self.encoder_positions, self.encoder_layernorm_embedding)
        return self.encoder(x, padding_mask(attention_mask))[0]

    def decode(self, decoder_input_ids, memory, attention_mask=None, decoder_position_ids=None, cache=None):
        """decoder_input_ids (B, T), memory (B, S, D) -> logits (B, T, V).

        ``attention_mask`` is the *encoder's* (1 = real token): padding keys of
        the memory are hidden from cross-attention. ``cache``: a list with one
        dict per layer (see :func:`new_cache`) for step-by-step generation.
        """
        ids = as_ids(decoder_input_ids)
        x = self._embed(ids, decoder_position_ids, self.decoder_positions, self.decoder_layernorm_embedding)
        memory_mask = padding_mask(attention_mask)  # padded encoder positions take no part
        for i, layer in enumerate(self.decoder_layers):
            x = layer(x, is_causal=True, cache=None if cache is None else cache[i], memory=memory,
                      memory_mask=memory_mask)[0]
        if self.decoder_final_norm is not None:
            x = self.decoder_final_norm(x)
        return self.lm_head(x)

    def new_cache(self):
        return [{} for _ in self.decoder_layers]

    def forward(self, input_ids, decoder_input_ids, attention_mask=None, decoder_position_ids=None, labels=None):
        """-> :class:`Seq2SeqLMOutput`: decoder ``logits`` (B, T_dec, V) and, with ``labels``
        (B, T_dec, -100 = ignore), the teacher-forced cross-entropy ``loss``. A batch from
        :func:`minissl.text.collate.seq2seq_batch` goes in whole: ``model(**batch).loss``."""
        memory = self.encode(input_ids, attention_mask)
        logits = self.decode(decoder_input_ids, memory, attention_mask, decoder_position_ids)
        if labels is None:
            return Seq2SeqLMOutput(logits)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), as_ids(labels).reshape(-1), ignore_index=-100)
        return Seq2SeqLMOutput(logits, loss)
