"""One training loop for every model: :func:`fit`.

Every model in minissl learns with the same step (``demos/autograd_basics.py``
writes it out by hand once)::

    loss = loss_fn(model, batch)              # forward: a scalar Tensor
    optimizer.zero_grad()
    loss.backward()                           # dloss/dθ for every parameter θ
    clip_grad_norm_(params, grad_clip)        # optional: ‖g‖ ≤ grad_clip
    optimizer.step(); scheduler.step()        # θ ← θ - lr_t · update(g)

:func:`fit` runs it ``steps`` times and adds what a real run needs around it:
an evaluation every ``eval_every`` steps, a checkpoint after each evaluation, a
progress bar, and a history of every step's loss and learning rate (minGPT's
``Trainer`` and d2l's ``Trainer`` do the same). What differs between models —
where batches come from and how a batch becomes a loss — is passed in:

- ``batches``: a function ``batches(step) -> batch`` (a fresh random batch per
  step: language models, pre-training) or an iterable of batches (epochs over a
  labelled set: :func:`minibatches` gives the shuffled row indices);
- ``loss_fn(model, batch) -> loss``; without it the model is called on the batch
  (``model(*batch)`` for a tuple, ``model(**batch)`` for a dict) and its output
  is the loss, or carries it as ``.loss`` (the Hugging Face convention).

:func:`make_optimizer` builds the usual recipe: AdamW with weight decay on the
matrices only, linear warm-up, then cosine or linear decay. BERT's two recipes
sit on top: :func:`pretrain_mlm` (fill in the blanks, a fresh sample and mask
each step) and :func:`finetune` (epochs over a labelled set).
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass

import numpy as np

from . import io, optim
from .nn.utils import clip_grad_norm_
from .tensor import Tensor, no_grad
from .text.collate import mlm_batches


def make_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), warmup=100, total_steps=1000,
                   min_lr_ratio=0.1, decay="cosine"):
    """AdamW (decay on matrices only) and its schedule: linear warm-up over ``warmup`` steps,
    then ``decay="cosine"`` to ``min_lr_ratio``·lr or ``decay="linear"`` to 0 at ``total_steps``.
    Returns ``(optimizer, scheduler)``."""
    opt = optim.AdamW(optim.param_groups_for_decay(model, weight_decay), lr=lr, betas=betas)
    if decay == "cosine":
        return opt, optim.warmup_cosine(opt, warmup, total_steps, min_ratio=min_lr_ratio)
    if decay == "linear":
        return opt, optim.warmup_linear(opt, warmup, total_steps)
    raise ValueError(f"make_optimizer: decay must be 'cosine' or 'linear', got {decay!r}")


def minibatches(n: int, batch_size: int, epochs: int, rng, drop_last: bool = False):
    """Row indices for ``epochs`` passes over ``n`` examples, reshuffled at the start of each pass
    with ``rng.permutation`` (a NumPy Generator). Yields int arrays of up to ``batch_size`` rows;
    ``drop_last`` skips a final short batch (BatchNorm wants full ones)."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"minibatches: need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    stop = n - n % batch_size if drop_last else n
    for _ in range(epochs):
        order = rng.permutation(n)
        for k in range(0, stop, batch_size):
            yield order[k:k + batch_size]


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches :func:`minibatches` yields per pass over ``n`` examples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def take(data: dict, rows) -> dict:
    """Rows of a dict of equal-length arrays (a labelled set: the model's keyword arguments).
    With an ``attention_mask``, arrays as wide as it are cut to the longest chosen row, so
    the batch equals what padding those rows alone would give (padding on the right)."""
    rows = np.asarray(rows)
    mask = data.get("attention_mask")
    if mask is None:
        return {k: v[rows] for k, v in data.items()}
    width, full = int(np.asarray(mask[rows]).sum(axis=1).max()), mask.shape[1]
    return {k: v[rows, :width] if v.ndim == 2 and v.shape[1] == full else v[rows] for k, v in data.items()}


def label_accuracy(model, data: dict, batch_size: int = 64) -> float:
    """Share of labels the model gets right on a labelled set (``data["labels"]``: one class per
    example, or one per token with -100 where there is none), in eval mode, ``batch_size`` at a time."""
    model.eval()
    hits = total = 0
    n = len(data["labels"])
    with no_grad():
        for k in range(0, n, batch_size):
            batch = take(data, range(k, min(k + batch_size, n)))
            y = batch.pop("labels")
            pred = model(**batch).logits.numpy().argmax(-1)
            keep = y != -100
            hits, total = hits + int((pred[keep] == y[keep]).sum()), total + int(keep.sum())
    return hits / total


def output_loss(out):
    """The loss in a model's output: the output itself if it is a Tensor, else its ``.loss``."""
    if isinstance(out, Tensor):
        return out
    loss = getattr(out, "loss", None)
    if loss is None:
        raise TypeError(f"fit: the model returned a {type(out).__name__} with no .loss; return the loss (or an "
                        "output with .loss) when labels are given, or pass loss_fn=lambda model, batch: ...")
    return loss


def call_model(model, batch):
    """``model(*batch)`` for a tuple or list, ``model(**batch)`` for a dict, else ``model(batch)``."""
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def save_checkpoint(path, model, optimizer=None, step: int = 0, **extra):
    """Weights, the model's config (if it is a dataclass), the optimizer's state and the step,
    in one atomic ``.npz`` via ``ms.save``; read back with ``ms.load``."""
    ckpt = {"model": model.state_dict(), "step": step, **extra}
    config = getattr(model, "config", None)
    if is_dataclass(config):
        ckpt["config"] = asdict(config)
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    io.save(ckpt, path)


_END = object()  # marks an exhausted iterable of batches


def fit(model, batches, steps: int | None = None, *, loss_fn=None, optimizer=None, scheduler=None,
        grad_clip: float | None = None, eval_fn=None, eval_every: int | None = None, checkpoint=None,
        after_step=None, progress: bool = True, desc: str = "train") -> dict:
    """Train ``model`` for ``steps`` optimizer steps; returns the history.

    batches:    ``batches(step) -> batch`` (then ``steps`` is required), or an iterable of
                batches (``steps`` defaults to its length; training stops when it runs out).
    loss_fn:    ``loss_fn(model, batch) -> scalar Tensor``; default: call the model on the
                batch and take its output (or the output's ``.loss``).
    optimizer:  default ``Adam(model.parameters(), lr=1e-3)``; ``scheduler`` (anything with
                ``.step()``) is stepped after each optimizer step.
    grad_clip:  rescale the gradients so their global L2 norm is at most this.
    eval_fn:    ``eval_fn(model) -> number or dict``, run every ``eval_every`` steps and after
                the last; the model is put back in training mode afterwards.
    checkpoint: a path: :func:`save_checkpoint` after each evaluation (after the last step
                when there is no ``eval_fn``).
    after_step: ``after_step(step, model)`` after each step (step counts from 1), e.g. to
                update a BYOL target network.

    History: ``step`` (1, 2, ...), ``loss`` and ``lr`` (the first group's rate used by that
    step) per step, ``eval_step`` and ``eval`` per evaluation. The model is left in eval mode.
    """
    if callable(batches) and steps is None:
        raise ValueError("fit: with a batch function, give steps=; or pass an iterable of batches")
    if steps is None:
        if not hasattr(batches, "__len__"):
            raise ValueError("fit: this iterable of batches has no len(); give steps=")
        steps = len(batches)
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"fit: eval_every must be a positive number of steps, got {eval_every}")
    stream = None if callable(batches) else iter(batches)
    optimizer = optimizer or optim.Adam(model.parameters(), lr=1e-3)
    params = list(model.parameters())
    hist = {"step": [], "loss": [], "lr": [], "eval_step": [], "eval": []}
    bar = range(steps)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, desc=desc, dynamic_ncols=True, mininterval=1.0, leave=False)
    model.train()
    for step in bar:
        if stream is None:
            batch = batches(step)
        else:
            batch = next(stream, _END)
            if batch is _END:
                break
        loss = loss_fn(model, batch) if loss_fn else output_loss(call_model(model, batch))
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"fit: the loss must be a one-element Tensor, got {_describe(loss)}; if the model "
                             "returns predictions, pass loss_fn=lambda model, batch: ... that returns the loss")
        optimizer.zero_grad()
        loss.backward()
        if grad_clip:
            clip_grad_norm_(params, grad_clip)
        hist["lr"].append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        hist["step"].append(step + 1)
        hist["loss"].append(float(loss.item()))
        if after_step is not None:
            after_step(step + 1, model)
        if eval_fn is not None and eval_every and (step + 1) % eval_every == 0:
            _evaluate(model, eval_fn, checkpoint, optimizer, hist, step + 1)
        if progress and step % 10 == 0:
            bar.set_postfix(_shown(hist))
    done = len(hist["step"])
    if done and hist["eval_step"][-1:] != [done] and (eval_fn is not None or checkpoint):
        _evaluate(model, eval_fn, checkpoint, optimizer, hist, done)
        if progress:
            bar.set_postfix(_shown(hist))
    model.eval()
    return hist


def _evaluate(model, eval_fn, checkpoint, optimizer, hist, step):
    """Evaluate (if there is an ``eval_fn``), then checkpoint (if there is a path), at ``step``."""
    if eval_fn is not None:
        value = eval_fn(model)
        hist["eval_step"].append(step)
        hist["eval"].append(float(value) if isinstance(value, (int, float, np.floating, np.integer)) else value)
        model.train()
    if checkpoint:
        save_checkpoint(checkpoint, model, optimizer, step)


def _describe(x):
    return f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else f"a {type(x).__name__}"


def _shown(hist):
    shown = {"loss": f"{np.mean(hist['loss'][-10:]):.3f}"}
    if hist["eval"] and isinstance(hist["eval"][-1], float):
        shown["eval"] = f"{hist['eval'][-1]:.3f}"
    return shown


def finetune(model, train: dict, *, epochs: int | None = None, steps: int | None = None, batch_size: int = 16,
             lr: float = 5e-5, weight_decay: float = 0.01, warmup: float = 0.1, grad_clip: float = 1.0, seed: int = 0,
             val=None, metric=None, eval_every: int | None = None, progress: bool = True,
             desc: str = "fine-tune") -> dict:
    """BERT's fine-tuning recipe on :func:`fit`: train a (pre-trained) model on a labelled set.

    train:      dict of equal-length arrays, the model's keyword arguments with the labels
                (``minissl.tasks.encode_task`` builds one); batches are :func:`take` of it.
    epochs:     passes over ``train`` in batches of ``batch_size``, reshuffled each pass by
                ``np.random.default_rng(seed)``; or ``steps``: that many batches.
    optimizer:  AdamW (``weight_decay`` on matrices only), linear warm-up over the first
                ``warmup`` fraction of the steps (int(warmup · steps) of them), then linear
                decay to 0; gradient norm clipped at ``grad_clip``.
    val/metric: ``metric(model, val) -> float`` every ``eval_every`` steps (default once an
                epoch) and at the end, in history ``eval``.

    ``seed`` orders the batches only: seed the weights of a new head (and dropout) with
    ``ms.manual_seed`` before building the model. Returns fit's history.
    """
    n = len(next(iter(train.values())))
    if any(len(v) != n for v in train.values()):
        raise ValueError("finetune: every array of train must have one row per example; got lengths "
                         f"{ {k: len(v) for k, v in train.items()} }")
    per_epoch = steps_per_epoch(n, batch_size)
    if (epochs is None) == (steps is None):
        raise ValueError("finetune: give exactly one of epochs= and steps=")
    steps = epochs * per_epoch if steps is None else steps
    if (val is None) != (metric is None):
        raise ValueError("finetune: give val= and metric= together (metric(model, val) scores the model)")
    opt, sched = make_optimizer(model, lr, weight_decay, betas=(0.9, 0.999), warmup=int(steps * warmup),
                                total_steps=steps, decay="linear")
    rows = minibatches(n, batch_size, -(-steps // per_epoch), np.random.default_rng(seed))
    return fit(model, (take(train, r) for r in rows), steps, optimizer=opt, scheduler=sched, grad_clip=grad_clip,
               eval_fn=None if metric is None else (lambda m: metric(m, val)),
               eval_every=eval_every or (per_epoch if metric else None), progress=progress, desc=desc)


def pretrain_mlm(model, examples, tokenizer, steps: int, *, batch_size: int, lr: float, seed: int = 0,
                 mlm_probability: float = 0.15, progress: bool = True, desc: str = "pre-train MLM") -> dict:
    """BERT's pre-training recipe on :func:`fit`: masked-language modelling (with NSP/SOP where the
    examples carry a sentence label), ``steps`` steps of ``batch_size`` examples.

    examples:   what :func:`~minissl.text.collate.mlm_batch` takes: ``(input_ids, token_type_ids,
                sentence_label)`` triples or plain id lists. Each step draws its examples with
                replacement and masks ``mlm_probability`` of their tokens (80% [MASK], 10% a
                random token, 10% kept), both from ``np.random.default_rng(seed)``.
    tokenizer:  gives the [MASK] and [PAD] ids, the vocabulary size and the special ids.
    optimizer:  AdamW (weight decay 0.01 on matrices only, betas (0.9, 0.999)), linear warm-up
                over the first 10% of the steps, then linear decay to 0; gradient norm clipped at 1.

    Seed the weights (and dropout) with ``ms.manual_seed`` before building the model.
    Returns fit's history (``loss`` per step)."""
    opt, sched = make_optimizer(model, lr, weight_decay=0.01, betas=(0.9, 0.999), warmup=steps // 10,
                                total_steps=steps, decay="linear")
    batches = mlm_batches(examples, batch_size, np.random.default_rng(seed), mask_id=tokenizer.mask_token_id,
                          pad_id=tokenizer.pad_token_id, vocab_size=tokenizer.vocab_size,
                          special_ids=tokenizer.all_special_ids, mlm_probability=mlm_probability)
    return fit(model, batches, steps, optimizer=opt, scheduler=sched, grad_clip=1.0, progress=progress, desc=desc)
