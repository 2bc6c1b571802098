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


@pytest.mark.slow
def test_whole_tour_in_quick_mode(tmp_path):
    proc, out = run_tour(tmp_path, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (out / "report.md").exists()
