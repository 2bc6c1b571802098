"""Writing minissl models as Hugging Face directories (hf_bert.save_pretrained, hf_gpt).

Small seeded models, every parameter (biases and LayerNorm gains included) drawn at
random so that a swapped or transposed tensor shows, are saved, loaded by
transformers' own classes and run on the same ids; outputs must agree to 1e-5 (max abs
difference, float32; the measured value is in each assertion message, and printed with
``pytest -s``). Without torch/transformers those tests skip; the round trips through
minissl's own loaders, the refusals and the atomic write run everywhere.
"""
import json
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only: nothing may be downloaded

from minissl.backend import xp  # noqa: E402
from minissl.safetensors import read_safetensors  # noqa: E402
from minissl.models import hf_bert, hf_gpt  # noqa: E402
from minissl.models.bert import (BertConfig, BertForPreTraining, BertModel)  # noqa: E402
from minissl.models.bert_heads import BertForSequenceClassification  # noqa: E402
from minissl.models.gpt import GPT, GPTConfig  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest runs in importlib mode
from test_hf_bert import hf_weights  # noqa: E402  (HF's names, written out from its modeling code)

TOL = 1e-5
BERT = dict(vocab_size=53, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=24, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
GPT_CFG = dict(vocab_size=61, block_size=20, n_layer=2, n_head=4, n_embd=32, dropout=0.1)


def randomize(model, seed=0):
    """Every parameter random (LayerNorm gains near 1), so no mapping error hides behind a 0 or a 1."""
    r = np.random.default_rng(seed)
    gains = ("LayerNorm.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight")
    for name, p in model.named_parameters():
        v = r.standard_normal(p.shape).astype(np.float32) * (0.1 if p.ndim == 1 else 0.2)
        p.array[...] = xp.asarray(v + 1 if name.endswith(gains) else v)
    return model.eval()


def batch(vocab, B=3, T=11, seed=1):
    """Ids and an attention mask with padding (row 1 ends early, row 2 earlier)."""
    r = np.random.default_rng(seed)
    ids = r.integers(1, vocab, (B, T)).astype(np.int64)
    mask = np.ones((B, T), np.int64)
    mask[1, 7:], mask[2, 4:] = 0, 0
    ids[mask == 0] = 0
    types = np.zeros((B, T), np.int64)
    types[:, T // 2:] = 1
    return ids, mask, types


def maxdiff(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@pytest.fixture
def hf():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    return torch, transformers


def hf_load(cls, d):
    model, info = cls.from_pretrained(str(d), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info  # every weight came from our file
    return model


# ---------------------------------------------------------------------- BERT vs transformers
def test_bert_model_matches_transformers(tmp_path, hf):
    torch, transformers = hf
    m = randomize(BertModel(BertConfig(**BERT)))
    m.save_pretrained(tmp_path / "bert", format="hf")
    theirs = hf_load(transformers.AutoModel, tmp_path / "bert")
    assert type(theirs).__name__ == "BertModel" and not theirs.training
    ids, mask, types = batch(BERT["vocab_size"])
    ours = m(ids, mask, types)
    with torch.no_grad():
        ref = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                     token_type_ids=torch.tensor(types))
    d_seq = maxdiff(ours.last_hidden_state.numpy(), ref.last_hidden_state.numpy())
    d_pool = maxdiff(ours.pooler_output.numpy(), ref.pooler_output.numpy())
    print(f"\nBERT vs transformers: last_hidden_state max abs diff {d_seq:.3g}, pooler {d_pool:.3g}")
    assert d_seq < TOL, f"last_hidden_state max abs diff vs transformers: {d_seq:.3g}"
    assert d_pool < TOL, f"pooler_output max abs diff vs transformers: {d_pool:.3g}"


def test_bert_heads_match_transformers(tmp_path, hf):
    torch, transformers = hf
    ids, mask, types = batch(BERT["vocab_size"])
    t = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    pt = randomize(BertForPreTraining(BertConfig(**BERT)), seed=2)
    hf_bert.save_pretrained(pt, tmp_path / "pt")
    theirs = hf_load(transformers.BertForPreTraining, tmp_path / "pt").eval()
    ours = pt(ids, mask, types)
    with torch.no_grad():
        ref = theirs(**t)
    d_mlm = maxdiff(ours.prediction_logits.numpy(), ref.prediction_logits.numpy())
    d_sop = maxdiff(ours.seq_relationship_logits.numpy(), ref.seq_relationship_logits.numpy())
    assert d_mlm < TOL, f"MLM logits max abs diff vs transformers: {d_mlm:.3g}"
    assert d_sop < TOL, f"NSP/SOP logits max abs diff vs transformers: {d_sop:.3g}"

    sc = randomize(BertForSequenceClassification(BertConfig(**BERT), num_labels=3), seed=3)
    hf_bert.save_pretrained(sc, tmp_path / "sc")
    theirs = hf_load(transformers.AutoModelForSequenceClassification, tmp_path / "sc")
    assert theirs.config.num_labels == 3
    with torch.no_grad():
        d = maxdiff(sc(ids, mask, types).logits.numpy(), theirs(**t).logits.numpy())
    print(f"\nBERT heads vs transformers: MLM {d_mlm:.3g}, NSP {d_sop:.3g}, classifier {d:.3g}")
    assert d < TOL, f"classifier logits max abs diff vs transformers: {d:.3g}"


# ---------------------------------------------------------------------- GPT vs transformers
@pytest.mark.parametrize("tie,bias", [(True, True), (False, True), (True, False)])
def test_gpt_matches_transformers(tmp_path, hf, tie, bias):
    torch, transformers = hf
    m = randomize(GPT(GPTConfig(**GPT_CFG, tie_weights=tie, bias=bias)), seed=4)
    m.save_pretrained(tmp_path / "gpt")
    theirs = hf_load(transformers.GPT2LMHeadModel, tmp_path / "gpt")
    assert not theirs.training
    assert (theirs.lm_head.weight is theirs.transformer.wte.weight) == tie
    ids, _, _ = batch(GPT_CFG["vocab_size"], T=GPT_CFG["block_size"])
    with torch.no_grad():
        ref = theirs(torch.tensor(ids)).logits.numpy()
    d = maxdiff(m(ids).logits.numpy(), ref)
    print(f"\nGPT (tie={tie}, bias={bias}) vs transformers: logits max abs diff {d:.3g}")
    assert d < TOL, f"GPT logits max abs diff vs transformers: {d:.3g}"


def test_eval_turns_dropout_off(tmp_path, hf):
    """transformers' from_pretrained returns an eval-mode model; minissl's forward agrees
    with it only once model.eval() has switched dropout off."""
    torch, transformers = hf
    m = randomize(GPT(GPTConfig(**GPT_CFG)), seed=5).train()
    m.save_pretrained(tmp_path / "gpt")
    assert m.training  # saving does not change the mode
    theirs = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path / "gpt"))
    ids, _, _ = batch(GPT_CFG["vocab_size"])
    with torch.no_grad():
        ref = theirs(torch.tensor(ids)).logits.numpy()
    d_train = maxdiff(m(ids).logits.numpy(), ref)
    d_eval = maxdiff(m.eval()(ids).logits.numpy(), ref)
    assert d_train > 1e-2, f"dropout 0.1 in train mode should change the logits, max abs diff {d_train:.3g}"
    assert d_eval < TOL, f"in eval mode the logits should agree, max abs diff {d_eval:.3g}"


# ---------------------------------------------------------------------- round trips (no torch needed)
def test_bert_round_trip_through_minissl(tmp_path):
    ids, mask, types = batch(BERT["vocab_size"])
    for cls in (BertModel, BertForPreTraining):
        m = randomize(cls(BertConfig(**BERT)))
        hf_bert.save_pretrained(m, tmp_path / cls.__name__)
        back = cls.from_pretrained(tmp_path / cls.__name__)
        assert back.config == m.config and not back.training
        a, b = m(ids, mask, types), back(ids, mask, types)
        if cls is BertModel:
            assert np.array_equal(a.last_hidden_state.numpy(), b.last_hidden_state.numpy())
            assert np.array_equal(a.pooler_output.numpy(), b.pooler_output.numpy())
        else:
            assert np.array_equal(a.prediction_logits.numpy(), b.prediction_logits.numpy())
    # the names are Hugging Face's, as its modeling code spells them (tied decoder and buffers left out)
    names = set(read_safetensors(tmp_path / "BertForPreTraining" / "model.safetensors"))
    want = {k for k in hf_weights(dict(BERT, type_vocab_size=2), heads=True) if not k.endswith(("position_ids", "decoder.weight"))}
    assert names == want


def test_bert_config_json_is_hugging_faces(tmp_path):
    m = BertModel(BertConfig(**BERT, hidden_act="gelu_new", layer_norm_eps=1e-7))
    hf_bert.save_pretrained(m, tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["architectures"] == ["BertModel"]
    assert cfg["hidden_act"] == "gelu_new" and cfg["layer_norm_eps"] == 1e-7 and cfg["pad_token_id"] == 0
    assert {k: cfg[k] for k in BERT} == BERT
    assert "minissl_class" not in cfg  # so from_pretrained reads it as a Hugging Face directory


def test_gpt_round_trip_through_minissl(tmp_path):
    ids, _, _ = batch(GPT_CFG["vocab_size"])
    for tie in (True, False):
        m = randomize(GPT(GPTConfig(**GPT_CFG, tie_weights=tie)), seed=6)
        m.save_pretrained(tmp_path / str(tie))
        back = GPT.from_pretrained(tmp_path / str(tie))
        assert back.config == m.config and not back.training
        assert (back.lm_head.weight is back.wte.weight) == tie
        assert np.array_equal(m(ids).logits.numpy(), back(ids).logits.numpy())


def test_gpt_conv1d_layout(tmp_path):
    """GPT-2's Conv1D computes x @ W + b with W (in, out); c_attn's output is [q, k, v]."""
    m = randomize(GPT(GPTConfig(**GPT_CFG)), seed=7)
    m.save_pretrained(tmp_path / "g")
    w = read_safetensors(tmp_path / "g" / "model.safetensors")
    assert "lm_head.weight" not in w  # tied: transformers re-ties it to wte
    x = np.random.default_rng(0).standard_normal((5, GPT_CFG["n_embd"])).astype(np.float32)
    qkv = x @ w["transformer.h.1.attn.c_attn.weight"] + w["transformer.h.1.attn.c_attn.bias"]
    at = m.h[1].attn
    want = np.concatenate([p(xp.asarray(x)).numpy() for p in (at.q_proj, at.k_proj, at.v_proj)], axis=1)
    assert np.allclose(qkv, want, atol=1e-5)
    fc = x @ w["transformer.h.0.mlp.c_fc.weight"] + w["transformer.h.0.mlp.c_fc.bias"]
    assert np.allclose(fc, m.h[0].mlp.fc1(xp.asarray(x)).numpy(), atol=1e-5)
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    assert cfg["activation_function"] == "gelu_new" and cfg["layer_norm_epsilon"] == 1e-5
    assert cfg["n_positions"] == GPT_CFG["block_size"] and cfg["tie_word_embeddings"] is True


def test_gpt_exact_gelu_and_eps_travel(tmp_path):
    """What the modules compute is written, not only what GPTConfig says."""
    m = randomize(GPT(GPTConfig(**GPT_CFG)), seed=8)
    for b in m.h:
        b.mlp.activation = "gelu"
    for mod in m.modules():
        if hasattr(mod, "eps"):
            mod.eps = 1e-6
    m.save_pretrained(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    assert cfg["activation_function"] == "gelu" and cfg["layer_norm_epsilon"] == 1e-6
    back = GPT.from_pretrained(tmp_path / "g")
    ids, _, _ = batch(GPT_CFG["vocab_size"])
    assert np.array_equal(m(ids).logits.numpy(), back(ids).logits.numpy())


# ---------------------------------------------------------------------- refusals and atomicity
@pytest.mark.parametrize("override,words", [({"norm_first": True}, "norm_first=True"),
                                            ({"position_embedding_type": "sinusoidal"}, "sinusoidal")])
def test_bert_refuses_what_hf_cannot_express(tmp_path, override, words):
    m = BertModel(BertConfig(**BERT, **override))
    with pytest.raises(ValueError, match=words) as e:
        m.save_pretrained(tmp_path / "x", format="hf")
    assert "cannot express" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()


def test_gpt_refuses_mixed_layer_norm_eps(tmp_path):
    m = GPT(GPTConfig(**GPT_CFG))
    m.h[0].attn_norm.eps = 1e-6
    with pytest.raises(ValueError, match="LayerNorm eps values differ between layers.*cannot express"):
        m.save_pretrained(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format must be 'minissl' or 'hf'"):
        BertModel(BertConfig(**BERT)).save_pretrained(tmp_path / "x", format="torch")


def test_failed_save_leaves_nothing_half_written(tmp_path, monkeypatch):
    m = BertModel(BertConfig(**BERT))
    real = hf_bert.msio.write_atomic

    def fail_on_config(path, parts):
        if str(path).endswith("config.json"):
            raise OSError("disk full")
        return real(path, parts)

    monkeypatch.setattr(hf_bert.msio, "write_atomic", fail_on_config)
    with pytest.raises(OSError, match="disk full"):
        hf_bert.save_pretrained(m, tmp_path / "new")
    assert os.listdir(tmp_path) == []  # no target, no temporary folder

    monkeypatch.setattr(hf_bert.msio, "write_atomic", real)
    hf_bert.save_pretrained(m, tmp_path / "old")
    before = {n: (tmp_path / "old" / n).read_bytes() for n in os.listdir(tmp_path / "old")}
    randomize(m, seed=9)
    monkeypatch.setattr(hf_bert.msio, "write_atomic", fail_on_config)
    with pytest.raises(OSError, match="disk full"):
        hf_bert.save_pretrained(m, tmp_path / "old")
    assert {n: (tmp_path / "old" / n).read_bytes() for n in os.listdir(tmp_path / "old")} == before
    assert os.listdir(tmp_path) == ["old"]


def test_save_into_existing_folder_keeps_other_files(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "vocab.txt").write_text("[PAD]\n")
    m = randomize(BertModel(BertConfig(**BERT)))
    hf_bert.save_pretrained(m, d)
    assert sorted(os.listdir(d)) == ["config.json", "model.safetensors", "vocab.txt"]
    ids, mask, types = batch(BERT["vocab_size"])
    assert np.array_equal(BertModel.from_pretrained(d)(ids, mask, types).last_hidden_state.numpy(),
                          m(ids, mask, types).last_hidden_state.numpy())
