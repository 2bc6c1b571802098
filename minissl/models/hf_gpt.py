"""minissl's GPT as a Hugging Face GPT-2 directory, and back.

``gpt.py`` builds the GPT-2 architecture (pre-LN blocks, tanh-GELU MLP of width 4E,
attention scaled by 1/√d_head, LayerNorm eps 1e-5, learned positions, optionally a head
tied to the token embedding), so a model minissl trained is a ``GPT2LMHeadModel``
once its weights carry GPT-2's names and layout:

    minissl GPT                          GPT2LMHeadModel                       how
    wte.weight                           transformer.wte.weight                as is
    wpe.weight                           transformer.wpe.weight                as is
    h.N.attn_norm.{weight,bias}          transformer.h.N.ln_1.{weight,bias}    as is
    h.N.attn.{q,k,v}_proj.weight         transformer.h.N.attn.c_attn.weight    [q; k; v]ᵀ  (E, 3E)
    h.N.attn.{q,k,v}_proj.bias           transformer.h.N.attn.c_attn.bias      [q, k, v]   (3E,)
    h.N.attn.out_proj.{weight,bias}      transformer.h.N.attn.c_proj.*         weight ᵀ
    h.N.mlp_norm.{weight,bias}           transformer.h.N.ln_2.*                as is
    h.N.mlp.fc1.{weight,bias}            transformer.h.N.mlp.c_fc.*            weight ᵀ
    h.N.mlp.fc2.{weight,bias}            transformer.h.N.mlp.c_proj.*          weight ᵀ
    ln_f.{weight,bias}                   transformer.ln_f.*                    as is
    lm_head.weight                       lm_head.weight                        only when untied

GPT-2 computes its projections with ``Conv1D``, a linear layer whose weight is stored
(in, out), the transpose of ``nn.Linear``'s (out, in): hence the ᵀ. Its one attention
input projection ``c_attn`` is q, k and v side by side. A GPT built with ``bias=False``
is written with zero biases (GPT-2 always has them), which computes the same thing.
The config maps ``block_size`` -> ``n_positions``, ``dropout`` -> ``resid_pdrop``,
``embd_pdrop`` and ``attn_pdrop``, the MLP's GELU -> ``activation_function``
(``gelu_new`` = tanh approximation, ``gelu`` = exact), the LayerNorms' eps ->
``layer_norm_epsilon``, and the head -> ``tie_word_embeddings``.

    save_pretrained(model, dir)   config.json + model.safetensors, atomically; transformers'
                                  GPT2LMHeadModel.from_pretrained(dir) gives the same logits
    from_pretrained(dir)          a GPT-2 directory (this one's or Hugging Face's) -> GPT, in eval mode

``GPT.save_pretrained(dir)`` / ``GPT.from_pretrained(dir)`` call these.
Tests: ``tests/models/test_hf_export.py``.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from .. import io as msio
from .. import safetensors as st
from .. import nn
from ..backend import xp
from .config_check import read_json_object
from .gpt import GPT, GPTConfig

# the MLP's activation -> the name transformers' ACT2FN gives the same function
_ACTIVATIONS = {"gelu_pytorch_tanh": "gelu_new", "gelu_new": "gelu_new", "gelu": "gelu"}
_TRANSPOSED = ("attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")  # Conv1D: (in, out)
_BUFFERS = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers old GPT-2 files carry


def _same(values, what):
    values = set(values)
    if len(values) != 1:
        raise ValueError(f"this GPT's {what} differ between layers ({sorted(values)}), which GPT-2's config, "
                         "one value for the whole model, cannot express")
    return values.pop()


def to_hf_config(model: GPT) -> dict:
    """GPT2Config fields for ``model``, read from its modules (what it computes), not only its config."""
    c = model.config
    eps = _same((m.eps for m in model.modules() if isinstance(m, nn.LayerNorm)), "LayerNorm eps values")
    gelu = _same((b.mlp.activation for b in model.h), "MLP activations")
    if gelu not in _ACTIVATIONS:
        raise ValueError(f"activation {gelu!r} has no GPT-2 equivalent; GPT-2 uses {sorted(_ACTIVATIONS)}")
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": c.vocab_size, "n_positions": c.block_size, "n_embd": c.n_embd, "n_layer": c.n_layer,
            "n_head": c.n_head, "n_inner": None, "activation_function": _ACTIVATIONS[gelu],
            "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
            "layer_norm_epsilon": eps, "initializer_range": 0.02,
            "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
            "tie_word_embeddings": model.lm_head.weight is model.wte.weight,
            "bos_token_id": None, "eos_token_id": None}


def to_hf_state(model: GPT) -> dict:
    """minissl names and layout -> GPT-2's (the table above); backend arrays."""
    def a(p):
        return p.array

    def bias(linear):
        return linear.bias.array if linear.bias is not None else xp.zeros(linear.out_features, xp.float32)

    out = {"transformer.wte.weight": a(model.wte.weight), "transformer.wpe.weight": a(model.wpe.weight)}
    for i, b in enumerate(model.h):
        p, at = f"transformer.h.{i}.", b.attn
        qkv = (at.q_proj, at.k_proj, at.v_proj)
        out.update({
            p + "ln_1.weight": a(b.attn_norm.weight), p + "ln_1.bias": a(b.attn_norm.bias),
            p + "attn.c_attn.weight": xp.concatenate([a(m.weight) for m in qkv], axis=0).T,
            p + "attn.c_attn.bias": xp.concatenate([bias(m) for m in qkv]),
            p + "attn.c_proj.weight": a(at.out_proj.weight).T, p + "attn.c_proj.bias": bias(at.out_proj),
            p + "ln_2.weight": a(b.mlp_norm.weight), p + "ln_2.bias": a(b.mlp_norm.bias),
            p + "mlp.c_fc.weight": a(b.mlp.fc1.weight).T, p + "mlp.c_fc.bias": bias(b.mlp.fc1),
            p + "mlp.c_proj.weight": a(b.mlp.fc2.weight).T, p + "mlp.c_proj.bias": bias(b.mlp.fc2),
        })
    out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = a(model.ln_f.weight), a(model.ln_f.bias)
    if model.lm_head.weight is not model.wte.weight:
        out["lm_head.weight"] = a(model.lm_head.weight)
    return out


def save_pretrained(model: GPT, directory) -> None:
    """Write ``model`` as a ``GPT2LMHeadModel`` directory (``config.json`` +
    ``model.safetensors``), atomically: a failure leaves no half-written directory."""
    if not isinstance(model, GPT):
        raise TypeError(f"save_pretrained expects a minissl GPT, got {type(model).__name__}")
    config, state = to_hf_config(model), to_hf_state(model)

    def write(folder):
        st.save_safetensors(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        msio.write_atomic(os.path.join(folder, "config.json"), [json.dumps(config, indent=2).encode()])

    msio.write_directory_atomic(directory, write)


# ---------------------------------------------------------------------- import
def config_from_hf(cfg: dict, source=None) -> tuple[GPTConfig, str, float]:
    """A GPT-2 ``config.json`` dict -> ``(GPTConfig, activation, layer_norm_epsilon)``,
    refusing in one sentence what minissl's GPT does not compute."""
    where = f"{str(source)!r}: " if source is not None else ""
    if cfg.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{where}model_type={cfg.get('model_type')!r}; this reads GPT-2 directories only")
    n_embd = cfg.get("n_embd", 768)
    refuse = {"n_inner": (cfg.get("n_inner") not in (None, 4 * n_embd), "an MLP width other than 4·n_embd"),
              "scale_attn_weights": (not cfg.get("scale_attn_weights", True), "unscaled attention scores"),
              "scale_attn_by_inverse_layer_idx": (cfg.get("scale_attn_by_inverse_layer_idx", False),
                                                  "scores scaled by 1/layer"),
              "add_cross_attention": (cfg.get("add_cross_attention", False), "cross-attention")}
    for key, (bad, what) in refuse.items():
        if bad:
            raise ValueError(f"{where}{key}={cfg[key]!r} asks for {what}, which minissl's GPT does not compute")
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu"):
        raise ValueError(f"{where}activation_function={act!r} is not available; minissl's GPT has "
                         "gelu_new/gelu_pytorch_tanh (tanh GELU) and gelu (exact)")
    drops = {cfg.get(k, 0.1) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
    if len(drops) > 1:
        warnings.warn(f"{where}minissl's GPT has one dropout rate; using resid_pdrop={cfg.get('resid_pdrop', 0.1)} "
                      f"for all three ({sorted(drops)})", stacklevel=3)
    try:
        config = GPTConfig(vocab_size=cfg.get("vocab_size", 50257), block_size=cfg.get("n_positions", 1024),
                           n_layer=cfg.get("n_layer", 12), n_head=cfg.get("n_head", 12), n_embd=n_embd,
                           dropout=cfg.get("resid_pdrop", 0.1), bias=True,
                           tie_weights=bool(cfg.get("tie_word_embeddings", True)))
    except ValueError as e:
        raise ValueError(f"{where}{e}") from None
    return config, act, float(cfg.get("layer_norm_epsilon", 1e-5))


def from_hf_state(model: GPT, state: dict, source="") -> None:
    """Load GPT-2 names and layout (with or without the ``transformer.`` prefix) into
    ``model``, all or nothing: every weight present with the right shape, or one error."""
    state = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in state.items()
             if not k.endswith(_BUFFERS)}
    E, own = model.config.n_embd, model.state_dict()
    mine = {"wte.weight": "wte.weight", "wpe.weight": "wpe.weight",
            "ln_f.weight": "ln_f.weight", "ln_f.bias": "ln_f.bias"}
    for i in range(model.config.n_layer):
        for hf, ms in (("ln_1", "attn_norm"), ("ln_2", "mlp_norm"), ("attn.c_proj", "attn.out_proj"),
                       ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            mine[f"h.{i}.{hf}.weight"], mine[f"h.{i}.{hf}.bias"] = f"h.{i}.{ms}.weight", f"h.{i}.{ms}.bias"
    if not model.config.tie_weights:
        mine["lm_head.weight"] = "lm_head.weight"
    qkv = {f"h.{i}.attn.c_attn.{p}": i for i in range(model.config.n_layer) for p in ("weight", "bias")}
    extra = [k for k in state if k not in mine and k not in qkv and k != "lm_head.weight"]
    problems = [f"{k}: missing" for k in list(mine) + list(qkv) if k not in state]
    problems += [f"{k}: not part of a GPT of this config" for k in extra]
    new = {}
    for hf, ms in mine.items():
        if hf in state:
            w = state[hf].T if hf.endswith(_TRANSPOSED) else state[hf]
            new[ms] = w
    for hf, i in qkv.items():
        if hf in state:
            w = state[hf].T if hf.endswith("weight") else state[hf]  # (3E, E) or (3E,)
            for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
                new[f"h.{i}.attn.{name}.{hf.rsplit('.', 1)[1]}"] = w[j * E:(j + 1) * E]
    problems += [f"{k}: shape {tuple(v.shape)}, the model's is {tuple(own[k].shape)}"
                 for k, v in new.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if problems:
        raise RuntimeError(f"cannot load {str(source)!r} into a GPT (nothing was changed):\n  " + "\n  ".join(problems))
    model.load_state_dict({k: xp.ascontiguousarray(xp.asarray(v, dtype=xp.float32)) for k, v in new.items()},
                          strict=False)


def from_pretrained(directory) -> GPT:
    """Build a GPT from a GPT-2 directory (``config.json`` + ``model.safetensors``), in eval mode."""
    directory = Path(directory)
    config_path, weights = directory / "config.json", directory / "model.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"no model.safetensors in {str(directory)!r}")
    config, act, eps = config_from_hf(read_json_object(config_path), source=config_path)
    header = st.read_safetensors_header(weights)  # sizes checked before a model is allocated
    for name, want in (("wte.weight", (config.vocab_size, config.n_embd)),
                       ("wpe.weight", (config.block_size, config.n_embd))):
        got = next((tuple(s) for k, (_, s) in header.items() if k in (name, "transformer." + name)), None)
        if got is not None and got != want:
            raise ValueError(f"{str(config_path)!r} asks for {name} of shape {want}, {str(weights)!r} has {got}")
    model = GPT(config)
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.eps = eps
    for b in model.h:
        b.mlp.activation = act
    from_hf_state(model, st.read_safetensors(weights), source=weights)
    model.eval()
    return model
