"""Word vectors you can query: nearest neighbours, analogies, similarity benchmarks.

``KeyedVectors`` mirrors the part of gensim's class of the same name that a
learner uses after training (``models/word2vec.py``): ``most_similar``,
``similarity``, ``analogy`` (3CosAdd), ``evaluate_word_pairs`` (Spearman on a
human-rated list such as WordSim-353), ``evaluate_word_analogies`` (the
Google questions-words set) and the word2vec text format, readable by gensim's
``KeyedVectors.load_word2vec_format``.

Cosine similarity is the dot product of unit vectors, so every query is one
matrix product with the row-normalised table. 3CosAdd answers "a is to b as c
is to ?" with argmax_w cos(w, b - a + c) over unit vectors, never returning a,
b or c themselves. The vectors live on the backend (NumPy or CuPy) and every
query runs there; only the answers (words, scores) come back to the host.
"""
from __future__ import annotations

from .. import backend
from ..backend import xp
from ..metrics import spearman


class KeyedVectors:
    """Words and their vectors: ``kv["king"]``, ``kv.most_similar("king", topn=10)``."""

    def __init__(self, index_to_key, vectors, counts=None):
        vectors = xp.asarray(vectors, dtype=xp.float32)          # NumPy, CuPy or gensim's arrays alike
        if vectors.ndim != 2 or len(index_to_key) != len(vectors):
            raise ValueError(f"KeyedVectors needs one row of vectors per word: got {len(index_to_key)} words "
                             f"and vectors of shape {vectors.shape}")
        self.index_to_key = list(index_to_key)
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        self.vectors = vectors
        self.counts = None if counts is None else backend.to_numpy(counts)
        self._normed = None

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, word):
        return word in self.key_to_index

    def __getitem__(self, word):
        return self.vectors[self.get_index(word)]

    @property
    def vector_size(self) -> int:
        return self.vectors.shape[1]

    def get_index(self, word) -> int:
        try:
            return self.key_to_index[word]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self)} words); "
                           "check the spelling/case or lower min_count") from None

    def get_normed_vectors(self):
        if self._normed is None:
            n = xp.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._normed = self.vectors / xp.maximum(n, 1e-12)
        return self._normed

    # ------------------------------------------------------------ queries
    def similarity(self, a, b) -> float:
        n = self.get_normed_vectors()
        return float(n[self.get_index(a)] @ n[self.get_index(b)])

    def most_similar(self, positive=(), negative=(), topn=10, restrict_vocab=None):
        """Words closest (cosine) to Σ positive - Σ negative unit vectors, excluding the query words.

        ``positive``/``negative``: a word, a vector, or a list of them (as in gensim).
        """
        if isinstance(positive, str) or backend.is_array(positive):
            positive = [positive]
        if isinstance(negative, str) or backend.is_array(negative):
            negative = [negative]
        n = self.get_normed_vectors()
        query, exclude = xp.zeros(self.vector_size, dtype=xp.float32), set()
        for items, sign in ((positive, 1.0), (negative, -1.0)):
            for it in items:
                if isinstance(it, str):
                    exclude.add(self.get_index(it))
                    query += sign * n[self.get_index(it)]
                else:
                    v = xp.asarray(it, dtype=xp.float32)
                    query += sign * v / max(float(xp.linalg.norm(v)), 1e-12)
        if not exclude and not bool(xp.any(query)):
            raise ValueError("most_similar needs at least one positive or negative word or vector")
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        sims = n[:limit] @ (query / max(float(xp.linalg.norm(query)), 1e-12))
        top = xp.argsort(-sims, kind="stable")[:topn + len(exclude)]   # enough to survive dropping the query words
        top, scores = backend.to_numpy(top).tolist(), backend.to_numpy(sims[top]).tolist()
        return [(self.index_to_key[i], s) for i, s in zip(top, scores) if i not in exclude][:topn]

    def analogy(self, a, b, c, topn=1):
        """3CosAdd: "a is to b as c is to ?" -> argmax cos(w, b - a + c), w not in {a, b, c}."""
        return self.most_similar(positive=[b, c], negative=[a], topn=topn)

    # ------------------------------------------------------------ benchmarks
    def _ok_vocab(self, restrict_vocab, case_insensitive):
        keys = self.index_to_key[:restrict_vocab]
        if case_insensitive:  # the most frequent spelling wins, as in gensim
            return {k.upper(): self.key_to_index[k] for k in reversed(keys)}
        return {k: self.key_to_index[k] for k in keys}

    def evaluate_word_pairs(self, path, delimiter="\t", restrict_vocab=300000, case_insensitive=True):
        """Spearman (and Pearson) between cosine similarity and human scores on a word-pair file.

        Lines are ``word1<delim>word2<delim>score``; '#' lines are comments.
        Pairs with an unknown word are skipped and counted in ``oov_ratio``.
        """
        vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        n = self.get_normed_vectors()
        gold, pairs, oov = [], [], 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.strip().split(delimiter)
                if len(parts) != 3:
                    continue
                a, b, score = parts
                if case_insensitive:
                    a, b = a.upper(), b.upper()
                if a not in vocab or b not in vocab:
                    oov += 1
                    continue
                gold.append(float(score))
                pairs.append((vocab[a], vocab[b]))
        if len(gold) < 2:
            raise ValueError(f"{path}: fewer than 2 word pairs are in the vocabulary ({oov} out of vocabulary)")
        i, j = xp.asarray(pairs).T
        model = (n[i] * n[j]).sum(1)                                  # cosine of every pair at once
        pearson = float(xp.corrcoef(model.astype(xp.float64), xp.asarray(gold))[0, 1])
        return {"spearman": spearman(backend.to_numpy(model), gold), "pearson": pearson,
                "oov_ratio": oov / (oov + len(gold)), "pairs": len(gold)}

    def evaluate_word_analogies(self, path, restrict_vocab=300000, case_insensitive=True, batch=1024):
        """Accuracy of 3CosAdd on a questions-words file (': section' lines, then 'a b c d').

        Questions with a word outside the (restricted) vocabulary are skipped,
        as gensim does. Returns ``(accuracy, {section: (correct, total)})``.
        """
        vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        quads, sections, section = [], [], None
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(":"):
                    section = line[1:].strip()
                    continue
                words = line.split()
                if len(words) != 4:
                    continue
                if case_insensitive:
                    words = [w.upper() for w in words]
                if all(w in vocab for w in words):
                    quads.append([vocab[w] for w in words])
                    sections.append(section)
        if not quads:
            return 0.0, {}
        q = xp.asarray(quads)
        n = self.get_normed_vectors()[:restrict_vocab]
        correct = xp.zeros(len(q), dtype=bool)
        for s in range(0, len(q), batch):
            a, b, c, d = q[s:s + batch].T
            scores = (n[b] - n[a] + n[c]) @ n.T
            rows = xp.arange(len(a))
            for col in (a, b, c):
                scores[rows, col] = -xp.inf
            correct[s:s + batch] = scores.argmax(1) == d
        correct = backend.to_numpy(correct).tolist()
        per = {}
        for name, ok in zip(sections, correct):
            c, t = per.get(name, (0, 0))
            per[name] = (c + int(ok), t + 1)
        return sum(correct) / len(correct), per

    # ------------------------------------------------------------ word2vec text format
    def save_word2vec_format(self, path):
        """``V d`` on the first line, then ``word x1 ... xd`` per line (gensim/word2vec.c text format)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{len(self)} {self.vector_size}\n")
            for w, v in zip(self.index_to_key, backend.to_numpy(self.vectors).tolist()):
                if any(ch.isspace() for ch in w):
                    raise ValueError(f"word {w!r} contains whitespace, which the word2vec text format cannot store")
                f.write(w + " " + " ".join(f"{x:.6g}" for x in v) + "\n")

    @classmethod
    def load_word2vec_format(cls, path):
        with open(path, encoding="utf-8") as f:
            header = f.readline().split()
            if len(header) != 2:
                raise ValueError(f"{path}: first line should be '<vocab size> <dimension>', got {' '.join(header)!r}")
            size, dim = int(header[0]), int(header[1])
            words, rows = [], []
            for i, line in enumerate(f):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if len(parts) != dim + 1:
                    raise ValueError(f"{path} line {i + 2}: expected a word and {dim} numbers, got {len(parts)} fields")
                words.append(parts[0])
                rows.append([float(x) for x in parts[1:]])
        if len(words) != size:
            raise ValueError(f"{path}: header says {size} words but the file has {len(words)}")
        return cls(words, xp.asarray(rows, dtype=xp.float32).reshape(len(rows), dim))
