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


S2S_SETTINGS = {"corpus": "grammar", "objectives": ["mask", "permute"], "steps": 1500, "ft_steps": 400,
                "n_labelled": 100, "d_model": 128, "dropout": 0.0, "n_docs": 8000, "n_heldout": 300, "quick": False}


def fake_seq2seq_run(folder, seeds, rng, settings=None):
    """A metrics.json as demos/seq2seq_denoise.py writes it, with random per-seed values."""
    per_seed = []
    for s in seeds:
        hits = {arm: [int(h) for h in rng.random(200) < p] for arm, p in (("pretrained", 0.6), ("scratch", 0.4))}
        per_seed.append({"seed": s, "finetune": {arm: float(np.mean(h)) for arm, h in hits.items()}, "test_hits": hits,
                         "restore_exact_match": {n: float(rng.uniform()) for n in S2S_SETTINGS["objectives"]},
                         "restore_token_accuracy": {n: float(rng.uniform()) for n in S2S_SETTINGS["objectives"]},
                         "n_heldout": 300, "n_labelled": 100, "n_test": 200, "parameters": 1000})
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(
        {"seeds": list(seeds), "per_seed": per_seed, "settings": settings or S2S_SETTINGS, "seconds": 150.0}))
    return per_seed


def merge_seq2seq(folders, out, monkeypatch):
    s2s = import_demo("seq2seq_denoise")
    monkeypatch.setattr(sys, "argv", ["seq2seq_denoise.py", "--merge", ",".join(map(str, folders)), "--out", str(out)])
    return s2s.main()


def test_seq2seq_merged_claim_equals_one_run_over_the_same_seeds(tmp_path, monkeypatch, capsys):
    s2s = import_demo("seq2seq_denoise")
    rng = np.random.default_rng(2)
    parts = [fake_seq2seq_run(tmp_path / f"s{k}", [k], rng) for k in range(3)]
    merged = merge_seq2seq([tmp_path / f"s{k}" for k in range(3)], tmp_path / "merged", monkeypatch)
    together = s2s.judge([p[0] for p in parts])
    assert merged["claims"] == together and merged["seeds"] == [0, 1, 2]
    c = merged["claims"][0]
    assert c["n"] == 3 and c["values"] == pytest.approx([p[0]["finetune"]["pretrained"] - p[0]["finetune"]["scratch"]
                                                         for p in parts])
    assert c["lo"] < c["value"] < c["hi"] and "seeds" in c["where"]
    assert merged["run_seconds"] == [150.0] * 3 and merged["settings"] == S2S_SETTINGS
    assert json.loads((tmp_path / "merged" / "metrics.json").read_text())["claims"] == together
    assert "Claims (95% t interval over 3 training seeds: 0, 1, 2)" in capsys.readouterr().out


def test_seq2seq_one_merged_seed_is_judged_over_its_test_sentences(tmp_path, monkeypatch):
    common = import_demo("common")
    (run,) = fake_seq2seq_run(tmp_path / "s5", [5], np.random.default_rng(3))
    merged = merge_seq2seq([tmp_path / "s5"], tmp_path / "merged", monkeypatch)
    paired = common.claim_paired(merged["claims"][0]["claim"], run["test_hits"]["pretrained"],
                                 run["test_hits"]["scratch"], seed=5, where=merged["claims"][0]["where"])
    assert merged["claims"] == [paired] and paired["n"] == 200 and "one seed" in paired["where"]


@pytest.mark.parametrize("problem", ["settings", "seed twice"])
def test_seq2seq_merge_refuses_runs_that_are_not_one_configuration(tmp_path, problem, monkeypatch):
    rng = np.random.default_rng(4)
    fake_seq2seq_run(tmp_path / "a", [0, 1], rng)
    fake_seq2seq_run(tmp_path / "b", [1 if problem == "seed twice" else 2], rng,
                     settings={**S2S_SETTINGS, "steps": 600} if problem == "settings" else None)
    with pytest.raises(SystemExit) as e:
        merge_seq2seq([tmp_path / "a", tmp_path / "b"], tmp_path / "out", monkeypatch)
    message = str(e.value)
    assert message.startswith("demos/seq2seq_denoise.py: ") and "\n" not in message
    assert {"settings": "another settings", "seed twice": "repeat a seed"}[problem] in message
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.slow
def test_seq2seq_seeds_in_one_process_equal_separate_processes_merged(tmp_path):
    # each seed runs the whole pipeline from its own seed: --seeds 2 is, number for number, --seed 3 and
    # --seed 4 run apart, and merging those two gives the same claim
    tiny = ["--quick", "--steps", "60", "--ft-steps", "30", "--objectives", "mask,permute", "--d-model", "32"]
    together, _ = run_demo("seq2seq_denoise", tmp_path / "both", *tiny, "--seed", "3", "--seeds", "2", timeout=600)
    for s in (3, 4):
        run_demo("seq2seq_denoise", tmp_path / f"s{s}", *tiny, "--seed", s, "--seeds", "1", timeout=600)
    merged, out = run_demo("seq2seq_denoise", tmp_path / "merged", "--merge", f"{tmp_path / 's3'},{tmp_path / 's4'}",
                           timeout=120)
    assert together["seeds"] == merged["seeds"] == [3, 4]
    assert merged["per_seed"] == together["per_seed"] and merged["claims"] == together["claims"]
    assert merged["summary"] == together["summary"] and "2 seeds from 2 runs" in out
