"""Text layer: tokenizers, corpora and the collators that make self-supervised batches.

Host-side NumPy only; arrays come out as int64 and models convert them.
"""
from .base import (BERT_SPECIALS, CLS, MASK, PAD, SEP, UNK, TokenizerFileError, VocabTokenizer,
                   pad_batch)
from .basic import BasicTokenizer
from .bpe import ENDOFTEXT, GPT2_PATTERN, GPT4_PATTERN, ByteBPETokenizer
from .char import CharTokenizer
from .collate import (IGNORE_INDEX, MLMCollator, causal_lm_collate, lm_batch, make_nsp_pairs,
                      make_sop_pairs, mask_tokens, mlm_batch, mlm_batches, seq2seq_batch)
from .corpus import Corpus, load_pydoc_corpus, load_text_corpus, split_sentences, word_tokenize
from .noise import (SENTINEL, BartCollator, document_rotation, mass_mask, random_segmentation, sentence_permutation,
                    sentinel_tokens, span_corruption, text_infilling, token_deletion, token_masking)
from .sentencepiece import UnigramTokenizer
from .wordpiece import WordPieceTokenizer

__all__ = [
    "BERT_SPECIALS", "PAD", "UNK", "CLS", "SEP", "MASK", "IGNORE_INDEX", "ENDOFTEXT", "TokenizerFileError",
    "GPT2_PATTERN", "GPT4_PATTERN", "VocabTokenizer", "pad_batch", "BasicTokenizer",
    "CharTokenizer", "WordPieceTokenizer", "ByteBPETokenizer", "UnigramTokenizer", "Corpus", "load_pydoc_corpus",
    "load_text_corpus", "split_sentences", "word_tokenize", "MLMCollator", "mask_tokens", "mlm_batch", "mlm_batches",
    "make_nsp_pairs", "make_sop_pairs", "lm_batch", "causal_lm_collate", "seq2seq_batch", "BartCollator",
    "token_masking", "token_deletion", "text_infilling", "sentence_permutation", "span_corruption",
    "random_segmentation", "SENTINEL", "sentinel_tokens",
    "document_rotation", "mass_mask",
]
