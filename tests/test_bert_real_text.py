"""demos/bert_real_text.py end to end (--quick, a few minutes under load: slow-marked).

Needs the fortunes and Shakespeare data sets and the all-MiniLM-L6-v2 checkpoint; where one is
absent the test skips with the command that provides it.
"""
import json
import os
import subprocess
import sys

import pytest

from minissl import datasets
from minissl.models.hf_bert import MINILM_INSTALL, find_minilm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_demo(out, *args):
    for data in ("fortunes", "shakespeare"):
        if not datasets.present(data):
            pytest.skip(f"data set not installed: python -m minissl.datasets fetch {data}")
    if find_minilm() is None:
        pytest.skip(f"all-MiniLM-L6-v2 is not installed: {MINILM_INSTALL}")
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "demos", "bert_real_text.py"), "--out", str(out),
                           "--quick", *args], capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((out / "metrics.json").read_text()), proc.stdout


@pytest.mark.slow
def test_quick_run_writes_every_arm_seed_and_claim(tmp_path):
    m, out = run_demo(tmp_path, "--arms", "minilm,small_mlm,small_random", "--protocols", "features,finetune")
    cell = m["protocols"]["features"]["fortune_topic"]["50"]
    assert set(cell) == {"majority", "tfidf_word", "tfidf_char", "minilm", "small_mlm", "small_random"}
    for arm in cell.values():
        assert len(arm["values"]) == 2 and arm["lo"] <= arm["mean"] <= arm["hi"]
    assert cell["majority"]["mean"] == pytest.approx(1 / 7)  # balanced test split, 7 topics
    assert set(m["protocols"]["finetune"]["fortune_topic"]["20"]) >= {"minilm", "small_mlm", "small_random"}
    verdicts = {(c["claim"], c["protocol"]): c["verdict"] for c in m["claims"]}
    assert ("small BERT (MLM) beats its random-init control", "features") in verdicts
    assert all(v in ("holds", "does not hold", "not significant") for v in verdicts.values())
    assert m["headline"]["labels_per_class"] == 50 and (tmp_path / "learning_curves.png").exists()
    assert "Claims (paired over seeds" in out


@pytest.mark.slow
def test_real_pretraining_beats_its_random_init_on_fortune_topics(tmp_path):
    """The claim the demo makes with the widest margin, on its lower interval bound: frozen
    all-MiniLM-L6-v2 features beat the same network randomly initialised (3 seeds, 50 labels per topic)."""
    m, _ = run_demo(tmp_path, "--arms", "minilm,minilm_random", "--seeds", "3")
    claim = next(c for c in m["claims"] if c["claim"] == "MiniLM pre-trained beats its random-init control")
    assert claim["difference"]["lo"] > 0 and claim["verdict"] == "holds"
