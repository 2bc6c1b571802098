"""Model configs from files are checked field by field before a model is built:
``BertModel.from_pretrained`` (Hugging Face and minissl directories) and
``gpt.load_checkpoint``. A bad value is refused in one sentence naming the file and
the field; a config that disagrees with the weights' shapes is refused from the
safetensors header, before the (possibly huge) model is allocated."""
import json

import numpy as np
import pytest

import minissl as ms
from minissl.safetensors import save_safetensors
from minissl.models import bert as bert_mod
from minissl.models import gpt as gpt_mod
from minissl.models.bert import BertConfig, BertModel
from minissl.models.hf_bert import to_hf_name

CFG = dict(model_type="bert", vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
           intermediate_size=12, max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12,
           hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, pad_token_id=0, initializer_range=0.02)


@pytest.fixture(scope="module")
def weights():
    ms.manual_seed(0)
    return {to_hf_name(k): v.numpy() for k, v in BertModel(BertConfig(**{k: v for k, v in CFG.items() if k != "model_type"}))
            .state_dict().items()}


def hf_dir(tmp_path, weights, config_text):
    d = tmp_path / "hf"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_bytes(config_text if isinstance(config_text, bytes) else config_text.encode())
    save_safetensors(weights, d / "model.safetensors")
    return d


@pytest.fixture
def no_build(monkeypatch):
    """Fail the test if a model is built: validation must come first."""
    def refuse(*a, **k):
        raise AssertionError("a model was built before the config was validated")
    monkeypatch.setattr(bert_mod.BertModel, "__init__", refuse)
    monkeypatch.setattr(gpt_mod.GPT, "__init__", refuse)


BAD_FIELDS = [
    ("num_attention_heads", 0), ("num_attention_heads", -1), ("num_attention_heads", "2"),
    ("num_attention_heads", 3),  # 8 is not divisible by 3
    ("vocab_size", 0), ("vocab_size", -1), ("vocab_size", "8"), ("vocab_size", True), ("vocab_size", 20.0),
    ("vocab_size", 10 ** 7 + 1), ("hidden_size", -8), ("hidden_size", "8"), ("hidden_size", None),
    ("intermediate_size", 0), ("num_hidden_layers", 0), ("num_hidden_layers", 1001),
    ("max_position_embeddings", 10 ** 6 + 1), ("max_position_embeddings", 0), ("type_vocab_size", 0),
    ("layer_norm_eps", -1e-12), ("layer_norm_eps", 0), ("layer_norm_eps", "1e-12"), ("layer_norm_eps", float("nan")),
    ("hidden_dropout_prob", 2.0), ("hidden_dropout_prob", -0.1), ("hidden_dropout_prob", 1.0),
    ("attention_probs_dropout_prob", "0.1"), ("initializer_range", -0.02), ("pad_token_id", 20),
    ("pad_token_id", -1), ("hidden_act", ["gelu"]), ("position_embedding_type", 3),
]


@pytest.mark.parametrize("field, value", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_bad_hf_config_field_is_refused_before_building(tmp_path, weights, no_build, field, value):
    d = hf_dir(tmp_path, weights, json.dumps(dict(CFG, **{field: value})))
    with pytest.raises(ValueError) as e:
        BertModel.from_pretrained(d)
    msg = str(e.value)
    assert str(d / "config.json") in msg and field in msg and "\n" not in msg, msg


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "JSON object"), ('{"vocab_size": 20,', "JSON"), (b"\xff\xfe{}", "UTF-8"), ("", "JSON"),
    ('"bert"', "JSON object"), ("[" * 100_000, "JSON"),
], ids=["list", "truncated", "not UTF-8", "empty", "a string", "deeply nested"])
def test_malformed_config_json(tmp_path, weights, no_build, text, words):
    d = hf_dir(tmp_path, weights, text)
    with pytest.raises(ValueError) as e:
        BertModel.from_pretrained(d)
    assert str(d / "config.json") in str(e.value) and words in str(e.value), str(e.value)


@pytest.mark.parametrize("field, value, tensor", [
    ("num_hidden_layers", 500, "encoder.layer"), ("vocab_size", 9_000_000, "embeddings.word_embeddings.weight"),
    ("max_position_embeddings", 900_000, "embeddings.position_embeddings.weight"),
    ("intermediate_size", 4000, "intermediate.dense.weight"),
])
def test_config_that_disagrees_with_the_weights_is_refused_before_building(tmp_path, weights, no_build,
                                                                           field, value, tensor):
    """Regression: the model was built (huge allocation) before the weights were compared."""
    d = hf_dir(tmp_path, weights, json.dumps(dict(CFG, **{field: value})))
    with pytest.raises(ValueError) as e:
        BertModel.from_pretrained(d)
    msg = str(e.value)
    assert str(d) in msg and field in msg and tensor in msg, msg


def test_minissl_directory_config_is_validated_too(tmp_path, weights):
    m = BertModel(BertConfig(**{k: v for k, v in CFG.items() if k != "model_type"}))
    m.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps(dict(cfg, num_attention_heads=0)))
    with pytest.raises(ValueError, match="config.json.*num_attention_heads"):
        BertModel.from_pretrained(tmp_path / "m")


def test_bert_config_itself_refuses_bad_values():
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        BertConfig(vocab_size=0)
    BertConfig(vocab_size=np.int64(5), hidden_size=8, num_attention_heads=2)  # NumPy ints are ints


def test_a_good_hf_directory_still_loads(tmp_path, weights):
    d = hf_dir(tmp_path, weights, json.dumps(CFG))
    m = BertModel.from_pretrained(d)
    np.testing.assert_array_equal(m.state_dict()["embeddings.word_embeddings.weight"].numpy(),
                                  weights["embeddings.word_embeddings.weight"])


# ---------------------------------------------------------------- GPT checkpoints
def gpt_ckpt(tmp_path, **config_changes):
    model = gpt_mod.GPT(gpt_mod.GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8))
    path = tmp_path / "gpt.npz"
    gpt_mod.save_checkpoint(path, model)
    ckpt = ms.load(path)
    if config_changes.pop("_config_is_list", False):
        ckpt["config"] = [1, 2]
    else:
        ckpt["config"].update(config_changes)
    ms.save(ckpt, path)
    return path


@pytest.mark.parametrize("changes, words", [
    (dict(n_layer=2000), ["n_layer"]),                    # regression: built for a second, then a 32,000-line error
    (dict(n_layer=3), ["n_layer", "h.2"]), (dict(vocab_size=12), ["vocab_size", "wte.weight"]),
    (dict(n_head=0), ["n_head"]), (dict(n_head=3), ["n_head", "divisible"]), (dict(n_embd="8"), ["n_embd"]),
    (dict(dropout=1.5), ["dropout"]), (dict(block_size=-1), ["block_size"]), (dict(bias="yes"), ["bias"]),
    (dict(n_inner=4), ["n_inner", "unknown"]), (dict(_config_is_list=True), ["config"]),
], ids=["n_layer 2000", "n_layer 3", "vocab 12", "n_head 0", "n_head 3", "n_embd str", "dropout 1.5",
        "block_size -1", "bias str", "unknown key", "config list"])
def test_bad_gpt_checkpoint_is_refused_before_building(tmp_path, changes, words):
    path = gpt_ckpt(tmp_path, **changes)
    real_init = gpt_mod.GPT.__init__
    built = []
    gpt_mod.GPT.__init__ = lambda self, cfg: (built.append(cfg), real_init(self, cfg))[1]
    try:
        with pytest.raises((ValueError, TypeError)) as e:
            gpt_mod.load_checkpoint(path)
    finally:
        gpt_mod.GPT.__init__ = real_init
    msg = str(e.value)
    assert str(path) in msg and all(w in msg for w in words) and not built, msg


def test_a_good_gpt_checkpoint_still_loads(tmp_path):
    model, ckpt = gpt_mod.load_checkpoint(gpt_ckpt(tmp_path))
    assert model.config.n_layer == 2 and ckpt["step"] == 0
