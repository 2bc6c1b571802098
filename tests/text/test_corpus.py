import pytest

from minissl.text import load_pydoc_corpus, load_text_corpus, split_sentences, word_tokenize


def test_pydoc_corpus_split_is_deterministic_and_disjoint():
    train, val = load_pydoc_corpus("train"), load_pydoc_corpus("validation")
    allc = load_pydoc_corpus("all")
    assert len(train) + len(val) == len(allc) and len(val) >= 1
    assert {tuple(d) for d in train.documents}.isdisjoint({tuple(d) for d in val.documents})
    assert load_pydoc_corpus("train").documents == train.documents
    assert sum(len(d) for d in allc.documents) > 1000  # sentences
    words = train.words()
    assert words and all(isinstance(w, str) for w in words[0])


def test_split_sentences_and_words():
    assert split_sentences("It works. Then it stops! Why? e.g. this") == ["It works.", "Then it stops!", "Why? e.g. this"]
    assert split_sentences("今天很好。明天呢？") == ["今天很好。", "明天呢？"]
    assert word_tokenize("Don't stop.") == ["don't", "stop", "."]


def test_local_file_and_folder(tmp_path):
    (tmp_path / "a.txt").write_text("One doc. Two sentences.\n\nSecond doc.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("中文文档。", encoding="utf-8")
    c = load_text_corpus(tmp_path / "a.txt")
    assert c.documents == [["One doc.", "Two sentences."], ["Second doc."]]
    assert len(load_text_corpus(tmp_path)) == 3


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_text_corpus(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("  \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text"):
        load_text_corpus(tmp_path / "empty.txt")
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_text_corpus(tmp_path / "latin.txt")
