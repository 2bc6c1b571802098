"""Writing with a trained seq2seq model: greedy search and beam search, with a KV cache.

The encoder runs once; the decoder then writes one token per step. Without a
cache, step t re-reads all t tokens (O(T²) decoder work over a sequence); with
``use_cache=True`` each layer keeps the keys/values it has already computed and
step t feeds only the newest token (cross-attention keys/values over the
encoder output are computed once). Both give the same tokens (tested).

Greedy search takes the arg-max token each step. Beam search keeps the K
best partial outputs by total log-probability Σ log p(y_t | y_<t, x); a
hypothesis that writes [EOS] is finished and scored Σ log p / len^α
(``length_penalty`` α; α = 0 prefers short outputs, α = 1 is the per-token
average). With K = 1 it is exactly greedy search (tested).

Outputs are lists of token ids, without the start token and without [EOS].
"""
from __future__ import annotations

from .. import ops as F
from ..backend import to_numpy, xp
from ..tensor import Tensor, as_array, no_grad


def _prepare(model, input_ids, attention_mask, position_start, repeat=1):
    ids = as_array(input_ids, xp.int64)
    b = ids.shape[0]
    mask = None if attention_mask is None else as_array(attention_mask)
    start = xp.zeros(b, dtype=xp.int64) if position_start is None else xp.asarray(position_start, dtype=xp.int64)
    memory = model.encode(ids, mask)
    if repeat > 1:  # K beams per example: rows b*K .. b*K+K-1 belong to example b
        rows = xp.repeat(xp.arange(b), repeat)
        memory = Tensor(memory.array[rows], _internal=True)
        mask = None if mask is None else mask[rows]
        start = start[rows]
    return memory, mask, start


def _step(model, seqs, memory, mask, start, cache):
    """Log-probabilities of the next token, (rows, V), for every row of ``seqs``."""
    t = seqs.shape[1]
    if cache is not None:  # only the newest token; the cache holds the rest
        inp, pos = seqs[:, -1:], (start + t - 1)[:, None]
    else:
        inp, pos = seqs, start[:, None] + xp.arange(t)[None, :]
    logits = model.decode(inp, memory, mask, pos, cache)
    return F.log_softmax(Tensor(logits.array[:, -1], _internal=True), dim=-1).array


def _strip(row, eos_id):
    row = [int(v) for v in row]
    return row[:row.index(eos_id)] if eos_id is not None and eos_id in row else row


def greedy_search(model, input_ids, attention_mask=None, bos_id: int = 2, eos_id: int | None = 3,
                  max_new_tokens: int = 64, position_start=None, use_cache: bool = True, pad_id: int = 0):
    """Arg-max decoding. ``position_start`` (B,) shifts the decoder's positions
    (MASS writes its span at the span's own positions). ``eos_id=None``: always
    write ``max_new_tokens`` tokens."""
    was_training = model.training
    model.eval()
    with no_grad():
        memory, mask, start = _prepare(model, input_ids, attention_mask, position_start)
        b = memory.shape[0]
        seqs = xp.full((b, 1), bos_id, dtype=xp.int64)
        done = xp.zeros(b, dtype=xp.bool_)
        cache = model.new_cache() if use_cache else None
        for _ in range(max_new_tokens):
            nxt = _step(model, seqs, memory, mask, start, cache).argmax(axis=-1)
            nxt = xp.where(done, pad_id, nxt)
            seqs = xp.concatenate([seqs, nxt[:, None]], axis=1)
            if eos_id is not None:
                done |= nxt == eos_id
                if bool(done.all()):
                    break
    model.train(was_training)
    return [_strip(r[1:], eos_id) for r in to_numpy(seqs)]


def beam_search(model, input_ids, attention_mask=None, num_beams: int = 4, bos_id: int = 2,
                eos_id: int | None = 3, max_new_tokens: int = 64, length_penalty: float = 1.0,
                position_start=None, use_cache: bool = True, pad_id: int = 0):
    """Keep the ``num_beams`` best hypotheses per example; return the best finished one."""
    if num_beams < 1:
        raise ValueError(f"num_beams must be at least 1, got {num_beams}")
    was_training = model.training
    model.eval()
    K = num_beams
    with no_grad():
        memory, mask, start = _prepare(model, input_ids, attention_mask, position_start, repeat=K)
        B = memory.shape[0] // K
        seqs = xp.full((B * K, 1), bos_id, dtype=xp.int64)
        scores = xp.full((B, K), -xp.inf)
        scores[:, 0] = 0.0  # all K beams start identical: expand only the first
        finished = [[] for _ in range(B)]  # (normalised score, tokens)
        done = [False] * B
        cache = model.new_cache() if use_cache else None
        for t in range(1, max_new_tokens + 1):
            logp = _step(model, seqs, memory, mask, start, cache)
            V = logp.shape[1]
            cand = (scores.reshape(-1, 1) + logp).reshape(B, K * V)
            top = xp.argsort(-cand, axis=1, kind="stable")[:, :2 * K]  # 2K: up to K may be [EOS]
            top_h, cand_h = to_numpy(top), to_numpy(cand)
            rows, toks, new_scores = [], [], []
            for b in range(B):
                live = []
                for rank, c in enumerate(top_h[b]):
                    beam, tok, s = int(c) // V, int(c) % V, float(cand_h[b, c])
                    if done[b] or s == -float("inf"):
                        break
                    if eos_id is not None and tok == eos_id:
                        if rank < K:  # an [EOS] outside the top K would not have been kept
                            finished[b].append((s / t ** length_penalty, to_numpy(seqs[b * K + beam, 1:]).tolist()))
                        continue
                    live.append((b * K + beam, tok, s))
                    if len(live) == K:
                        break
                if not done[b] and len(finished[b]) >= K:
                    worst = sorted(f[0] for f in finished[b])[-K]
                    best_live = live[0][2] / t ** length_penalty if live else -float("inf")
                    done[b] = worst >= best_live  # no live beam can still beat the K finished ones
                while len(live) < K:  # a finished example keeps dummy beams (never chosen again)
                    live.append((b * K, pad_id, -float("inf")))
                for r, tok, s in live:
                    rows.append(r), toks.append(tok), new_scores.append(s)
            if all(done):
                break
            rows = xp.asarray(rows)
            seqs = xp.concatenate([seqs[rows], xp.asarray(toks, dtype=xp.int64)[:, None]], axis=1)
            scores = xp.asarray(new_scores).reshape(B, K)
            if cache is not None:  # each beam continues some parent's history: reorder the self-attention cache
                for layer in cache:
                    for key in ("k", "v"):
                        layer["self"][key] = Tensor(layer["self"][key].array[rows], _internal=True)
                # cross-attention keys/values stay: a parent is always a beam of the same example
        length = seqs.shape[1] - 1
        for b in range(B):
            if not done[b]:  # ran out of steps: unfinished beams compete too
                for k in range(K):
                    s = float(scores[b, k])
                    if s > -float("inf"):
                        finished[b].append((s / max(length, 1) ** length_penalty,
                                            to_numpy(seqs[b * K + k, 1:]).tolist()))
    model.train(was_training)
    return [_strip(max(f, key=lambda h: h[0])[1], eos_id) for f in finished]


def generate(model, input_ids, attention_mask=None, num_beams: int = 1, **kwargs):
    """Greedy search for ``num_beams=1``, beam search otherwise (same keyword arguments)."""
    if num_beams == 1:
        kwargs.pop("length_penalty", None)
        return greedy_search(model, input_ids, attention_mask, **kwargs)
    return beam_search(model, input_ids, attention_mask, num_beams=num_beams, **kwargs)
