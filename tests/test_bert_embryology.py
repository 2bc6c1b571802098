"""demos/bert_embryology.py: the "what is learned when" summary on curves whose answer is known,
and (slow) the quick run end to end with its claims on their lower interval bounds."""
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo, run_demo  # noqa: E402

STEPS = [0, 1, 10, 100, 1000]


def runs(rng, n=5):
    """Per seed: 'early' reaches its plateau by step 10, 'late' only at 1000, 'flat' never moves."""
    out = []
    for _ in range(n):
        e = 0.5 + 0.4 * np.array([0, 0.3, 0.97, 1.0, 1.0]) + rng.normal(0, 0.005, 5)
        late = 0.3 + 0.5 * np.array([0, 0.0, 0.05, 0.5, 1.0]) + rng.normal(0, 0.005, 5)
        flat = 0.5 + rng.normal(0, 0.01, 5)
        out.append({"step": STEPS, "early": list(e), "late": list(late), "flat": list(flat),
                    "pretrain_loss_last50": 1.0})
    return out


def test_summary_orders_an_early_and_a_late_probe_and_leaves_a_flat_one_untimed():
    demo = import_demo("bert_embryology")
    world = {"pretrain_texts": 10, "baselines": {}}
    res = demo.summarise("toy", world, runs(np.random.default_rng(0)), range(5), STEPS)
    assert res["probes"]["early"]["gain_over_step0"]["verdict"] == "holds"
    assert res["probes"]["flat"]["log10_s90"] is None and "flat" in res["untimed"]
    assert 10 ** res["probes"]["early"]["log10_s90"]["mean"] < 10 < 10 ** res["probes"]["late"]["log10_s90"]["mean"]
    (order,) = res["orderings"]
    assert order["claim"].startswith("early is learned before late") and order["verdict"] == "holds"
    assert abs(res["probes"]["early"]["last_interval_share"]) < 0.05  # on its plateau
    assert res["probes"]["late"]["last_interval_share"] == pytest.approx(0.5, abs=0.05)  # half its gain at the end
    assert len(res["probes"]["late"]["per_seed"]) == 5 and len(res["probes"]["late"]["by_step"]) == len(STEPS)


def test_two_identical_probes_are_not_ordered():
    demo = import_demo("bert_embryology")
    r, noise = runs(np.random.default_rng(1)), np.random.default_rng(7)
    for x in r:  # the same curve, with measurement noise of its own per seed
        x["twin"] = list(np.array(x["late"]) + noise.normal(0, 0.005, 5))
        del x["early"], x["flat"]
    res = demo.summarise("toy", {"pretrain_texts": 1, "baselines": {}}, r, range(5), STEPS)
    assert [o["verdict"] for o in res["orderings"]] == ["not significant"]


@pytest.mark.slow
def test_quick_run_learns_pos_and_mlm_over_the_random_init(tmp_path):
    """The claims the quick run supports, on their lower bounds: MLM accuracy on held-out blanks and the
    POS probe both end above the step-0 (random init) control, over 3 seeds."""
    m, out = run_demo("bert_embryology", tmp_path, "--quick", timeout=1800)
    probes = m["results"]["generated"]["probes"]
    assert set(probes) == {"pos", "pos_ambiguous", "sentiment", "nli", "mlm"}
    for name in ("mlm", "pos"):
        assert probes[name]["gain_over_step0"]["lo"] > 0, probes[name]["gain_over_step0"]
    assert len(probes["pos"]["per_seed"]) == 3 and m["results"]["generated"]["steps"][0] == 0
    assert (tmp_path / "embryology.png").exists() and "test accuracy of frozen linear probes" in out


def test_generated_pretraining_text_holds_no_probe_input_and_no_mlm_blank():
    demo = import_demo("bert_embryology")
    w = demo.generated_world(demo.settings(True), seed=0)
    seen = {tuple(ids) for ids, _, _ in w["examples"]}
    assert not any(tuple(ids) in seen for ids, _, _ in w["blanks"])
    for name, splits in w["data"].items():
        for split in ("dev", "test"):
            d = splits[split]
            rows = {tuple(int(i) for i, m in zip(ids, am) if m) for ids, am in zip(d["input_ids"], d["attention_mask"])}
            assert not rows & seen, (name, split)
    assert len(w["blanks"]) == demo.settings(True)["mlm_eval"]
