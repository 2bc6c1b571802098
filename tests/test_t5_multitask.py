"""demos/t5_multitask.py end to end (--quick, a few minutes under load: slow-marked)."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import run_demo  # noqa: E402

TASKS = ("sentiment", "nli", "negation", "qa")


@pytest.mark.slow
def test_quick_run_writes_every_arm_seed_claim_and_example(tmp_path):
    pytest.importorskip("sklearn")
    m, out = run_demo("t5_multitask", tmp_path, "--quick")
    assert m["eval_split"] == "test" and len(m["seeds"]) == 2
    for n in TASKS:
        arms = set(m["scores"][n])
        assert {"multi_pretrained", "multi_scratch", "single_pretrained"} <= arms
        for arm in m["scores"][n].values():
            assert len(arm["values"]) == 2 and arm["lo"] <= arm["mean"] <= arm["hi"]
        assert len(m["examples"][n]) == 2 and m["examples"][n][0]["input"].split()[0] in (
            "sentiment:", "nli", "negate:", "qa")
    assert {"ngram_logreg", "majority"} <= set(m["scores"]["sentiment"]) and "first_noun" in m["scores"]["qa"]
    for key in ("pretrained_beats_scratch", "multitask_beats_task_specific"):
        assert sorted(c["task"] for c in m["claims"] if c["key"] == key) == sorted(TASKS)
    assert len(m["claims"]) == 11 and all(c["n"] == 2 for c in m["claims"])  # no cheap baseline for negation
    assert sum(m["verdict_counts"].values()) == 11
    assert m["pretrain"]["sentences_removed"] > 0  # test sentences were there to remove, and were removed
    assert (tmp_path / "t5_multitask.png").exists() and "verdicts: " in out
