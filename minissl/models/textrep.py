"""Text as representation: an auto-encoder whose code is a short sequence of words.

Lecture idea (seq2seq2seq): a *writer* seq2seq reads a document x and writes a
short word sequence z = z_1..z_L from the same vocabulary; a *reader* seq2seq
reads z and rebuilds x. If this trains, z is a representation a person can
read, a summary. The lecture's warning: trained only to reconstruct, the
writer invents a private code that the reader understands and nobody else
does. The cure it proposes is a discriminator that scores how much z looks
like real text; here a language model trained on real sentences plays it.

Training goes through the discrete z with REINFORCE and a baseline::

    r(z)   = log p_reader(x | z) + λ · log p_LM(z)
    ∇_φ E_z[r] = E_z[(r(z) - b) ∇_φ log p_writer(z | x)]

Each document gets K samples z^(1..K), and b for sample k is the mean reward of
the document's other K-1 samples (leave one out, RLOO): independent of z^(k), so
the estimate stays unbiased (tested against the exact gradient), and it removes
what differs between documents (a long sentence has a low log-likelihood
whatever z says), which would otherwise swamp the signal. The
reader trains by ordinary cross-entropy on the sampled z. REINFORCE rather
than straight-through Gumbel-softmax because the reader and the LM then only
ever see real tokens (one-hot ids, exactly what they would read at test time),
and the LM term needs no gradient at all; Gumbel-softmax would feed them soft
mixtures of embeddings that no real text contains, and its straight-through
gradient is biased. The price is variance, which the baseline reduces.

Shapes: documents as id lists; z (B, L) int; log p_writer(z | x) (B,).
Both models are :class:`~minissl.models.seq2seq.Seq2SeqTransformer`.
Demo: ``demos/text_as_representation.py``.
"""
from __future__ import annotations

from .. import nn
from .. import ops as F
from ..backend import to_numpy, xp
from ..tensor import Tensor, no_grad
from ..text.base import pad_batch
from ..text.collate import seq2seq_batch
from .seq2seq import Seq2SeqTransformer

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD, BOS, EOS = 0, 2, 3


def loo_baseline(rewards):
    """b_i = mean of the other rewards in i's group (leave one out): independent of sample i.

    ``rewards`` (..., K): the last axis holds the K samples of one group (one document). Host
    (NumPy) arrays in and out: rewards are numbers, not part of the graph."""
    r = to_numpy(xp.asarray(rewards, dtype=xp.float64))
    if r.shape[-1] < 2:
        raise ValueError("a leave-one-out baseline needs at least two samples per group (K >= 2)")
    return (r.sum(axis=-1, keepdims=True) - r) / (r.shape[-1] - 1)


def reinforce_loss(logp: Tensor, rewards, baseline=None, normalise: bool = False) -> Tensor:
    """Surrogate whose gradient is the REINFORCE estimate: -mean_i (r_i - b_i) log p(z_i).

    ``logp`` (B,) Tensor; ``rewards`` (B,) or (B/K, K) numbers in the same order (no gradient);
    ``baseline`` of the same shape, default :func:`loo_baseline` over the last axis. ``normalise`` divides the advantages by their batch standard
    deviation (a positive factor per batch: it sets the step size, not the direction).
    """
    r = to_numpy(xp.asarray(rewards, dtype=xp.float64))
    b = loo_baseline(r) if baseline is None else to_numpy(xp.asarray(baseline, dtype=xp.float64))
    adv = (r - b).reshape(-1)
    if normalise:
        adv = adv / (adv.std() + 1e-8)
    a = Tensor(xp.asarray(adv, dtype=logp.dtype), _internal=True)
    return -(a * logp).mean()


def _token_logp(logits: Tensor, targets, ban=None) -> Tensor:
    """log p of ``targets`` (B, T) under ``logits`` (B, T, V), banned ids given -inf: (B, T)."""
    if ban is not None:
        logits = logits + Tensor(ban, _internal=True)
    lp = F.log_softmax(logits, dim=-1)
    idx = Tensor(xp.asarray(targets, dtype=xp.int64)[..., None], _internal=True)
    return F.gather(lp, -1, idx).squeeze(-1)


class TextAutoencoder(nn.Module):
    """Writer (document -> L words) and reader (L words -> document), two seq2seq models.

    ``lm``: a frozen :class:`~minissl.models.gpt.GPT` over the same ids (its sequences start
    with BOS) whose log-probability of z, times ``lm_weight``, is added to the reward.
    """

    def __init__(self, vocab_size: int, length: int, d_model: int = 32, nhead: int = 2, layers: int = 1,
                 dim_feedforward: int = 64, lm=None, lm_weight: float = 0.0, samples: int = 4,
                 max_position: int = 64):
        super().__init__()
        if length < 1:
            raise ValueError(f"the middle sequence needs length >= 1, got {length}")
        if lm_weight and lm is None:
            raise ValueError("lm_weight > 0 needs a language model: pass lm=a trained GPT")
        kw = dict(d_model=d_model, nhead=nhead, num_encoder_layers=layers, num_decoder_layers=layers,
                  dim_feedforward=dim_feedforward, dropout=0.0, max_position=max_position, pad_id=PAD)
        self.writer = Seq2SeqTransformer(vocab_size, **kw)
        self.reader = Seq2SeqTransformer(vocab_size, **kw)
        if samples < 2:
            raise ValueError(f"the leave-one-out baseline needs samples >= 2 per document, got {samples}")
        self.vocab_size, self.length, self.lm_weight, self.samples = vocab_size, length, lm_weight, samples
        self._lm = [lm]  # a list: the LM's parameters are not this model's (it stays frozen)
        self.ban = xp.zeros(vocab_size, dtype=xp.float32)
        self.ban[:len(SPECIALS)] = -1e9  # the writer writes words only

    def write(self, docs, rng=None):
        """Documents (list of id lists) -> z (B, L), a host int64 array: sampled with ``rng``
        (a NumPy Generator), arg-max without."""
        ids, mask = pad_batch(docs, PAD)
        was = self.writer.training
        self.writer.eval()
        with no_grad():
            memory = self.writer.encode(ids, mask)
            cache = self.writer.new_cache()
            seq = xp.full((len(docs), 1), BOS, dtype=xp.int64)
            for t in range(self.length):
                logits = self.writer.decode(seq[:, -1:], memory, mask, xp.full((len(docs), 1), t), cache)
                lp = F.log_softmax(Tensor(logits.array[:, -1] + self.ban, _internal=True), dim=-1).array
                if rng is not None:  # Gumbel-max: argmax(lp + Gumbel noise) is a sample from softmax(lp)
                    lp = lp - xp.log(-xp.log(xp.asarray(rng.random(lp.shape))))
                seq = xp.concatenate([seq, lp.argmax(-1).astype(xp.int64)[:, None]], axis=1)
        self.writer.train(was)
        return to_numpy(seq[:, 1:])

    def writer_logp(self, docs, z) -> Tensor:
        """log p_writer(z | x) summed over the L positions: (B,), with gradient."""
        ids, mask = pad_batch(docs, PAD)
        z = xp.asarray(z, dtype=xp.int64)
        dec = xp.concatenate([xp.full((len(z), 1), BOS, dtype=xp.int64), z[:, :-1]], axis=1)
        logits = self.writer(ids, dec, attention_mask=mask).logits
        return _token_logp(logits, z, self.ban).sum(dim=1)

    def reader_out(self, z, docs):
        """Teacher-forced reader on (z -> document): (Seq2SeqLMOutput, labels (B, T))."""
        batch = seq2seq_batch(list(zip(to_numpy(xp.asarray(z)).tolist(), docs)), PAD, BOS, EOS)
        return self.reader(**batch), batch["labels"]

    @staticmethod
    def doc_loglik(logits: Tensor, labels):
        """log p_reader(x | z) per document, a host array (B,), from teacher-forced logits; no gradient."""
        labels = xp.asarray(labels)
        lp = _token_logp(logits.detach(), xp.where(labels < 0, 0, labels)).array
        return to_numpy(xp.where(labels < 0, 0.0, lp).sum(axis=1))

    def lm_logp(self, z):
        """log p_LM(z) summed over the L words, BOS first: a host array (B,)."""
        lm = self._lm[0]
        z = xp.asarray(z, dtype=xp.int64)
        x = xp.concatenate([xp.full((len(z), 1), BOS, dtype=xp.int64), z[:, :-1]], axis=1)
        was = lm.training
        lm.eval()
        with no_grad():
            lp = _token_logp(lm(x).logits, z)
        lm.train(was)
        return to_numpy(lp.array).sum(axis=1)

    def step(self, docs, optimizer, rng) -> dict:
        """One end-to-end update on a batch of documents (``samples`` z each); returns losses and rewards."""
        docs = [d for d in docs for _ in range(self.samples)]  # rows k*K .. k*K+K-1: document k
        z = self.write(docs, rng)
        out, labels = self.reader_out(z, docs)
        recon = self.doc_loglik(out.logits, labels)
        lm = self.lm_logp(z) if self.lm_weight else 0.0 * recon
        writer_loss = reinforce_loss(self.writer_logp(docs, z),
                                     (recon + self.lm_weight * lm).reshape(-1, self.samples), normalise=True)
        optimizer.zero_grad()
        (out.loss + writer_loss).backward()
        optimizer.step()
        return {"reader_loss": float(out.loss.item()), "recon_loglik": float(recon.mean()),
                "lm_logp": float(lm.mean())}
