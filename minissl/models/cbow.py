"""CBOW (word2vec): predict a word from the average of its neighbours' vectors.

Lecture idea: before BERT, word embeddings were learned by the same game, only
shallow. CBOW ("continuous bag of words") averages the vectors of the words
around position t and asks a linear layer to name the word at t. BERT is "a
deep-learning version of CBOW": the average becomes a stack of self-attention.

``CBOW`` is the readable model, on minissl's autograd::

    h = mean_c E[context_c]            (B, d)   E: (V, d) input vectors
    logits = h W^T                     (B, V)   W: (V, d) output vectors
    loss = cross_entropy(logits, target)

A softmax over the whole vocabulary costs V·d per word; the trainer that word2vec.c
and gensim use (negative sampling, hand-written gradients, subsampling) is in
:mod:`minissl.models.word2vec`. Demo: demos/cbow_embeddings.py.
"""
from __future__ import annotations

from .. import nn
from ..nn import functional as F


class CBOW(nn.Module):
    """The readable CBOW: embedding -> mean over context -> linear -> softmax."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)           # input vectors  u_w
        self.out = nn.Linear(dim, vocab_size, bias=False)    # output vectors v_w (rows of the weight)

    def hidden(self, context, mask):
        """context (B, C) word ids, mask (B, C) 1.0 for real context words, 0.0 for padding -> h (B, d)."""
        e = self.embed(context) * mask.unsqueeze(-1)
        return e.sum(1) / mask.sum(1, keepdim=True)

    def forward(self, context, mask):
        return self.out(self.hidden(context, mask))          # logits (B, V)

    def loss(self, context, mask, target):
        return F.cross_entropy(self(context, mask), target)
