"""--merge: seeds run as parallel processes, judged as one run (demos/common.py load_runs).

A default run of five seeds takes hours on one core; run one process per seed and merge.
The merged claims must be exactly the claims one process over the same seeds would print,
and runs of different configurations, or a seed counted twice, must be refused.
"""
import json
import sys

import numpy as np
import pytest

sys.path.insert(0, __import__("os").path.dirname(__file__))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo, run_demo  # noqa: E402


def fake_multilingual_run(folder, seeds, rng, settings=None, orders=("SVO", "SOV")):
    """A metrics.json as demos/multilingual.py writes it, with random per-seed values."""
    ml = import_demo("multilingual")
    per_seed = {o: [{k: float(rng.uniform(0.0, 1.0)) for k in ml.PER_SEED_KEYS} for _ in seeds] for o in orders}
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(
        {"seeds": list(seeds), "per_seed": per_seed, "settings": settings or {"steps": 10000},
         "world_strength": 14.0, "word_order_b": "SVO", "quick": False, "seconds": 2000.0}))
    return per_seed


def test_merged_claims_equal_one_run_over_the_same_seeds(tmp_path):
    ml = import_demo("multilingual")
    rng = np.random.default_rng(0)
    parts = [fake_multilingual_run(tmp_path / f"s{k}", [100 + k], rng) for k in range(3)]
    merged, out = run_demo("multilingual", tmp_path / "merged", "--merge",
                           ",".join(str(tmp_path / f"s{k}") for k in range(3)), timeout=120)
    together = ml.judge({o: [p[o][0] for p in parts] for o in ("SVO", "SOV")}, [100, 101, 102])
    assert merged["seeds"] == [100, 101, 102] and merged["claims"] == together["claims"]
    assert len(merged["claims"]) == 2 * len(ml.CLAIMS) and all(c["n"] == 3 for c in merged["claims"])
    assert merged["run_seconds"] == [2000.0] * 3 and merged["settings"] == {"steps": 10000}
    assert "Claims (95% t interval over fresh seeds 100, 101, 102" in out


@pytest.mark.parametrize("problem", ["settings", "seed twice", "orders"])
def test_merge_refuses_runs_that_are_not_one_configuration(tmp_path, problem, monkeypatch, capsys):
    ml = import_demo("multilingual")
    rng = np.random.default_rng(1)
    fake_multilingual_run(tmp_path / "a", [100], rng)
    fake_multilingual_run(tmp_path / "b", [100 if problem == "seed twice" else 101], rng,
                          settings={"steps": 500} if problem == "settings" else None,
                          orders=("SVO",) if problem == "orders" else ("SVO", "SOV"))
    monkeypatch.setattr(sys, "argv", ["multilingual.py", "--merge", f"{tmp_path / 'a'},{tmp_path / 'b'}",
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as e:
        ml.main()
    message = str(e.value)
    assert message.startswith("demos/multilingual.py: ") and "\n" not in message
    assert {"settings": "another settings", "seed twice": "repeat a seed", "orders": "same word orders"}[problem] \
        in message
    assert not (tmp_path / "out" / "metrics.json").exists()
