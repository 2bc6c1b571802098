"""WordPiece against Hugging Face's published BertTokenizer test vectors
(tests/models/bert/test_tokenization_bert.py) and, where installed, against
transformers.BertTokenizer itself."""
import numpy as np
import pytest

from minissl.text import BasicTokenizer, WordPieceTokenizer

HF_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]


def full_vocab():
    # HF's test_full_tokenizer vocabulary (plus the specials minissl requires).
    return ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "want", "##want", "##ed", "wa", "un",
            "runn", "##ing", ",", "low", "lowest"]


def test_wordpiece_tokenizer_vectors():
    tok = WordPieceTokenizer(HF_VOCAB + ["[PAD]", "[MASK]"])
    assert tok.tokenize("") == []
    assert tok.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tok.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_full_tokenizer_vector():
    tok = WordPieceTokenizer(full_vocab())
    tokens = tok.tokenize("UNwant\u00E9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tok.convert_tokens_to_ids(tokens) == [9, 6, 7, 12, 10, 11]


@pytest.mark.parametrize("text,lower,strip,expected", [
    (" \tHeLLo!how  \n Are yoU?  ", True, None, ["hello", "!", "how", "are", "you", "?"]),
    ("H\u00E9llo", True, None, ["hello"]),
    (" \tHäLLo!how  \n Are yoU?  ", True, False, ["hällo", "!", "how", "are", "you", "?"]),
    (" \tHäLLo!how  \n Are yoU?  ", True, True, ["hallo", "!", "how", "are", "you", "?"]),
    (" \tHäLLo!how  \n Are yoU?  ", True, None, ["hallo", "!", "how", "are", "you", "?"]),
    (" \tHeLLo!how  \n Are yoU?  ", False, None, ["HeLLo", "!", "how", "Are", "yoU", "?"]),
    (" \tHäLLo!how  \n Are yoU?  ", False, False, ["HäLLo", "!", "how", "Are", "yoU", "?"]),
    (" \tHäLLo!how  \n Are yoU?  ", False, True, ["HaLLo", "!", "how", "Are", "yoU", "?"]),
    ("ah\u535A\u63A8zz", True, None, ["ah", "\u535A", "\u63A8", "zz"]),
])
def test_basic_tokenizer_vectors(text, lower, strip, expected):
    assert BasicTokenizer(do_lower_case=lower, strip_accents=strip).tokenize(text) == expected


def test_never_split_and_control_chars():
    bt = BasicTokenizer(do_lower_case=False, never_split=["[UNK]"])
    assert bt.tokenize(" \tHeLLo!how  \n Are yoU? [UNK]") == ["HeLLo", "!", "how", "Are", "yoU", "?", "[UNK]"]
    assert BasicTokenizer().tokenize("a\x00b\u0007c\ufffdd") == ["abcd"]
    assert BasicTokenizer().tokenize("a\u00a0b") == ["a", "b"]  # no-break space is whitespace


def test_special_tokens_in_text_kept_whole():
    tok = WordPieceTokenizer(full_vocab())
    assert tok.tokenize("want [MASK] wa") == ["want", "[MASK]", "wa"]


def test_too_long_word_is_unk():
    tok = WordPieceTokenizer(full_vocab() + ["a", "##a"])
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]


def test_offsets_point_at_source_text():
    tok = WordPieceTokenizer(full_vocab())
    text = "UNwant\u00E9d,  running"
    enc = tok.encode_plus(text)
    assert enc["tokens"] == ["[CLS]", "un", "##want", "##ed", ",", "runn", "##ing", "[SEP]"]
    spans = [text[s:e] for s, e in enc["offsets"]]
    assert spans == ["", "UN", "want", "\u00E9d", ",", "runn", "ing", ""]


def test_pair_encoding_types_and_truncation():
    tok = WordPieceTokenizer(full_vocab())
    enc = tok.encode_plus("want want want want", "low lowest")
    assert enc["tokens"] == ["[CLS]", "want", "want", "want", "want", "[SEP]", "low", "lowest", "[SEP]"]
    assert enc["token_type_ids"] == [0] * 6 + [1] * 3
    # longest_first: 4 + 2 tokens into a budget of 4 -> trim the longer side first (4,2)->(2,2).
    enc = tok.encode_plus("want want want want", "low lowest", max_length=7)
    assert enc["tokens"] == ["[CLS]", "want", "want", "[SEP]", "low", "lowest", "[SEP]"]
    # on a tie, Hugging Face trims the second sequence
    enc = tok.encode_plus("want want", "low lowest", max_length=6)
    assert enc["tokens"] == ["[CLS]", "want", "want", "[SEP]", "low", "[SEP]"]


def test_batch_padding_and_masks():
    tok = WordPieceTokenizer(full_vocab())
    b = tok.encode_batch(["want", "want want want"], text_pairs=["low", "low"])
    assert b["input_ids"].dtype == np.int64 and b["input_ids"].shape == (2, 7)
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0, 0], [1] * 7]
    assert b["input_ids"][0, 5:].tolist() == [tok.pad_token_id] * 2
    assert b["token_type_ids"][0].tolist() == [0, 0, 0, 1, 1, 0, 0]


def test_save_load_roundtrip(tmp_path):
    tok = WordPieceTokenizer(full_vocab())
    tok.save(tmp_path / "vocab.txt")
    tok2 = WordPieceTokenizer.from_file(tmp_path / "vocab.txt")
    assert tok2.vocab == tok.vocab
    assert tok2.decode(tok2.encode("unwanted running"), skip_special_tokens=True) == "unwanted running"
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        WordPieceTokenizer.from_file(tmp_path / "missing.txt")


def test_train_wordpiece_learns_frequent_words():
    texts = ["the running dog was running and running"] * 20 + ["unwanted wanted want"] * 10
    tok = WordPieceTokenizer.train(texts, vocab_size=60)
    assert tok.tokenize("running") == ["running"]
    assert "[UNK]" not in tok.tokenize("the dog wanted")


def test_matches_transformers_bert_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    rng = np.random.default_rng(0)
    vocab = full_vocab() + ["a", "b", "c", "##a", "##b", "##c", "ab", "##ab", "!", "?", "\u535A",
                            "caf", "##e", "hello"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    hf = transformers.BertTokenizer(str(tmp_path / "vocab.txt"))
    ours = WordPieceTokenizer.from_file(tmp_path / "vocab.txt")
    alphabet = list("abcABC !?,\t\n") + ["\u535A", "\u00E9", "Ab", "unwanted", "running", "CAFÉ",
                                          "[MASK]", "lowest", "\u0301", "\x00"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet, size=rng.integers(0, 12)))
        assert ours.tokenize(text) == hf.tokenize(text), repr(text)
    enc = hf("unwanted running", "low lowest")
    mine = ours.encode_plus("unwanted running", "low lowest")
    assert mine["input_ids"] == list(enc["input_ids"])
    assert mine["token_type_ids"] == list(enc["token_type_ids"])
