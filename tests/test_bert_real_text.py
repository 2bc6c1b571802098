"""demos/bert_real_text.py end to end (--quick, a few minutes under load: slow-marked).

Needs the fortunes and Shakespeare data sets and the all-MiniLM-L6-v2 checkpoint; where one is
absent the test skips with the command that provides it.
"""
import json
import pathlib
import sys
from types import SimpleNamespace

import pytest

from minissl import datasets
from minissl.models.hf_bert import MINILM_INSTALL, find_minilm

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo, run_demo  # noqa: E402


def run_quick(out, *args):
    for data in ("fortunes", "shakespeare"):
        if not datasets.present(data):
            pytest.skip(f"data set not installed: python -m minissl.datasets fetch {data}")
    if find_minilm() is None:
        pytest.skip(f"all-MiniLM-L6-v2 is not installed: {MINILM_INSTALL}")
    pytest.importorskip("sklearn")
    return run_demo("bert_real_text", out, "--quick", *args)


@pytest.mark.slow
def test_quick_run_writes_every_arm_seed_and_claim(tmp_path):
    m, out = run_quick(tmp_path, "--arms", "minilm,small_mlm,small_random", "--protocols", "features,finetune")
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
    m, _ = run_quick(tmp_path, "--arms", "minilm,minilm_random", "--seeds", "3")
    claim = next(c for c in m["claims"] if c["claim"] == "MiniLM pre-trained beats its random-init control")
    assert claim["difference"]["lo"] > 0 and claim["verdict"] == "holds"


def fine_tune_grid(tmp_path, monkeypatch, S):
    """run_finetune on a 2-class toy task (30 and 12 examples) with training and scoring stubbed:
    validation accuracy prefers the smaller rate below 10 labels per class, the larger one above."""
    demo = import_demo("bert_real_text")
    calls = []

    def fake_finetune(model, task, train, enc, steps, lr, bs, seed):
        calls.append((len(train) // 2, lr, seed))
        return {"budget": len(train) // 2, "lr": lr}

    def fake_accuracy(m, examples, enc):
        if examples is not task.dev:
            return 0.7
        grid = demo.LR_GRID["minilm"]
        return 0.9 if m["lr"] == (grid[0] if m["budget"] < 10 else grid[-1]) else 0.6

    monkeypatch.setattr(demo, "finetune", fake_finetune)
    monkeypatch.setattr(demo, "accuracy", fake_accuracy)
    task = SimpleNamespace(train=[{"text": f"t{i}", "label": int(i >= 30)} for i in range(42)],
                           dev=[{"text": "d", "label": 0}], test=[{"text": "e", "label": 1}], label_names=["a", "b"])

    def make(arm, n_labels):
        return None
    make.enc = None
    def run(resume):
        log = demo.Log(str(tmp_path / "runs.jsonl"), resume=resume)
        demo.run_finetune("toy", task, ["minilm", "minilm_random"], S, SimpleNamespace(seed=0), log, make)
        return log
    return demo, run, calls


def test_each_fine_tuning_budget_chooses_its_own_rate_on_validation(tmp_path, monkeypatch):
    S = dict(seeds=2, ft_budgets=(5, 20, 1000), ft_steps=3, batch=4, select_lr=True)
    demo, run, calls = fine_tune_grid(tmp_path, monkeypatch, S)
    log = run(resume=False)
    grid = demo.LR_GRID["minilm"]
    # 20 and 1000 labels per class both stop at the smaller class's 12 examples: one cell, not two
    for arm in ("minilm", "minilm_random"):
        for budget, best in ((5, grid[0]), (12, grid[-1])):
            assert sorted(log.get("finetune", f"{arm}@lr={lr:g}", "toy", budget, -1)["val"] for lr in grid) \
                == [0.6] * (len(grid) - 1) + [0.9]
            assert [log.get("finetune", arm, "toy", budget, s)["lr"] for s in (0, 1)] == [best, best]
    assert len(calls) == 2 * 2 * (len(grid) + 2) and {c[2] for c in calls if c[0] == 12} == {0, 1, 10_000}
    n = len(calls)  # --resume: a second pass over the same runs.jsonl trains nothing
    assert run(resume=True).done == log.done and len(calls) == n


def test_resume_retrains_a_seed_whose_chosen_rate_changed(tmp_path, monkeypatch):
    S = dict(seeds=2, ft_budgets=(5,), ft_steps=3, batch=4, select_lr=True)
    demo, run, calls = fine_tune_grid(tmp_path, monkeypatch, S)
    run(resume=False)
    stale = demo.LR_GRID["minilm"][1]  # as if seed 1 had been trained when another rate won on validation
    with open(tmp_path / "runs.jsonl", "a") as f:
        f.write(json.dumps(dict(protocol="finetune", arm="minilm", task="toy", budget=5, seed=1, lr=stale,
                                test=0.1)) + "\n")
    n = len(calls)
    log = run(resume=True)
    assert calls[n:] == [(5, demo.LR_GRID["minilm"][0], 1)]
    assert log.get("finetune", "minilm", "toy", 5, 1)["lr"] == demo.LR_GRID["minilm"][0]


def test_quick_fine_tuning_skips_the_rate_choice(tmp_path, monkeypatch):
    demo, run, calls = fine_tune_grid(tmp_path, monkeypatch, dict(seeds=2, ft_budgets=(5,), ft_steps=3, batch=4,
                                                                  select_lr=False))
    log = run(resume=False)
    assert len(calls) == 4 and not [k for k in log.done if k[4] == -1]
    assert {r["lr"] for r in log.done.values()} == {demo.QUICK_LR["minilm"]}
    quick, full = demo.settings(True), demo.settings(False)
    assert quick["ft_budgets"] == (20,) and not quick["select_lr"]
    assert full["ft_budgets"] == full["budgets"] == (50, 200, 1000)
