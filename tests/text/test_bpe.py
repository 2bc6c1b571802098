import pytest
import regex
from hypothesis import given, settings, strategies as st

from minissl.text import GPT2_PATTERN, GPT4_PATTERN, ByteBPETokenizer

CORPUS = ["the cat sat on the mat. the cat ate the rat!", "hello world, hello there 123456",
          "你好世界，你好。", "emoji 😀😀 are fun"] * 5


@pytest.fixture(scope="module")
def tok():
    return ByteBPETokenizer.train(CORPUS, vocab_size=300)


def test_vocab_size_counts_bytes_merges_specials(tok):
    assert tok.vocab_size == 300 == 256 + len(tok.merges) + 1


def test_frequent_word_becomes_one_token(tok):
    # " the" occurs 15 times in the corpus: it must be merged into one token.
    assert len(tok.encode(" the")) == 1
    assert tok.decode(tok.encode(" the")) == " the"


def test_gpt2_pattern_split():
    assert regex.findall(GPT2_PATTERN, "Hello world's  123 foo!!") == \
        ["Hello", " world", "'s", " ", " 123", " foo", "!!"]


def test_gpt4_pattern_split():
    # Digits come in groups of at most three; contractions are case-insensitive.
    assert regex.findall(GPT4_PATTERN, "I'LL pay 12345 now") == ["I", "'LL", " pay", " ", "123", "45", " now"]


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_lossless_roundtrip_arbitrary_text(text):
    tok = ByteBPETokenizer.train(CORPUS, vocab_size=280)
    assert tok.decode(tok.encode(text)) == text
    tok4 = ByteBPETokenizer(tok.merges, pattern="gpt4")
    assert tok4.decode(tok4.encode(text)) == text


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\ud83d\ude00", "😀 你好 \x00 \u0301"])
def test_lone_surrogates_and_odd_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_patterns_cover_all_text(text):
    assert "".join(regex.findall(GPT2_PATTERN, text)) == text
    assert "".join(regex.findall(GPT4_PATTERN, text)) == text


def test_special_tokens(tok):
    eot = tok.special_tokens["<|endoftext|>"]
    ids = tok.encode("hi<|endoftext|>there")
    assert ids.count(eot) == 1 and tok.decode(ids) == "hi<|endoftext|>there"
    plain = tok.encode("hi<|endoftext|>there", allowed_special=())
    assert eot not in plain and tok.decode(plain) == "hi<|endoftext|>there"


def test_invalid_bytes_decode_with_replacement(tok):
    assert tok.decode([0xE4, ord("a")]) == "\ufffda"


def test_save_load(tmp_path, tok):
    tok.save(tmp_path / "bpe.txt")
    tok2 = ByteBPETokenizer.load(tmp_path / "bpe.txt")
    assert tok2.merges == tok.merges and tok2.special_tokens == tok.special_tokens
    s = "the cat 你好 😀"
    assert tok2.encode(s) == tok.encode(s)


def test_training_is_deterministic_and_merges_most_frequent_first():
    a = ByteBPETokenizer.train(["aaab aaab aaab"], vocab_size=260, special_tokens=())
    assert a.merges == ByteBPETokenizer.train(["aaab aaab aaab"], vocab_size=260, special_tokens=()).merges
    # Chunks: "aaab" once, " aaab" twice. Pair counts: (a,a) 6, (a,b) 3, ( ,a) 2.
    assert a.merges[0] == (ord("a"), ord("a"))


def test_batch(tok):
    b = tok.encode_batch(["the cat", "the"])
    assert b["input_ids"].shape[0] == 2 and b["attention_mask"][1].sum() == len(tok.encode("the"))
