"""Bad input to the tokenizers: every refusal is one sentence that
names the file (and line) or the argument, and a failed save loses nothing."""
import json
import os

import numpy as np
import pytest

import minissl as ms
from minissl.text import BasicTokenizer, ByteBPETokenizer, CharTokenizer, WordPieceTokenizer

WP_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]


def char_tok():
    return CharTokenizer.from_corpus(["hello world"])


def bpe_tok():
    return ByteBPETokenizer.train(["hello world, hello there"] * 3, vocab_size=270)


def wp_tok():
    return WordPieceTokenizer(WP_VOCAB)


TOKENIZERS = {"char": char_tok, "bpe": bpe_tok, "wordpiece": wp_tok}
LOADERS = {"char": CharTokenizer.load, "bpe": ByteBPETokenizer.load, "wordpiece": WordPieceTokenizer.load}


# --- saves are atomic ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", TOKENIZERS)
def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, kind):
    # A save that fails half-way (here: the disk refuses to flush) must leave the
    # previous file byte for byte, and no temporary file beside it.
    tok, path = TOKENIZERS[kind](), tmp_path / "tok.txt"
    tok.save(path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        tok.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok.txt"]
    assert LOADERS[kind](path).vocab_size == tok.vocab_size


def test_char_save_with_lone_surrogate_keeps_old_file_and_roundtrips(tmp_path):
    # Old code: write_text opened (truncated) the file, then UTF-8 encoding of the
    # lone surrogate failed: the existing file was left with 0 bytes.
    path = tmp_path / "c.json"
    char_tok().save(path)
    odd = CharTokenizer.from_corpus(["ab\ud800"])
    odd.save(path)  # JSON's \uXXXX escape carries the surrogate
    assert CharTokenizer.load(path).vocab == odd.vocab


def test_wordpiece_token_with_line_break_is_refused():
    # vocab.txt is one token per line: "a\nb" would become two lines and shift every later id.
    for bad in ["a\nb", "a\rb", "\n"]:
        with pytest.raises(ValueError, match=r"token 5 .*line break"):
            WordPieceTokenizer(WP_VOCAB[:5] + [bad, "z"])


def test_wordpiece_roundtrip_keeps_every_id(tmp_path):
    tok = WordPieceTokenizer(WP_VOCAB + ["", "é", "\u2028"])  # odd but line-safe tokens
    tok.save(tmp_path / "vocab.txt")
    assert WordPieceTokenizer.load(tmp_path / "vocab.txt").vocab == tok.vocab


def test_files_are_written_whole_and_readable(tmp_path):
    tok = bpe_tok()
    tok.save(tmp_path / "b.txt")
    back = ByteBPETokenizer.load(tmp_path / "b.txt")
    assert back.merges == tok.merges and back.special_tokens == tok.special_tokens


# --- loading validates the whole file -------------------------------------------------------

BPE_HEAD = 'minissl-bpe 1\n"gpt2"\n["<|endoftext|>"]\n'

BAD_BPE = {
    # name: (file bytes, words the message must contain besides the file name)
    "truncated merges": (BPE_HEAD + "10\n97 98\n", ["line 4", "10 merges", "only 1"]),
    "empty file": ("", ["empty"]),
    "not a BPE file": ("hello\n", ["line 1", "not a minissl BPE file"]),
    "future version": ('minissl-bpe 2\n"gpt2"\n[]\n0\n', ["line 1", "version 2"]),
    "header only": ("minissl-bpe 1\n", ["line 2", "missing"]),
    "pattern not JSON": ('minissl-bpe 1\ngpt2\n[]\n0\n', ["line 2", "JSON"]),
    "invalid regex": ('minissl-bpe 1\n"("\n[]\n0\n', ["line 2", "regular expression"]),
    "specials not a list": ('minissl-bpe 1\n"gpt2"\n"<|endoftext|>"\n0\n', ["line 3", "list"]),
    "empty special": ('minissl-bpe 1\n"gpt2"\n[""]\n0\n', ["line 3", "empty"]),
    "repeated special": ('minissl-bpe 1\n"gpt2"\n["<s>", "<s>"]\n0\n', ["line 3", "twice"]),
    "count not a number": (BPE_HEAD + "ten\n", ["line 4", "count"]),
    "negative count": (BPE_HEAD + "-1\n", ["line 4", "count"]),
    "merge not two ints": (BPE_HEAD + "1\n97 x\n", ["line 5", "two"]),
    "merge uses a later token": (BPE_HEAD + "1\n300 97\n", ["line 5", "300"]),
    "negative id": (BPE_HEAD + "1\n-1 97\n", ["line 5", "-1"]),
    "repeated merge": (BPE_HEAD + "2\n97 98\n97 98\n", ["line 6", "line 5"]),
    "extra lines": (BPE_HEAD + "1\n97 98\n99 100\n", ["line 6", "1 merge"]),
    "cut mid-line": (BPE_HEAD + "1\n97 9", ["newline"]),
    "not UTF-8": (b'minissl-bpe 1\n"gpt2"\n["\xff"]\n0\n', ["line 3", "UTF-8"]),
}


@pytest.mark.parametrize("name", BAD_BPE)
def test_bpe_load_refuses_bad_files(tmp_path, name):
    content, words = BAD_BPE[name]
    path = tmp_path / "bpe.txt"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ValueError) as e:
        ByteBPETokenizer.load(path)
    msg = str(e.value)
    assert str(path) in msg and all(w in msg for w in words), msg


CHAR_OK = {"type": "char", "version": 1, "special_tokens": ["[PAD]", "[UNK]"], "chars": ["a", "b"]}

BAD_CHAR = {
    "not JSON": ('{"type": "char",\n "chars": [', ["line 2", "JSON"]),
    "a list": ("[1, 2]", ["object"]),
    "other type": (dict(CHAR_OK, type="bpe"), ["type"]),
    "future version": (dict(CHAR_OK, version=2), ["version 2"]),
    "no chars": ({k: v for k, v in CHAR_OK.items() if k != "chars"}, ["chars", "missing"]),
    "chars not a list": (dict(CHAR_OK, chars="ab"), ["chars", "list"]),
    "two-letter char": (dict(CHAR_OK, chars=["a", "bc"]), ["chars", "'bc'"]),
    "repeated char": (dict(CHAR_OK, chars=["a", "b", "a"]), ["chars", "'a'", "twice"]),
    "special not a string": (dict(CHAR_OK, special_tokens=["[PAD]", 3]), ["special_tokens"]),
    "no unk": (dict(CHAR_OK, special_tokens=["[PAD]"]), ["[UNK]"]),
    "not UTF-8": (b'{"type": "char", "chars": ["\xff"]}', ["UTF-8", "line 1"]),
}


@pytest.mark.parametrize("name", BAD_CHAR)
def test_char_load_refuses_bad_files(tmp_path, name):
    content, words = BAD_CHAR[name]
    path = tmp_path / "char.json"
    if isinstance(content, dict):
        content = json.dumps(content)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ValueError) as e:
        CharTokenizer.load(path)
    msg = str(e.value)
    assert str(path) in msg and all(w in msg for w in words), msg


def test_char_file_without_version_still_loads(tmp_path):
    # Files written before the version field was added.
    path = tmp_path / "old.json"
    path.write_text(json.dumps({k: v for k, v in CHAR_OK.items() if k != "version"}))
    assert CharTokenizer.load(path).convert_ids_to_tokens([2, 3]) == ["a", "b"]


@pytest.mark.parametrize("content,words", [
    (b"[PAD]\n[UNK]\n\xff\n[CLS]\n[SEP]\n", ["line 3", "UTF-8"]),
    (b"", ["empty"]),
    (b"[PAD]\n[UNK]\n[SEP]\n", ["[CLS]"]),
])
def test_wordpiece_load_refuses_bad_files(tmp_path, content, words):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError) as e:
        WordPieceTokenizer.from_file(path)
    msg = str(e.value)
    assert str(path) in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("kind", LOADERS)
def test_missing_file_is_named(tmp_path, kind):
    with pytest.raises(FileNotFoundError, match="nothere"):
        LOADERS[kind](tmp_path / "nothere")


# --- ids in, text in, arguments --------------------------------------------------------------

@pytest.mark.parametrize("kind", TOKENIZERS)
def test_decode_accepts_integer_ids_of_every_kind(kind):
    tok = TOKENIZERS[kind]()
    ids = tok.encode("hello world")
    want = tok.decode(ids)
    assert tok.decode(np.array(ids)) == want
    assert tok.decode(np.array(ids, dtype=np.int32)) == want
    assert tok.decode([np.int64(i) for i in ids]) == want
    assert tok.decode(ms.tensor(ids)) == want
    assert tok.decode(np.array([ids])) == want  # a (1, T) batch row
    assert tok.decode([]) == ""


@pytest.mark.parametrize("kind", TOKENIZERS)
@pytest.mark.parametrize("ids,exc,words", [
    ([5.9], TypeError, ["ids", "integers", "5.9"]),
    (np.array([1.0, 2.0]), TypeError, ["ids", "integers", "float64"]),
    ([True, False], TypeError, ["ids", "integers"]),
    ("abc", TypeError, ["ids", "str"]),
    ([1, "a"], TypeError, ["ids", "integers"]),
    ([1, None], TypeError, ["ids", "integers"]),
    ([[1, 2], [3]], TypeError, ["ids", "ragged"]),
    ([10 ** 6], IndexError, ["id 1000000", "vocabulary size"]),
    ([-1], IndexError, ["id -1", "vocabulary size"]),
    ([2 ** 70], IndexError, ["id 1180591620717411303424", "vocabulary size"]),
])
def test_decode_refuses_bad_ids(kind, ids, exc, words):
    tok = TOKENIZERS[kind]()
    with pytest.raises(exc) as e:
        tok.decode(ids)
    msg = str(e.value)
    assert all(w in msg for w in words), msg
    if exc is IndexError:
        assert str(tok.vocab_size) in msg


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_float_tensor_ids_refused(kind):
    with pytest.raises(TypeError, match="integers"):
        TOKENIZERS[kind]().decode(ms.tensor([1.0, 2.0]))


@pytest.mark.parametrize("kind", TOKENIZERS)
@pytest.mark.parametrize("bad", [5.9, 10 ** 6, "3"])
def test_id_to_token_refuses_bad_id(kind, bad):
    with pytest.raises((TypeError, IndexError), match=r"id"):
        TOKENIZERS[kind]().id_to_token(bad)


@pytest.mark.parametrize("kind", TOKENIZERS)
@pytest.mark.parametrize("text,words", [
    (b"abc", ["text", "bytes", "decode"]),
    (bytearray(b"abc"), ["text", "bytearray", "decode"]),
    (None, ["text", "NoneType"]),
    (5, ["text", "int"]),
    (["a", "b"], ["text", "list", "encode_batch"]),
])
def test_encode_refuses_non_text(kind, text, words):
    tok = TOKENIZERS[kind]()
    with pytest.raises(TypeError) as e:
        tok.encode(text)
    msg = str(e.value)
    assert all(w in msg for w in words), msg
    with pytest.raises(TypeError, match="text"):
        tok.encode_batch(["fine", text])


def test_other_text_entry_points_refuse_bytes():
    with pytest.raises(TypeError, match="text_pair.*bytes"):
        wp_tok().encode_plus("hello", b"world")
    with pytest.raises(TypeError, match="text.*bytes"):
        BasicTokenizer().tokenize(b"hello")
    with pytest.raises(TypeError, match="texts.*bytes"):
        CharTokenizer.from_corpus(b"hello")
    with pytest.raises(TypeError, match="texts.*bytes"):
        ByteBPETokenizer.train([b"hello"], vocab_size=260)


@pytest.mark.parametrize("make,exc,words", [
    (lambda: ByteBPETokenizer(pattern="("), ValueError, ["pattern", "'('", "regular expression"]),
    (lambda: ByteBPETokenizer(pattern="[a-"), ValueError, ["pattern", "'[a-'"]),
    (lambda: ByteBPETokenizer.train(["hi"], 260, pattern="(?<"), ValueError, ["pattern", "'(?<'"]),
    (lambda: ByteBPETokenizer(pattern=5), TypeError, ["pattern", "int"]),
    (lambda: ByteBPETokenizer(special_tokens=("",)), ValueError, ["special", "empty"]),
    (lambda: ByteBPETokenizer(special_tokens="<|endoftext|>"), TypeError, ["special_tokens", "list"]),
    (lambda: ByteBPETokenizer(special_tokens=("<s>", "<s>")), ValueError, ["special", "'<s>'", "twice"]),
    (lambda: ByteBPETokenizer(special_tokens=(None,)), TypeError, ["special", "NoneType"]),
    (lambda: ByteBPETokenizer([(97.5, 98)]), TypeError, ["merge 0", "integers"]),
    (lambda: ByteBPETokenizer([(97, 98, 99)]), ValueError, ["merge 0", "pair"]),
    (lambda: ByteBPETokenizer([(-1, 98)]), ValueError, ["merge 0", "-1"]),
    (lambda: ByteBPETokenizer([(97, 256)]), ValueError, ["merge 0", "256"]),
    (lambda: ByteBPETokenizer([(97, 98), (97, 98)]), ValueError, ["merge 1", "merge 0"]),
    (lambda: ByteBPETokenizer.train(["hi"], 260, special_tokens=("",)), ValueError, ["special", "empty"]),
    (lambda: bpe_tok().encode("hi", allowed_special="<|endoftext|>"), TypeError, ["allowed_special"]),
    (lambda: WordPieceTokenizer(WP_VOCAB + [None]), TypeError, ["token 8", "NoneType"]),
    (lambda: WordPieceTokenizer(WP_VOCAB + [""], special_tokens=tuple(WP_VOCAB[:5]) + ("",)),
     ValueError, ["special token", "empty"]),
    (lambda: CharTokenizer(["a", "bc"]), ValueError, ["'bc'"]),
])
def test_bad_arguments_are_named(make, exc, words):
    with pytest.raises(exc) as e:
        make()
    msg = str(e.value)
    assert all(w in msg for w in words), msg
