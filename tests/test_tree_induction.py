"""demos/tree_induction.py: its batching and baselines, and (slow) the claim its --quick run makes that holds."""
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo, run_demo  # noqa: E402
from minissl.tasks import grammar_vocab  # noqa: E402
from minissl.tasks.trees import tree_sentences  # noqa: E402

demo = import_demo("tree_induction")


def test_batches_cover_every_sentence_once_with_similar_lengths():
    data = tree_sentences(100, seed=0)
    ids = {w: i for i, w in enumerate(grammar_vocab("a"))}
    batches = demo.batches_by_length(data, ids, 16, np.random.default_rng(0))
    assert sum(len(b[1]) for b in batches) == 100
    seen = sorted(" ".join(str(i) for i in w[:n]) for words, lengths in batches for w, n in zip(words, lengths))
    want = sorted(" ".join(str(ids[x]) for x in d["words"]) for d in data)
    assert seen == want
    spread = [int(b[1].max() - b[1].min()) for b in batches]
    assert np.mean(spread) <= 2  # sorted by length: little padding


def test_upper_bound_is_one_when_gold_is_binary():
    data = [{"words": list("abcd"), "spans": [(0, 2), (2, 4), (0, 4)] + [(i, i + 1) for i in range(4)]},
            {"words": list("abcd"), "spans": [(1, 4), (0, 4)] + [(i, i + 1) for i in range(4)]}]
    # the first is binary (1.0); the second's flat (1, 4) forces one extra predicted span: P 1/2, R 1
    np.testing.assert_allclose(demo.upper_bound_f1(data), [1.0, 2 / 3])


@pytest.mark.slow
def test_quick_run_raises_held_out_likelihood(tmp_path):
    out = tmp_path / "run"
    m, _ = run_demo("tree_induction", out, "--quick", timeout=1200)
    claim = next(c for c in m["claims"] if c["claim"] == "training raises held-out log p(x) per word")
    assert claim["lo"] > 0 and claim["verdict"] == "holds"
    assert len(m["per_seed"]) == 3 and (out / "tree_example.png").exists() and (out / "f1_bars.png").exists()


def test_brackets_show_every_span_of_two_or_more_words():
    words = "the dog chased the cat".split()
    assert demo.brackets(words, [(0, 2), (2, 5), (3, 5), (0, 5), (0, 1)]) == "[[the dog] [chased [the cat]]]"
