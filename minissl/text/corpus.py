"""Corpora: the built-in one (Python's own documentation) and your own files.

A corpus is a list of *documents*, each a list of *sentences* (strings).
Documents matter for the sentence-level objectives: next-sentence prediction
and sentence-order prediction need two sentences from the same document.

The built-in corpus is ``pydoc_data.topics``: the text of ``help()`` topics
that ships with every Python (about 465 KB of English). Nothing is ever
downloaded. Cleaning keeps prose paragraphs and drops indented code, headings
and tables; the train/validation split is a deterministic shuffle of the
topics by seed.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# A sentence ends at . ! ? (or Chinese 。！？) followed by space and a capital,
# a quote or a digit; abbreviations like "e.g. foo" are not split (lower case follows).
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=[。！？])")
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (rule-based; good enough for teaching)."""
    text = " ".join(text.split())
    return [s.strip() for s in _SENT_END.split(text) if s and s.strip()]


def word_tokenize(text: str, lower: bool = True) -> list[str]:
    """Words and single punctuation marks: "Don't stop." -> ["don't", "stop", "."]."""
    return _WORD.findall(text.lower() if lower else text)


class Corpus:
    """Documents of sentences. ``len(corpus)`` is the number of documents."""

    def __init__(self, documents, name: str = "corpus"):
        self.documents = [list(d) for d in documents if len(d) > 0]
        self.name = name

    def __len__(self):
        return len(self.documents)

    def __repr__(self):
        return (f"Corpus({self.name!r}, {len(self.documents)} documents, "
                f"{sum(len(d) for d in self.documents)} sentences)")

    def sentences(self) -> list[str]:
        return [s for d in self.documents for s in d]

    def texts(self) -> list[str]:
        """One string per document (sentences joined by spaces)."""
        return [" ".join(d) for d in self.documents]

    def words(self, lower: bool = True) -> list[list[str]]:
        """One token list per sentence: the input CBOW/skip-gram expect."""
        return [word_tokenize(s, lower) for s in self.sentences()]

    def split(self, val_fraction: float = 0.1, seed: int = 0):
        """(train, validation): a seeded shuffle of the documents, then a cut."""
        if not 0 <= val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        order = np.random.default_rng(seed).permutation(len(self.documents))
        n_val = int(round(val_fraction * len(order)))
        if val_fraction > 0 and len(order) > 1:
            n_val = max(1, n_val)
        val = [self.documents[i] for i in sorted(order[:n_val])]
        train = [self.documents[i] for i in sorted(order[n_val:])]
        return Corpus(train, self.name + "/train"), Corpus(val, self.name + "/validation")


def _prose_paragraphs(text: str) -> list[str]:
    paras = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        # Code examples and tables are indented or start with a prompt; headings
        # are underlined with ***, ===, ---.
        if any(ln.startswith((" ", "\t", ">>>")) for ln in lines if ln.strip()):
            continue
        lines = [ln for ln in lines if ln.strip() and not re.fullmatch(r"[*=\-~^+|]+", ln.strip())]
        para = " ".join(" ".join(lines).split())
        if len(para) >= 20 and re.search(r"[A-Za-z]", para):
            paras.append(para)
    return paras


def load_pydoc_corpus(split: str = "train", val_fraction: float = 0.1, seed: int = 0) -> Corpus:
    """Python's documentation as a corpus: one document per help() topic.

    split: "train", "validation" or "all".
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as e:  # some distributions strip it
        raise RuntimeError("this Python has no pydoc_data.topics; use load_text_corpus(path) "
                           "with your own text instead") from e
    docs = []
    for name in sorted(topics):
        sents = [s for p in _prose_paragraphs(topics[name]) for s in split_sentences(p)]
        if sents:
            docs.append(sents)
    corpus = Corpus(docs, "pydoc")
    if split == "all":
        return corpus
    train, val = corpus.split(val_fraction, seed)
    if split == "train":
        return train
    if split == "validation":
        return val
    raise ValueError(f"split must be 'train', 'validation' or 'all', got {split!r}")


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 (bad byte 0x{data[e.start]:02x} at offset "
                         f"{e.start}); convert it, e.g. `iconv -f latin1 -t utf-8 {path.name}`") from None
    return text


def load_text_corpus(path, pattern: str = "*.txt", name: str | None = None) -> Corpus:
    """A local UTF-8 file, or every ``pattern`` file under a folder, as a Corpus.

    Documents are separated by blank lines; sentences are split by
    ``split_sentences`` (which also understands 。！？ for Chinese).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}; pass the path of a UTF-8 text file or folder")
    files = sorted(p for p in path.rglob(pattern) if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"folder {path} has no files matching {pattern!r}; pass pattern='*' or add .txt files")
    docs = []
    for f in files:
        text = _read_utf8(f)
        for block in re.split(r"\n\s*\n", text):
            sents = split_sentences(block)
            if sents:
                docs.append(sents)
    if not docs:
        raise ValueError(f"{path} contains no text (empty or whitespace only); add some text")
    return Corpus(docs, name or path.name)
