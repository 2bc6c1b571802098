"""Trivial baselines that pre-training has to beat.

majority class: always predict the most frequent training label.
bag of words:   a linear probe (:func:`minissl.probe.linear_probe`: logistic
                regression, L2 strength chosen on a validation split) on word
                counts. Counts ignore order, so it cannot tell "not good" from
                "good , not ..." or find a motif.
n-gram logreg:  what a practitioner would try first (:func:`ngram_logreg`):
                scikit-learn 1-3-gram counts (words; characters of the DNA
                sequence) and logistic regression, C chosen on validation.
                Word n-grams see "not good" and the motif GATC directly.
QA rule:        :func:`qa_rule`, a few lines that read the question's role
                (who / what / where) off the story's one matching sentence.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..probe import linear_probe


def _bags(texts, vocab=None):
    toks = [t.split() for t in texts]
    if vocab is None:
        vocab = {w: i for i, w in enumerate(sorted({w for ts in toks for w in ts}))}
    X = np.zeros((len(toks), len(vocab)), dtype=np.float32)
    for i, ts in enumerate(toks):
        for w in ts:
            j = vocab.get(w)
            if j is not None:
                X[i, j] += 1.0
    return X, vocab


def bow_logreg_accuracy(train_texts, train_y, test_texts, test_y, val_texts=None, val_y=None,
                        val_fraction: float = 0.2) -> float:
    """Bag-of-words linear probe: L2 chosen on the validation texts (default: the last
    ``val_fraction`` of the training texts, held out from that choice), then refitted on train
    and validation together; accuracy on test.
    Texts are whitespace-tokenised; the vocabulary is the training texts' words."""
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    Xtr, vocab = _bags(train_texts)
    if val_texts is None:
        cut = len(train_texts) - max(1, int(len(train_texts) * val_fraction))
        if cut < 1:
            raise ValueError(f"bow_logreg_accuracy: {len(train_texts)} training texts leave none to fit on after "
                             "holding out a validation split; give more, or val_texts and val_y")
        (Xtr, Xva), (train_y, val_y) = (Xtr[:cut], Xtr[cut:]), (train_y[:cut], train_y[cut:])
    else:
        Xva, val_y = _bags(val_texts, vocab)[0], np.asarray(val_y)
    test = (_bags(test_texts, vocab)[0], test_y)
    return linear_probe((Xtr, train_y), (Xva, val_y), test, refit=True).test_accuracy


def majority_accuracy(train_y, test_y) -> float:
    top = Counter(list(train_y)).most_common(1)[0][0]
    return float(np.mean(np.asarray(test_y) == top))


def bag_texts(task_name, examples):
    """The text a bag-of-words (or n-gram) baseline reads for each example of a classification task."""
    if task_name == "nli":
        # Two bags side by side: premise words and hypothesis words are different features.
        return [ex["premise"] + " " + " ".join("H_" + w for w in ex["hypothesis"].split())
                for ex in examples]
    if task_name == "dna":
        return [" ".join(ex["sequence"]) for ex in examples]
    return [ex["text"] for ex in examples]


def baseline_scores(task) -> dict:
    """Test-set scores of the trivial baselines for a Task from ``load_task``."""
    name = task.name
    if name in ("sentiment", "nli", "dna"):
        ytr = [ex["label"] for ex in task.train]
        yte = [ex["label"] for ex in task.test]
        val = {"val_texts": bag_texts(name, task.dev), "val_y": [ex["label"] for ex in task.dev]} if task.dev else {}
        return {"majority": majority_accuracy(ytr, yte),
                "bow_logreg": bow_logreg_accuracy(bag_texts(name, task.train), ytr, bag_texts(name, task.test), yte,
                                                  **val)}
    if name == "pos":
        tags = Counter(t for ex in task.train for t in ex["tags"])
        top = tags.most_common(1)[0][0]
        per_word = {}
        for ex in task.train:
            for w, t in zip(ex["tokens"], ex["tags"]):
                per_word.setdefault(w, Counter())[t] += 1
        gold = [(w, t) for ex in task.test for w, t in zip(ex["tokens"], ex["tags"])]
        return {"majority": float(np.mean([t == top for _, t in gold])),
                "per_word_majority": float(np.mean([
                    (per_word[w].most_common(1)[0][0] if w in per_word else top) == t
                    for w, t in gold]))}
    if name == "qa":
        from .lexicon import AGENTS, NOUNS
        nouns = set(AGENTS) | {n for ns in NOUNS.values() for n in ns}
        hits = []
        for ex in task.test:
            first = next((w for w in ex["context"].split() if w in nouns), "")
            hits.append(first == ex["answer_text"])
        return {"first_noun_em": float(np.mean(hits))}
    raise ValueError(f"no baseline defined for task {name!r}")


def qa_rule(question: str, context: str) -> str:
    """Answer a generated QA question by rule: find the story's sentence that names the noun the
    question names (the object for "who ...", the subject otherwise), list that sentence's nouns
    in order (subject, object, place) and return the one the question word asks for."""
    from .lexicon import HYPERNYM
    q = question.split()
    key = q[3]  # "who V the OBJ ?", "what did the SUBJ V ?", "where did the SUBJ V the OBJ ?"
    for sentence in context.split(" . "):
        nouns = [w for w in sentence.split() if w in HYPERNYM]
        if key in nouns:
            return nouns[{"who": 0, "what": 1, "where": -1}[q[0]]]
    return ""


def ngram_logreg(train, val, test, analyzer: str = "word", ngram_range=(1, 3), seed: int = 0) -> dict:
    """scikit-learn n-gram counts + logistic regression, C chosen on ``val`` (test scored once).

    train/val/test: ``(texts, labels)``. A text may be a pair ``(a, b)``: its two parts get
    separate n-gram columns (side by side), as an NLI practitioner would feed premise and
    hypothesis. ``analyzer``: "word" or "char" (n-grams of letters, e.g. a DNA sequence).
    Returns ``{"accuracy", "val_accuracy", "C"}`` (:func:`logreg_select_c`)."""
    from sklearn.feature_extraction.text import CountVectorizer
    if analyzer not in ("word", "char"):
        raise ValueError(f"analyzer must be 'word' or 'char', got {analyzer!r}")
    pair = isinstance(train[0][0], (tuple, list))
    parts = 2 if pair else 1
    words = {"token_pattern": r"\S+"} if analyzer == "word" else {}  # every word counts, "a" and "?" too
    vecs = [CountVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), lowercase=False, **words)
            for _ in range(parts)]

    def features(texts, fit=False):
        import scipy.sparse as sp
        cols = [[t[k] for t in texts] if pair else list(texts) for k in range(parts)]
        return sp.hstack([v.fit_transform(c) if fit else v.transform(c) for v, c in zip(vecs, cols)]).tocsr()

    # a few hundred labelled texts give a few thousand columns: dense arrays and L-BFGS converge where
    # SAGA on raw counts does not; the counts keep their scale (standardising rare n-grams inflates them)
    Xtr = features(train[0], fit=True).toarray()
    Xva, Xte = features(val[0]).toarray(), features(test[0]).toarray()
    return logreg_select_c(Xtr, np.asarray(train[1]), Xva, np.asarray(val[1]), Xte, np.asarray(test[1]), seed,
                           grid=NGRAM_C_GRID, standardize=False)


def _tfidf_features(vec, examples, fit=False):
    """One row per example. A pair (A, B) is described by what the two share: the element-wise
    product of their TF-IDF vectors (a linear model on [A; B] side by side cannot see whether
    they agree) and their cosine, one more column."""
    a = [e["text"] for e in examples]
    Xa = vec.fit_transform(a) if fit else vec.transform(a)
    if "text_pair" not in examples[0]:
        return Xa
    if fit:  # fit on both sides' texts; the transform above used only A's vocabulary
        vec.fit(a + [e["text_pair"] for e in examples])
        Xa = vec.transform(a)
    import scipy.sparse as sp
    Xb = vec.transform([e["text_pair"] for e in examples])
    prod = Xa.multiply(Xb).tocsr()
    return sp.hstack([prod, sp.csr_matrix(np.asarray(prod.sum(1)))]).tocsr()  # rows are unit: sum = cosine


TFIDF = {"tfidf_word": dict(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
         "tfidf_char": dict(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)}
C_GRID = (1.0, 10.0, 100.0)  # sparse TF-IDF rows are unit vectors: weak regularisation fits them
NGRAM_C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)  # raw counts: the right strength is not known in advance


def tfidf_logreg(train, val, test, kind: str = "tfidf_word", seed: int = 0) -> dict:
    """scikit-learn TF-IDF n-grams (``TFIDF[kind]``: word 1-2-grams or character 2-5-grams) +
    logistic regression, the inverse regularisation C chosen on ``val`` from ``C_GRID``; test
    scored once with that C. Examples are dicts ``{"text"[, "text_pair"], "label"}``. Returns
    ``{"accuracy", "val_accuracy", "C"}``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    if kind not in TFIDF:
        raise ValueError(f"kind must be one of {sorted(TFIDF)}, got {kind!r}")
    params = dict(TFIDF[kind])
    if len(train) < 50 and params["min_df"] > 1:
        params["min_df"] = 1
    vec = TfidfVectorizer(**params)
    Xtr = _tfidf_features(vec, train, fit=True)
    Xva, Xte = _tfidf_features(vec, val), _tfidf_features(vec, test)
    ytr, yva, yte = (np.array([e["label"] for e in s]) for s in (train, val, test))
    return logreg_select_c(Xtr, ytr, Xva, yva, Xte, yte, seed)


def logreg_select_c(Xtr, ytr, Xva, yva, Xte, yte, seed: int = 0, grid=C_GRID, standardize: bool = True) -> dict:
    """Logistic regression for each C in ``grid`` on (Xtr, ytr); the C with the best accuracy on
    (Xva, yva) is the one whose test accuracy is reported (the test split is scored once).
    Dense features are standardised with the training split's mean and deviation first (unless
    ``standardize=False``: counts keep their scale); sparse ones are fitted with SAGA (several
    times faster than L-BFGS on 50,000 n-gram columns)."""
    from sklearn.linear_model import LogisticRegression
    dense = isinstance(Xtr, np.ndarray)
    if dense and standardize:
        mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
        Xtr, Xva, Xte = (Xtr - mu) / sd, (Xva - mu) / sd, (Xte - mu) / sd
    best = None
    for C in grid:
        clf = LogisticRegression(C=C, max_iter=1000 if dense else 300, tol=1e-4 if dense else 1e-3,
                                 solver="lbfgs" if dense else "saga", random_state=seed).fit(Xtr, ytr)
        acc = float((clf.predict(Xva) == yva).mean())
        if best is None or acc > best[0]:
            best = (acc, C, clf)
    return {"accuracy": float((best[2].predict(Xte) == yte).mean()), "val_accuracy": best[0], "C": best[1]}
