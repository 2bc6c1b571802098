"""GPT: a decoder-only Transformer trained to predict the next token.

Lecture idea: unlike BERT, which fills in blanks, GPT reads a text left to
right and at every position predicts the token that comes next. The one
formula that matters is the training loss, cross-entropy of the next token::

    L = -(1/T) Σ_t log p(x_{t+1} | x_1, ..., x_t)

A causal mask lets position t attend only to positions ≤ t, so one forward
pass over T tokens gives all T predictions at once. Because the model is a
next-token distribution it can *generate*: sample a token, append it, repeat.
Trained on many tasks written as text, it can also pick up a new task from a
few demonstrations in the prompt, with no gradient step (few-shot learning).

Shapes: ids (B, T) int -> token + position embeddings (B, T, E) -> n_layer
pre-LN blocks -> final LayerNorm -> logits (B, T, V), the output matrix tied
to the token embedding (V, E). A block (GPT-2; minissl's one
:class:`~minissl.nn.TransformerBlock` with ``norm_first=True``)::

    x = x + attn(attn_norm(x))       causal multi-head self-attention
    x = x + mlp(mlp_norm(x))         Linear(E, 4E) -> GELU -> Linear(4E, E)

Generation keeps, per layer, the keys and values of the tokens already seen
(a KV cache), so each new token costs one position, not the whole prefix.

``GPT.save_pretrained(dir)`` writes a Hugging Face GPT-2 directory that
``transformers.GPT2LMHeadModel`` loads (``hf_gpt.py``).

Demos: ``demos/gpt_text.py`` (character-level language model, bits per
character), ``demos/gpt_sort.py`` (learning an algorithm),
``demos/gpt_incontext.py`` (accuracy rises with the number of demonstrations).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields


from .. import backend, io, nn
from .. import ops as F
from ..backend import xp
from ..tensor import as_array, no_grad
from ..train import fit, make_optimizer, save_checkpoint  # noqa: F401 - save_checkpoint: GPT checkpoints
from .config_check import check_fields
from .outputs import CausalLMOutput


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128      # longest context (number of learned positions)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True   # output head shares the token-embedding matrix

    # What a config may hold (config_check.py); sizes bounded so a bad file cannot ask for a huge model.
    RULES = {"vocab_size": ("int", 1, 10_000_000), "block_size": ("int", 1, 1_000_000),
             "n_layer": ("int", 1, 1000), "n_head": ("int", 1, 65_536), "n_embd": ("int", 1, 65_536),
             "dropout": ("prob",), "bias": ("bool",), "tie_weights": ("bool",)}

    def __post_init__(self):
        check_fields(self, self.RULES)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    PRESETS = {  # name -> (n_layer, n_head, n_embd, block_size)
        "nano": (2, 2, 64, 64),
        "micro": (4, 4, 128, 128),
        "mini": (6, 6, 192, 256),
    }

    @classmethod
    def preset(cls, name: str, vocab_size: int, **overrides):
        if name not in cls.PRESETS:
            raise ValueError(f"unknown GPT preset {name!r}; choose one of {sorted(cls.PRESETS)}")
        n_layer, n_head, n_embd, block = cls.PRESETS[name]
        kw = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block)
        kw.update(overrides)
        return cls(vocab_size=vocab_size, **kw)


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd ({cfg.n_embd}) must be divisible by n_head ({cfg.n_head})")
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        # GPT-2's block is the shared one: pre-norm, LayerNorm, tanh-GELU MLP 4x wide
        self.h = nn.ModuleList(nn.TransformerBlock(cfg.n_embd, cfg.n_head, 4 * cfg.n_embd, cfg.dropout,
                                                   "gelu_pytorch_tanh", norm_first=True, eps=1e-5, bias=cfg.bias)
                               for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self._init_weights()
        if cfg.tie_weights:  # one Parameter used twice: its gradient is the sum of both uses
            self.lm_head.weight = self.wte.weight

    def _init_weights(self):
        # GPT-2: every weight N(0, 0.02), biases 0. The projections that write
        # into the residual stream get std 0.02/sqrt(2·n_layer): 2·n_layer of
        # them add up, and this keeps the stream's variance from growing with depth.
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.array[...] = 0
            elif p.ndim == 2:
                std = resid_std if name.endswith(("attn.out_proj.weight", "mlp.fc2.weight")) else 0.02
                p.array[...] = backend.rng().standard_normal(p.shape, dtype=xp.float32) * std

    # ------------------------------------------------------------------ Hugging Face
    def save_pretrained(self, directory):
        """Write a Hugging Face ``GPT2LMHeadModel`` directory (``hf_gpt.py``)."""
        from .hf_gpt import save_pretrained
        save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory):
        """Read a GPT-2 directory (written by ``save_pretrained`` or by transformers)."""
        from .hf_gpt import from_pretrained
        return from_pretrained(directory)

    # ------------------------------------------------------------------ forward
    def new_cache(self):
        """An empty KV cache: one dict per block, filled by ``forward(..., cache=...)``."""
        return [dict() for _ in self.h]

    def features(self, idx, cache=None):
        """Final-LayerNorm hidden states (B, T, E) for token ids (B, T).

        With ``cache`` the ids are the *new* tokens, placed after those already cached.
        """
        ids = as_array(idx)
        if ids.ndim != 2:
            raise ValueError(f"GPT expects token ids of shape (batch, time), got {tuple(ids.shape)}")
        past = nn.cache_length(cache[0].get("self")) if cache else 0
        T = ids.shape[1]
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of {past + T} tokens is longer than block_size={self.config.block_size}; "
                             "crop the context (generate() does) or build the model with a larger block_size")
        pos = xp.arange(past, past + T)[None, :]
        x = self.drop(self.wte(ids) + self.wpe(pos))
        for i, block in enumerate(self.h):
            x = block(x, is_causal=True, cache=None if cache is None else cache[i])[0]
        return self.ln_f(x)

    def forward(self, idx, targets=None, cache=None):
        """Logits (B, T, V), and the mean next-token loss if ``targets`` (B, T) is given
        (entries equal to -100 are ignored). Returns a :class:`CausalLMOutput` (``.logits``,
        ``.loss``); ``targets`` are already shifted (y[t] = x[t+1]), as in minGPT."""
        logits = self.lm_head(self.features(idx, cache))
        if targets is None:
            return CausalLMOutput(logits)
        t = as_array(targets)
        return CausalLMOutput(logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1)))

    # ------------------------------------------------------------------ generation
    @no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, do_sample: bool = True, use_cache: bool = True, rng=None):
        """Append ``max_new_tokens`` tokens to ids (B, T); returns a NumPy int64 array (B, T + new).

        ``do_sample=False`` (or ``temperature=0``) is greedy decoding. Sampling divides the
        logits by ``temperature``, then keeps the ``top_k`` most likely tokens and/or the
        smallest set whose probability reaches ``top_p`` (nucleus sampling). Draws come
        from ``rng`` (a backend Generator; default minissl's seeded one, ``backend.rng()``).
        With ``use_cache`` the keys/values of past tokens are kept, so each step runs the
        model on one token; once the context is longer than block_size the window slides,
        the learned positions shift, and the cache is rebuilt from the cropped window.
        """
        was_training = self.training
        self.eval()
        out = as_array(idx, xp.int64)
        if out.ndim == 1:
            out = out[None, :]
        block, cache, step_ids = self.config.block_size, None, None
        for _ in range(max_new_tokens):
            if use_cache and cache is not None and out.shape[1] <= block:
                h = self.features(step_ids, cache)  # one new token per row
            else:
                cache = self.new_cache() if use_cache else None
                h = self.features(out[:, -block:], cache)
            logits = self.lm_head(h[:, -1]).array.astype(xp.float64)
            nxt = sample_next(logits, temperature, top_k, top_p, do_sample, rng)
            out = xp.concatenate([out, nxt[:, None]], axis=1)
            step_ids = nxt[:, None]
        self.train(was_training)
        return backend.to_numpy(out)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, do_sample=True, rng=None):
    """One next token per row of ``logits`` (B, V), on the backend; returns int64 ids (B,)."""
    logits = xp.asarray(logits)
    if not do_sample or temperature == 0:
        return logits.argmax(axis=-1).astype(xp.int64)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    z = logits / temperature
    if top_k is not None:
        k = min(int(top_k), z.shape[-1])
        kth = xp.sort(z, axis=-1)[:, -k][:, None]
        z = xp.where(z < kth, -xp.inf, z)
    p = xp.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        order = xp.argsort(-p, axis=-1, kind="stable")
        sp = xp.take_along_axis(p, order, axis=-1)
        # keep a token if the tokens ranked above it have not yet reached top_p (the first always stays)
        keep_sorted = (xp.cumsum(sp, axis=-1) - sp) < top_p
        keep = xp.take_along_axis(keep_sorted, xp.argsort(order, axis=-1), axis=-1)  # back to vocabulary order
        p = xp.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    rng = backend.rng() if rng is None else rng
    u = xp.asarray(rng.random((p.shape[0], 1)))  # a host (NumPy) generator works too
    return xp.minimum((xp.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1).astype(xp.int64)


# ---------------------------------------------------------------------- training
@no_grad()
def evaluate_lm(model, batches):
    """Mean next-token loss (nats per predicted token) over ``batches`` of (x, y); bits = nats / ln 2."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        y = xp.asarray(y)
        loss = model(xp.asarray(x), y).loss
        n = int((y != -100).sum())
        total, count = total + float(loss.item()) * n, count + n
    model.train(was_training)
    return total / max(count, 1)


@no_grad()
def window_losses(model, batches):
    """Mean next-token loss (nats) of every window (row) of ``batches`` of (x, y) with no ignored
    targets: a NumPy array (number of windows,) whose mean, for equal windows, is ``evaluate_lm``'s.
    One value a window, so an interval over held-out windows can be bootstrapped.
    Per token: -log softmax(logits)[y] = logsumexp(logits) - logits[y]."""
    was_training = model.training
    model.eval()
    out = []
    for x, y in batches:
        logits = as_array(model(xp.asarray(x)).logits)  # (B, T, V)
        top = logits.max(axis=-1, keepdims=True)
        logz = top[..., 0] + xp.log(xp.exp(logits - top).sum(axis=-1))
        picked = xp.take_along_axis(logits, xp.asarray(y)[..., None], axis=-1)[..., 0]
        out.append(backend.to_numpy((logz - picked).mean(axis=-1)))
    model.train(was_training)
    return backend.numpy.concatenate(out)


def ngram_token_losses(train, x, y, vocab_size: int):
    """The two cheap language-model baselines, counted on the token ids ``train`` and scored on
    predicting each ``y`` from the token ``x`` before it: per-token nats (unigram, bigram), arrays
    of ``y``'s shape. Unigram: add-one counts, so an unseen token is not infinitely surprising.
    Bigram: p(b | a) interpolated with the unigram by Witten-Bell, trusting a's bigram counts in
    proportion c(a) / (c(a) + N(a)), N(a) the number of different tokens seen after a; no
    parameter, so nothing is fitted on the scored text."""
    np_, V = backend.numpy, vocab_size
    train, x, y = (np_.asarray(a) for a in (train, x, y))
    uni = (np_.bincount(train, minlength=V) + 1) / (len(train) + V)
    codes, counts = np_.unique(train[:-1] * V + train[1:], return_counts=True)  # every bigram a->b, as a*V + b
    seen = np_.bincount(train[:-1], minlength=V)           # c(a): how often a is followed by anything
    followers = np_.bincount(codes // V, minlength=V)      # N(a): how many different tokens follow a
    q = x * V + y
    at = np_.minimum(np_.searchsorted(codes, q), len(codes) - 1)
    c_ab = np_.where(codes[at] == q, counts[at], 0)
    p_bi = np_.where(seen[x] > 0, (c_ab + followers[x] * uni[y]) / np_.maximum(seen[x] + followers[x], 1), uni[y])
    return -np_.log(uni[y]), -np_.log(p_bi)


def lm_loss(model, batch):
    """Mean next-token loss of a batch ``(x, y)`` of int arrays (B, T); targets -100 are ignored."""
    x, y = batch
    return model(xp.asarray(x), xp.asarray(y)).loss


def train_lm(model, get_batch, steps: int, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), warmup=None,
             grad_clip=1.0, eval_fn=None, eval_every=None, checkpoint=None, progress=True, desc="train"):
    """GPT-2's recipe on :func:`minissl.train.fit`: ``get_batch(step) -> (x, y)`` int arrays (B, T).

    AdamW (decay on matrices only), linear warm-up over ``warmup`` steps (default 5% of
    them), cosine decay to 0.1·lr, gradient norm clipped at ``grad_clip``. ``eval_fn(model)``
    (e.g. :func:`evaluate_lm` on validation batches) runs every ``eval_every`` steps and at
    the end; ``checkpoint`` (a path) is saved after each evaluation. Returns fit's history:
    ``step``, ``loss``, ``lr`` per step, ``eval_step``, ``eval`` per evaluation.
    """
    warmup = max(1, steps // 20) if warmup is None else warmup
    opt, sched = make_optimizer(model, lr, weight_decay, betas, warmup, steps)
    return fit(model, get_batch, steps, loss_fn=lm_loss, optimizer=opt, scheduler=sched, grad_clip=grad_clip,
               eval_fn=eval_fn, eval_every=eval_every, checkpoint=checkpoint, progress=progress, desc=desc)


def load_checkpoint(path):
    """Rebuild the GPT saved by :func:`minissl.train.save_checkpoint`; returns ``(model, checkpoint dict)``.

    The config is checked field by field, and against the saved weights' shapes,
    before the model is built: a config claiming 2,000 layers over a 2-layer file
    stops here, in one sentence, instead of building a huge model first."""
    ckpt = io.load(path)
    where = f"GPT checkpoint {str(path)!r}"
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{str(path)!r} is not a GPT checkpoint (no 'config'/'model'); write it with "
                         "save_checkpoint")
    cfg, weights = ckpt["config"], ckpt["model"]
    if not isinstance(cfg, dict) or not isinstance(weights, dict):
        raise ValueError(f"{where}: 'config' and 'model' must be dicts, got a {type(cfg).__name__} and a "
                         f"{type(weights).__name__}")
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        raise ValueError(f"{where}: unknown config field(s) {', '.join(unknown)}; GPTConfig has "
                         f"{', '.join(sorted(known))}")
    try:
        config = GPTConfig(**cfg)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    _check_weights_match(config, weights, where)
    model = GPT(config)
    model.load_state_dict(weights)
    return model, ckpt


def _check_weights_match(cfg: GPTConfig, weights: dict, where: str) -> None:
    """The sizes the config claims against the saved tensors' shapes (nothing is allocated)."""
    expect = {"wte.weight": ("vocab_size", (cfg.vocab_size, cfg.n_embd)),
              "wpe.weight": ("block_size", (cfg.block_size, cfg.n_embd))}
    for key, (field, want) in expect.items():
        if key in weights and tuple(weights[key].shape) != want:
            raise ValueError(f"{where}: config says {field}={getattr(cfg, field)}, n_embd={cfg.n_embd}, so {key} "
                             f"should be {want}, but it is {tuple(weights[key].shape)}")
    layers = {int(k.split(".")[1]) for k in weights if isinstance(k, str) and k.startswith("h.")
              and k.split(".")[1].isdigit()}
    if layers and max(layers) + 1 != cfg.n_layer:
        found = max(layers) + 1
        gap = f"no h.{found}.* weights" if found < cfg.n_layer else f"h.{cfg.n_layer}.* has no place"
        raise ValueError(f"{where}: config says n_layer={cfg.n_layer}, but the weights hold {found} layers ({gap})")
