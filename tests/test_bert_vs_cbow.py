"""The pieces of demos/bert_vs_cbow.py that decide what is compared: pair files, contexts, word spans."""
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo  # noqa: E402
from minissl.text import WordPieceTokenizer  # noqa: E402

bvc = import_demo("bert_vs_cbow")


def test_pairs_are_read_from_both_file_layouts(tmp_path, monkeypatch):
    (tmp_path / "ws.tsv").write_text("# comment line\nTiger\tcat\t7.35\nbook\tpaper\t7.46\n")
    (tmp_path / "sl.txt").write_text("word1\tword2\tSimLex999\tconc(w1)\nold\tnew\t1.58\t2.72\n")
    monkeypatch.setattr(bvc.datasets, "gensim_test_data", lambda name: str(tmp_path / name))
    assert bvc.read_pairs("ws.tsv") == [("tiger", "cat", 7.35), ("book", "paper", 7.46)]  # lower-cased
    assert bvc.read_pairs("sl.txt") == [("old", "new", 1.58)]  # the header row is not a pair


def test_split_is_fixed_and_disjoint():
    val, test = bvc.split_halves(11)
    val2, test2 = bvc.split_halves(11)
    assert val.tolist() == val2.tolist() and test.tolist() == test2.tolist()  # independent of the run's seed
    assert sorted(val.tolist() + test.tolist()) == list(range(11)) and len(val) == 5


def test_windows_hold_the_word_at_the_stated_position():
    sentences = [["a", "b", "cat", "d"], ["cat", "x"], ["y", "z"]] + [["w"] * 30 + ["cat"] + ["v"] * 30]
    win = bvc.word_windows(sentences, ["cat", "z"], k=10, rng=np.random.default_rng(0))
    assert len(win["cat"]) == 3 and len(win["z"]) == 1
    for words, pos in win["cat"] + win["z"]:
        assert words[pos] in ("cat", "z") and len(words) <= 2 * bvc.WINDOW + 1
    assert len(bvc.word_windows(sentences, ["cat"], k=2, rng=np.random.default_rng(0))["cat"]) == 2


def test_encoded_span_covers_exactly_the_target_pieces():
    tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "play", "##ing", "cat"])
    ids, (s, e) = bvc.encode_window(tok, ["the", "playing", "cat"], 1)
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.convert_ids_to_tokens(ids[s:e]) == ["play", "##ing"]


def test_cosines_per_layer():
    table = {"a": np.array([[1.0, 0.0], [1.0, 1.0]]), "b": np.array([[0.0, 1.0], [1.0, 1.0]])}
    c = bvc.cosines(lambda w: table[w], [("a", "b", 5.0)])
    assert c.shape == (1, 2) and c[0, 0] == pytest.approx(0.0) and c[0, 1] == pytest.approx(1.0)
