import pytest

from minissl.text import CharTokenizer


def test_chinese_per_character_and_roundtrip():
    tok = CharTokenizer.from_corpus(["今天天气很好", "hello"])
    ids = tok.encode("天气很好")
    assert len(ids) == 4 and tok.decode(ids) == "天气很好"
    assert tok.id_to_token(ids[0]) == "天"


def test_unknown_maps_to_unk_and_specials_first():
    tok = CharTokenizer.from_corpus("abc")
    assert tok.pad_token_id == 0 and tok.mask_token_id == 4
    assert tok.tokenize("aXb") == ["a", "[UNK]", "b"]


def test_frequency_order_is_deterministic():
    tok = CharTokenizer.from_corpus(["bba", "c"])
    assert tok.convert_ids_to_tokens([5, 6, 7]) == ["b", "a", "c"]  # b twice; a, c by code point


def test_batch_and_save_load(tmp_path):
    tok = CharTokenizer.from_corpus(["ab\ncd"])
    b = tok.encode_batch(["ab", "abcd"])
    assert b["input_ids"].shape == (2, 4) and b["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    tok.save(tmp_path / "c.json")
    assert CharTokenizer.load(tmp_path / "c.json").vocab == tok.vocab
    with pytest.raises(TypeError):
        tok.encode_batch("ab")
