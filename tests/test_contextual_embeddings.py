"""The contextual-embeddings demo's measurement: pairs only across different templates, split by template."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo, run_demo  # noqa: E402

from minissl.tasks import sense_grid  # noqa: E402


def test_same_template_copies_earn_no_gap():
    # Each template gets its own random vector, so sentences of one template are identical:
    # counting those pairs would give a large "same-sense" gap that says nothing about senses.
    demo = import_demo("contextual_embeddings")
    data = sense_grid(3, seed=0, word="bank")
    rng = np.random.default_rng(0)
    per_template = {k: rng.normal(size=32) for k in {(d["label"], d["template"]) for d in data}}
    h = np.stack([per_template[(d["label"], d["template"])] for d in data])
    stats = demo.pair_stats(h, data)
    for split in ("held_out", "seen"):
        assert abs(stats[split]["gap"]) < 0.05 and 0.35 < stats[split]["auc"] < 0.65, stats
    # a shared sense direction does show up, in both splits
    h2 = h + 3 * np.array([[1.0 if d["label"] else -1.0] + [0.0] * 31 for d in data])
    assert all(demo.pair_stats(h2, data)[s]["gap"] > 0.3 for s in ("held_out", "seen"))


def test_real_bert_bootstrap_never_pairs_a_sentence_with_its_copy():
    demo = import_demo("real_bert")
    labels = np.array([0] * 4 + [1] * 4)
    c = np.eye(8)  # every sentence orthogonal to every other: no sense structure at all
    idx = np.array([0, 0, 0, 1, 4, 4, 5, 6])  # a resample with copies
    assert demo.resampled_gap(c, labels, idx) == 0.0  # counting copies would give a same-sense gap
    assert demo.resampled_gap(c, labels, idx, "auc") == 0.5
    with pytest.raises(ValueError, match="under 2 distinct"):
        demo.resampled_gap(c, labels, np.array([0, 0, 1, 2, 4, 4, 4, 4]))


@pytest.mark.slow
def test_minilm_separates_senses_better_than_its_random_init_on_pair_auc(tmp_path):
    """real_bert's claim that holds (seed 0): the scale-free pair AUC above the control's, on its lower bound.
    The raw cosine gap over the control is not significant with 16 sentences per word, so it is not asserted."""
    from minissl.models.hf_bert import MINILM_INSTALL, find_minilm
    if find_minilm() is None:
        pytest.skip(f"the all-MiniLM-L6-v2 checkpoint is not installed; {MINILM_INSTALL}")
    claims = run_demo("real_bert", tmp_path, timeout=600)[0]["claims"]
    auc = [c for c in claims if "AUC" in c["claim"]]
    assert len(auc) == 2 and all(c["lo"] > 0 and c["verdict"] == "holds" for c in auc), auc
