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


# --- custom split patterns and special tokens ----------------------------------------------

@pytest.mark.parametrize("pattern", [r"\w+", r"[a-z]+", r"x", r"\p{L}+|\d"])
def test_pattern_that_misses_text_keeps_it(pattern):
    # Old code: regex.findall dropped what the pattern did not match ("hi there!" -> "hithere").
    tok = ByteBPETokenizer.train(CORPUS, vocab_size=280, pattern=pattern)
    for text in ["hi there!", "  ", "!!", "the cat, 123 😀", ""]:
        assert tok.decode(tok.encode(text)) == text


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="ab !\n1é"), st.sampled_from([r"\w+", r"a+|b", r" ?\w", "(?=a)"]))
def test_lossless_with_any_pattern(text, pattern):
    tok = ByteBPETokenizer([(97, 98), (256, 97)], pattern=pattern)
    assert tok.decode(tok.encode(text)) == text


def test_gaps_are_their_own_chunks():
    # Merges never cross the boundary between a matched chunk and an unmatched gap.
    tok = ByteBPETokenizer([(ord("a"), ord("!"))], pattern=r"a+", special_tokens=())
    assert tok.encode("a!") == [ord("a"), ord("!")]
    assert ByteBPETokenizer([(ord("a"), ord("!"))], pattern=r"a!", special_tokens=()).encode("a!") == [256]


def test_empty_special_token_refused():
    # Old code: "" split the text between every character and inserted its id there.
    with pytest.raises(ValueError, match="empty"):
        ByteBPETokenizer(special_tokens=("",))


# --- fast encoding: same output as the textbook loop, in near-linear time --------------------

def reference_encode(tok, text):
    """The textbook rule, as minissl first wrote it: over the whole chunk, merge every
    occurrence of the lowest-ranked pair present, and repeat until no pair has a rank."""
    from minissl.text.base import merge_pair
    out = []
    for chunk in regex.findall(tok.pattern, text):
        ids = list(chunk.encode("utf-8", "surrogatepass"))
        while len(ids) > 1:
            best = min(zip(ids, ids[1:]), key=lambda p: tok.ranks.get(p, 1 << 62))
            if best not in tok.ranks:
                break
            ids = merge_pair(ids, best[0], best[1], tok.ranks[best])
        out += ids
    return out


@pytest.fixture(scope="module")
def letters_tok():
    # Many merges over a small alphabet, so long chunks use hundreds of them.
    import random
    rng = random.Random(0)
    words = ["".join(rng.choice("abcde") for _ in range(rng.randint(1, 30))) for _ in range(2000)]
    return ByteBPETokenizer.train([" ".join(words)], vocab_size=256 + 300, special_tokens=())


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcde x😀", max_size=300))
def test_encode_equals_textbook_rule(letters_tok, text):
    assert letters_tok.encode(text) == reference_encode(letters_tok, text)


@pytest.mark.parametrize("text", ["aaaaaaaaa", "abababababa", "a" * 1000, "abcde" * 200])
def test_encode_equals_textbook_rule_on_repeats(letters_tok, tok, text):
    # Runs of one pair are where "left to right, non-overlapping" matters.
    for t in (letters_tok, tok):
        assert t.encode(text) == reference_encode(t, text)


def test_long_chunk_encodes_in_near_linear_time(letters_tok):
    # 80k letters with no space are one chunk (Chinese text has this shape). The
    # textbook loop rescans the chunk once per merge used (~10x the time of the same
    # letters cut into words here); a heap over a linked list does each merge in
    # O(log n) (~2.5x). Compared with the words on the same machine, so a slow CI box
    # does not matter; the absolute bound is ~10x what a laptop needs.
    import random
    import time
    rng = random.Random(1)
    letters = "".join(rng.choice("abcde") for _ in range(80_000))
    words = " ".join(letters[i:i + 20] for i in range(0, len(letters), 20))

    def seconds(text):
        fresh = ByteBPETokenizer(letters_tok.merges, special_tokens=())  # empty chunk cache
        t0 = time.perf_counter()
        ids = fresh.encode(text)
        return time.perf_counter() - t0, ids

    t_words, _ = seconds(words)
    t_long, ids = seconds(letters)
    assert letters_tok.decode(ids) == letters
    assert t_long < 4 * t_words + 0.2, (t_long, t_words)
    assert t_long < 2.0, t_long
