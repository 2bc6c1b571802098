"""Pre-training objectives for the seq2seq model, selectable by name.

Every objective turns clean documents (each a list of sentences, each a list
of token ids) into a teacher-forcing batch for :class:`Seq2SeqTransformer`:

    input_ids         (B, S)  the corrupted text the encoder reads
    attention_mask    (B, S)  1 = real token
    decoder_input_ids (B, T)  what the decoder reads: [BOS] + target (shifted right)
    labels            (B, T)  what it must write: target + [EOS], -100 on padding

Names (the corruptions themselves are ``minissl.text.noise``):

    mask     BART token masking: tokens -> [MASK] (15%)
    delete   BART token deletion: tokens dropped (15%); the model must find where
    infill   BART text infilling: Poisson(3)-long spans, 30% of tokens, one [MASK] each
    permute  BART sentence permutation: the sentences shuffled
    rotate   BART document rotation: the text starts at a random token
    bart     BART's published recipe: infill + permute
    mass     MASS: one contiguous span (50%) masked; the decoder writes only that
             span, reading [MASK] + span[:-1] at the span's own positions
             (``decoder_position_ids``), and has no [EOS] to write

Host-side NumPy: batches are int64 arrays; the model moves them to the backend.
"""
from __future__ import annotations

import numpy as np

from .base import pad_batch
from .collate import IGNORE_INDEX, seq2seq_batch  # noqa: F401 - seq2seq_batch: the objectives' batch format
from .noise import BartCollator, mass_mask

NOISES = ("mask", "delete", "infill", "permute", "rotate", "bart", "mass")
_BART = {"mask": (("mask",), 0.15), "delete": (("delete",), 0.15), "infill": (("infill",), 0.3),
         "permute": (("permute",), 0.3), "rotate": (("rotate",), 0.3), "bart": (("infill", "permute"), 0.3)}


def mass_batch(examples, mask_id: int, pad_id: int, rng, span_fraction: float = 0.5) -> dict:
    """MASS batch from flat id lists. Besides the usual keys: ``decoder_position_ids``
    (B, T) = the masked span's positions (row i's span starts at ``decoder_position_ids[i, 0]``)."""
    ms = [mass_mask(e, mask_id, rng, span_fraction) for e in examples]
    src = [m["encoder_input"] for m in ms]
    ids, mask = pad_batch(src, pad_id)
    return {"input_ids": ids, "attention_mask": mask,
            "decoder_input_ids": pad_batch([m["decoder_input"] for m in ms], pad_id)[0],
            "labels": pad_batch([m["decoder_target"] for m in ms], IGNORE_INDEX)[0],
            "decoder_position_ids": pad_batch([list(range(*m["span"])) for m in ms], 0)[0]}


def flatten(doc):
    """A document (list of sentences) or a flat id list -> one flat id list."""
    return [t for s in doc for t in s] if doc and isinstance(doc[0], (list, tuple, np.ndarray)) else list(doc)


class DenoisingObjective:
    """``DenoisingObjective(name, ...)(docs) -> batch``; ``name`` is one of :data:`NOISES`.

    ``corrupt(doc) -> (encoder input, clean target)`` shows one example (for
    MASS the target is the span). ``mask_ratio`` overrides the default rate.
    """

    def __init__(self, name: str, mask_id: int, pad_id: int, bos_id: int, eos_id: int, seed: int = 0,
                 mask_ratio: float | None = None, poisson_lambda: float = 3.0, span_fraction: float = 0.5):
        if name not in NOISES:
            raise ValueError(f"unknown objective {name!r}; choose from {NOISES}")
        self.name, self.mask_id, self.pad_id, self.bos_id, self.eos_id = name, mask_id, pad_id, bos_id, eos_id
        self.span_fraction = span_fraction
        self.rng = np.random.default_rng(seed)
        if name != "mass":
            noises, ratio = _BART[name]
            self.collator = BartCollator(mask_id, pad_id, bos_id, noises, ratio if mask_ratio is None else mask_ratio,
                                         poisson_lambda, seed, eos_id=eos_id)
            self.collator.rng = self.rng  # one random stream per objective

    def corrupt(self, doc):
        if self.name == "mass":
            m = mass_mask(flatten(doc), self.mask_id, self.rng, self.span_fraction)
            return m["encoder_input"], m["decoder_target"]
        return self.collator.noise(doc)

    def __call__(self, docs) -> dict:
        if self.name == "mass":
            return mass_batch([flatten(d) for d in docs], self.mask_id, self.pad_id, self.rng, self.span_fraction)
        return self.collator(docs)
