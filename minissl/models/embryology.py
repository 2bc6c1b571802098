"""BERT embryology: what pre-training teaches, and when.

The lecture asks what a BERT has learnt after how much pre-training. Save the
weights along the way (step 0, the random initialisation, is the control), then
read each checkpoint with frozen linear probes: a token-level one (part of
speech from each word's vector), sentence-level ones (a label from the
mean-pooled sentence vector), and the pre-training task itself (masked-token
accuracy on held-out text). A probe's curve over the steps says when its
knowledge appears; the step at which a probe has made a fraction f of its
final gain,

    s_f = min { s : a(s) ≥ a(0) + f · (a(final) − a(0)) }

(interpolated between checkpoints) puts the probes in an order (f = 0.9 by default). Checkpoints are ``ms.save``
files of :func:`minissl.train.save_checkpoint`; the steps are spaced evenly in
log(step), since early training changes fastest.

Shapes: a labelled set is a dict of (N, T) int arrays (``minissl.tasks.encode_task``);
:func:`hidden_states` gives (N, T, H), :func:`sentence_features` (N, H), both backend arrays.
Demo: ``demos/bert_embryology.py``.
"""
from __future__ import annotations

import math
import os

from .. import io, nn
from ..backend import to_numpy, xp
from ..tensor import no_grad
from ..train import fit, save_checkpoint


def checkpoint_steps(total: int, n: int) -> list[int]:
    """Step 0 and up to ``n - 1`` steps from 1 to ``total``, evenly spaced in log(step)
    (rounded to whole steps, repeats dropped); ``total`` is always the last."""
    if total < 1 or n < 2:
        raise ValueError(f"checkpoint_steps needs total >= 1 and n >= 2 (step 0 and the end), got {total}, {n}")
    grid = [math.exp(math.log(total) * k / (n - 2)) for k in range(n - 1)] if n > 2 else [total]
    return [0] + sorted({int(round(s)) for s in grid} | {total})


def pretrain_with_checkpoints(model, batches, steps: int, save_at, directory, **fit_kwargs) -> tuple[dict, dict]:
    """``minissl.train.fit(model, batches, steps, **fit_kwargs)``, saving the weights at each
    step of ``save_at`` into ``directory/step_<s>.npz`` (step 0 before the first update: the
    random initialisation). Returns ``({step: path}, fit's history)``."""
    wanted = sorted(set(int(s) for s in save_at))
    if not wanted or wanted[0] < 0 or wanted[-1] > steps:
        raise ValueError(f"pretrain_with_checkpoints: save_at must hold steps from 0 to steps={steps}, got {wanted}")
    os.makedirs(directory, exist_ok=True)
    paths = {s: os.path.join(directory, f"step_{s}.npz") for s in wanted}
    if 0 in paths:
        save_checkpoint(paths[0], model, step=0)
    user_hook = fit_kwargs.pop("after_step", None)

    def after_step(step, m):
        if step in paths:
            save_checkpoint(paths[step], m, step=step)
        if user_hook is not None:
            user_hook(step, m)
    hist = fit(model, batches, steps, after_step=after_step, **fit_kwargs)
    return paths, hist


def load_weights(model, path) -> int:
    """Load the weights of a :func:`minissl.train.save_checkpoint` file into ``model`` (all or
    nothing, names and shapes checked; a tied name the file lacks is filled from its twin by
    :func:`~minissl.nn.utils.fill_tied`); returns the checkpoint's step."""
    ckpt = io.load(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"load_weights: {os.fspath(path)!r} has no 'model' entry; write it with "
                         "minissl.train.save_checkpoint")
    model.load_state_dict(nn.utils.fill_tied(model, ckpt["model"]))
    return int(ckpt.get("step", -1))


@no_grad()
def hidden_states(bert, data: dict, layer: int = -1, batch_size: int = 64):
    """The frozen encoder's vectors at ``layer`` (-1: the last), (N, T, H), for a labelled set
    ``data`` (input_ids, attention_mask, token_type_ids (N, T)); padded keys are masked out, so a
    row's vectors do not depend on how wide the set was padded."""
    was = bert.training
    bert.eval()
    ids, mask, types = data["input_ids"], data["attention_mask"], data.get("token_type_ids")
    out = []
    for k in range(0, len(ids), batch_size):
        rows = slice(k, k + batch_size)
        res = bert(ids[rows], mask[rows], None if types is None else types[rows])
        out.append(res.hidden_states[layer].array)
    bert.train(was)
    return xp.concatenate(out)


def sentence_features(hidden, attention_mask):
    """Mean of the token vectors over the real (unpadded) tokens: (N, T, H), (N, T) -> (N, H)."""
    m = xp.asarray(attention_mask, dtype=xp.float32)[..., None]
    return (xp.asarray(hidden) * m).sum(axis=1) / xp.maximum(m.sum(axis=1), 1.0)


@no_grad()
def mlm_accuracy(model, batches) -> float:
    """Share of masked tokens the MLM head predicts exactly (top-1), over ``batches`` (dicts
    with ``labels`` (B, T): the original id where masked, -100 elsewhere; fixed in advance,
    so every checkpoint fills the same blanks)."""
    was = model.training
    model.eval()
    hits = total = 0
    for b in batches:
        lab = to_numpy(xp.asarray(b["labels"]))
        out = model(b["input_ids"], b["attention_mask"], b.get("token_type_ids"), labels=lab)
        pred = out.prediction_logits.numpy().argmax(-1)  # only the masked positions, in row-major order
        gold = lab[lab != -100]
        hits, total = hits + int((pred == gold).sum()), total + gold.size
    model.train(was)
    if total == 0:
        raise ValueError("mlm_accuracy: no masked token in these batches; mask some (labels != -100)")
    return hits / total


def probe_checkpoints(model, paths: dict, probes: dict, progress=None) -> dict:
    """Load each checkpoint of ``paths`` ({step: path}) into ``model`` in step order and run every
    probe on it: ``probes`` maps a name to ``fn(model) -> score``. Returns ``{name: [score per
    step]}`` and ``"step"``: the steps. ``progress(step)`` is called after each checkpoint."""
    steps = sorted(paths)
    out = {"step": steps, **{name: [] for name in probes}}
    for s in steps:
        load_weights(model, paths[s])
        for name, fn in probes.items():
            out[name].append(float(fn(model)))
        if progress is not None:
            progress(s)
    return out


def step_to_fraction(steps, scores, fraction: float = 0.9):
    """The step at which ``scores`` (one per step, ``steps`` ascending from 0, the control) first
    reach a(0) + fraction·(a(final) − a(0)), interpolated between the two checkpoints around the
    crossing: linearly in log(step), or linearly in step on the first segment (log 0 does not
    exist). None when there is no gain (the final score is not above the first)."""
    s, a = [float(x) for x in steps], [float(x) for x in scores]
    if len(s) != len(a) or len(a) < 2 or any(y <= x for x, y in zip(s, s[1:])) or s[0] < 0:
        raise ValueError(f"step_to_fraction needs ascending steps from >= 0 and one score each, at least 2, got "
                         f"steps {list(s)} and {len(a)} scores")
    gain = a[-1] - a[0]
    if not gain > 0:
        return None
    target = a[0] + fraction * gain
    k = next(i for i, x in enumerate(a) if x >= target - 1e-12)
    if k == 0:
        return float(s[0])
    t = (target - a[k - 1]) / (a[k] - a[k - 1])
    if s[k - 1] == 0:
        return float(t * s[k])
    return float(math.exp(math.log(s[k - 1]) + t * (math.log(s[k]) - math.log(s[k - 1]))))
